"""The scenarios measured apart from the driving comparison: history size and replay, chart cost.

Usage::

    scenarios["history"] = await history_scenario(config, cellpath_runs, bare_runs)
    scenarios["chart"] = chart_scenario(config)
"""

from __future__ import annotations

import asyncio
import dataclasses
import time
from typing import Any

from temporalio.client import WorkflowHistory
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.converter import DataConverter
from temporalio.worker import Replayer
from temporalio.worker.workflow_sandbox import SandboxedWorkflowRunner, SandboxRestrictions

from bench.bare import BareWorkflow
from bench.chart import chart_cost
from bench.comparison import ratio
from bench.config import CHART_US_MAX, EVENTS_PER_RUN_MAX, HISTORY_BYTES_RATIO_MAX, Config
from bench.history_bytes import history_bytes
from bench.pathways import bench_protocol, history_counts
from bench.store_writes import keep_records_writes, store_write_time
from models.carried import protocol_body
from models.protocol import Protocol
from models.protocol_claim_check import ProtocolClaimCheck, ShelfOf
from worker import PASSTHROUGH
from workflows.pathway import PathwayWorkflow


def readers_converter(protocol: Protocol) -> DataConverter:
    """The pydantic converter, resolving the protocol claim checks of the bench's histories
    (its worker's store is gone by then: the bench knows its one protocol)."""
    codec = ProtocolClaimCheck(ShelfOf([protocol_body(protocol)]))
    return dataclasses.replace(pydantic_data_converter, payload_codec=codec)


def _replayer(workflow: type, converter: DataConverter) -> Replayer:
    return Replayer(
        workflows=[workflow],
        data_converter=converter,
        workflow_runner=SandboxedWorkflowRunner(
            restrictions=SandboxRestrictions.default.with_passthrough_modules(*PASSTHROUGH)
        ),
    )


async def replay_ms(
    workflow: type,
    history: WorkflowHistory,
    times: int,
    converter: DataConverter = pydantic_data_converter,
) -> float:
    replayer = _replayer(workflow, converter)
    await replayer.replay_workflow(history)  # warm: sandbox and imports
    spent = []
    for _ in range(max(times, 1)):
        started = time.perf_counter()
        await replayer.replay_workflow(history)
        spent.append(time.perf_counter() - started)
    spent.sort()
    return round(spent[len(spent) // 2] * 1000, 2)


async def history_scenario(
    config: Config, cellpath: list[WorkflowHistory], bare: list[WorkflowHistory]
) -> dict[str, Any]:
    counts = {"cellpath": history_counts(cellpath), "bare": history_counts(bare)}
    largest = {
        "cellpath": max(cellpath, key=lambda h: len(h.events)),
        "bare": max(bare, key=lambda h: len(h.events)),
    }
    readers = readers_converter(bench_protocol(config.seconds_per_day))
    replay = {
        "cellpath": await replay_ms(PathwayWorkflow, largest["cellpath"], config.replays, readers),
        "bare": await replay_ms(BareWorkflow, largest["bare"], config.replays),
    }
    c, b = counts["cellpath"], counts["bare"]
    bytes_ratio = ratio(c["bytes_total"], b["bytes_total"])
    return {
        "cellpath": c,
        "bare": b,
        # where the bytes go, by event type and by payload (bench/history_bytes.py)
        "breakdown": {"cellpath": history_bytes(cellpath), "bare": history_bytes(bare)},
        "replay_largest_run_ms": replay,
        # the store's time for the pathway's keep_records writes (bench/store_writes.py)
        "store": await asyncio.to_thread(
            store_write_time, await keep_records_writes(cellpath, readers)
        ),
        "ratio": {
            "events_max": ratio(c["events_max"], b["events_max"]),
            "replay": ratio(replay["cellpath"], replay["bare"]),
            "bytes_total": bytes_ratio,
            "events_total": ratio(c["events_total"], b["events_total"]),
            "billable_actions": ratio(c["billable_actions"], b["billable_actions"]),
        },
        "bytes_target": f"history bytes per pathway <= {HISTORY_BYTES_RATIO_MAX}x bare",
        "bytes_met": bytes_ratio <= HISTORY_BYTES_RATIO_MAX,
        "parity": {
            name: [counts["cellpath"][name], counts["bare"][name]]
            for name in ("runs", "updates", "timers")
        },
        "target": f"events per run < {EVENTS_PER_RUN_MAX}",
        "met": counts["cellpath"]["events_max"] < EVENTS_PER_RUN_MAX,
    }


def chart_scenario(config: Config) -> dict[str, Any]:
    cost = chart_cost(
        rounds=config.chart_rounds, pathways=config.chart_pathways, rebuilds=config.chart_rebuilds
    )
    base = cost["baseline"]
    cost["ratio"] = {
        "transition": ratio(cost["transition_us"], base["transition_us"]),
        "rebuild": ratio(cost["rebuild_us"], base["rebuild_us"]),
    }
    cost["target"] = f"< {CHART_US_MAX} us per transition and per rebuild"
    cost["met"] = cost["transition_us"] < CHART_US_MAX and cost["rebuild_us"] < CHART_US_MAX
    return cost
