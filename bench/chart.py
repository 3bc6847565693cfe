"""Chart cost without Temporal: microseconds per transition and per rebuild from a record.

Usage::

    result = chart_cost(rounds=5, pathways=50, rebuilds=20)

A transition is ``chart.apply`` (the guards, the transition, the record written back), on a
live chart, along the full CAR-T pathway. A rebuild is ``CarTChart(record, protocol)`` from
each record that pathway passes through, as a new workflow run does. The baseline is the
library's floor, ``BaselineChart`` (three states, two events, no callbacks), timed the same
way in the same process. Each figure is the median over ``rounds``.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from statemachine import State, StateChart

from bench.pathways import cart_steps
from models.actions import StaffAction, parse_action
from models.preparation import PreparationRecord
from models.protocol import Protocol, Therapy, load_default_protocol
from models.record import PathwayRecord
from models.referral import Binome
from states.cart import CarTChart

T0 = datetime(2025, 3, 3, 9, 0, tzinfo=UTC)


class BaselineChart(StateChart):  # type: ignore[misc]
    """The library's floor: three states, two events, no callbacks."""

    idle = State(initial=True)
    busy = State()
    done = State(final=True)

    start = idle.to(busy)
    finish = busy.to(done)


class _Model:
    def __init__(self, state: str | None = None):
        self.state = state


def new_record(protocol: Protocol) -> PathwayRecord:
    return PathwayRecord(
        pathway_id="pathway-bench-BEN-000001",
        pseudonym="BEN-000001",
        centre="bench",
        therapy=Therapy.CAR_T,
        disease="systemic lupus erythematosus",
        protocol_id=protocol.id,
        binome=Binome(ard_specialist="dr.martin", cell_therapy_specialist="dr.roux"),
        referred_at=T0,
        # as a pathway started today: it tracks its preparation tasks
        preparation=PreparationRecord(),
    )


def pathway_events(
    protocol: Protocol,
) -> tuple[list[tuple[str, StaffAction, datetime]], list[PathwayRecord]]:
    """The full pathway's events (payloads parsed), and a copy of the record after each."""
    record = new_record(protocol)
    chart = CarTChart(record, protocol)
    now = T0
    events, records = [], [record.model_copy(deep=True)]
    for step in cart_steps(protocol):
        now += step.wait(protocol)
        action = parse_action(step.event, step.payload(now, protocol, "COI-BEN-000001"))
        chart.apply(step.event, action, now)
        events.append((step.event, action, now))
        records.append(record.model_copy(deep=True))
        now += timedelta(minutes=1)
    assert chart.finished, chart.state_ids
    return events, records


def _median_us(rounds: int, one_round: Callable[[], tuple[float, int]]) -> float:
    per_round = []
    for _ in range(rounds):
        seconds, count = one_round()
        per_round.append(seconds / count * 1e6)
    return round(statistics.median(per_round), 1)


def chart_cost(*, rounds: int = 5, pathways: int = 50, rebuilds: int = 20) -> dict[str, Any]:
    protocol = load_default_protocol(Therapy.CAR_T)
    events, records = pathway_events(protocol)
    clock = time.perf_counter

    def transitions() -> tuple[float, int]:
        total = 0.0
        for _ in range(pathways):
            chart = CarTChart(new_record(protocol), protocol)
            for event, action, now in events:
                started = clock()
                chart.apply(event, action, now)
                total += clock() - started
        return total, pathways * len(events)

    def checks() -> tuple[float, int]:
        # The validator's dry run, from the state each event is sent in.
        total = 0.0
        charts = [CarTChart(r.model_copy(deep=True), protocol) for r in records[:-1]]
        for _ in range(pathways):
            for chart, (event, action, now) in zip(charts, events, strict=True):
                started = clock()
                chart.check(event, action, now)
                total += clock() - started
        return total, pathways * len(events)

    def rebuild() -> tuple[float, int]:
        started = clock()
        for _ in range(rebuilds):
            for record in records:
                CarTChart(record, protocol)
        return clock() - started, rebuilds * len(records)

    def baseline_transitions() -> tuple[float, int]:
        total = 0.0
        for _ in range(pathways * len(events) // 2):
            chart = BaselineChart()
            started = clock()
            chart.send("start")
            chart.send("finish")
            total += clock() - started
        return total, 2 * (pathways * len(events) // 2)

    def baseline_rebuild() -> tuple[float, int]:
        count = rebuilds * len(records)
        model = _Model("busy")
        started = clock()
        for _ in range(count):
            BaselineChart(model=model)
        return clock() - started, count

    # One untimed pass of each, so that imports and caches are warm.
    for warm in (transitions, checks, rebuild, baseline_transitions, baseline_rebuild):
        warm()
    states = sum(1 for _ in CarTChart(new_record(protocol), protocol).states_map)
    return {
        "chart": "CarTChart",
        "states": states,
        "events": len(events),
        "rebuild_records": len(records),
        "transition_us": _median_us(rounds, transitions),
        "check_us": _median_us(rounds, checks),
        "rebuild_us": _median_us(rounds, rebuild),
        "baseline": {
            "chart": "BaselineChart (3 states, 2 events, no callbacks)",
            "transition_us": _median_us(rounds, baseline_transitions),
            "rebuild_us": _median_us(rounds, baseline_rebuild),
        },
    }
