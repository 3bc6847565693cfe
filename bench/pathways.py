"""The full CAR-T pathway the bench plays, its compressed protocol, and the two drivers.

Usage::

    steps = cart_steps(protocol)                       # 39 staff actions, referral to Y15
    wid, run_id = await drive_cellpath(client, tq, protocol, steps, "BEN-000001", "bench",
                                       tally, signing)
    wid, run_id = await drive_bare(client, tq, plan, steps, protocol, "bare-000001", tally,
                                   signing)

Both drivers send the same updates with the same payloads, one after the other as a person
at a screen would, and time each one at the client. Every payload is signed (and a
two-person action co-signed) before its timer starts (``bench/signing.py``), under the Update
ID it is sent with: the bare twin carries the same signed payloads, undecoded. ``drive_cellpath`` goes through
``client.pathways`` (as the CLI does); ``drive_bare`` calls ``execute_update`` directly.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from temporalio.api.enums.v1 import EventType
from temporalio.client import Client, WorkflowHistory

from bench.bare import BareWorkflow
from bench.signing import BenchSigning
from client import pathways as operations
from devtools.demo import PEOPLE
from devtools.demo_answers import AE_FACTS, CONSENTED, FIT, SIGNED, resolve
from devtools.demo_eligibility import eligibility_for, no_exclusions
from models.durations import YEAR
from models.protocol import Protocol, Therapy, load_default_protocol
from models.referral import Binome, Referral

# The demo programme's synthetic staff (devtools/demo.py), by the role they act in.
ARD, CTS, NURSE = PEOPLE["ard"], PEOPLE["cts"], PEOPLE["nurse"]
APH, TECH, PHARMA = PEOPLE["aph"], PEOPLE["tech"], PEOPLE["pharma"]

# Payload fields from (now, protocol, chain-of-identity ID).
Data = Callable[[datetime, Protocol, str], dict[str, Any]]


def protocol_days(protocol: Protocol, days: float) -> timedelta:
    return timedelta(seconds=days * 86400 * protocol.time_scale)


def _none(now: datetime, protocol: Protocol, coi: str) -> dict[str, Any]:
    return {}


def _no_wait(protocol: Protocol) -> timedelta:
    return timedelta(0)


@dataclass(frozen=True)
class Step:
    event: str
    who: dict[str, str]
    data: Data = _none
    # Time that must pass before the step (a clinical window), on the protocol's clock.
    wait: Callable[[Protocol], timedelta] = _no_wait

    def payload(self, now: datetime, protocol: Protocol, coi: str) -> dict[str, Any]:
        return {**self.who, **self.data(now, protocol, coi)}


def _visit(label: str) -> Data:
    return lambda now, p, coi: {"visit": label}


def _task(key: str, fields: list[str], accept: dict[str, list[str]]) -> Data:
    """A preparation task recorded with details that complete it."""
    details = {f: (accept.get(f) or [f"{f}-1"])[0] for f in fields}
    return lambda now, p, coi: {"task": key, "details": details}


def cart_steps(protocol: Protocol) -> list[Step]:
    """Referral to completed follow-up, as ``tests/histories/regenerate.py`` plays it."""

    def with_bag(**extra: Any) -> Data:
        return lambda now, p, coi: {"bag_coi_id": coi, **extra}

    steps = [
        Step(
            "record_work_up",
            ARD,
            lambda now, p, coi: {
                "completed_at": (now - protocol_days(p, 10)).isoformat(),
                "lvef_percent": 60,
                "egfr": 90,
                "exclusions": no_exclusions(p),
            },
        ),
        Step("approve_at_mdtm", ARD, lambda now, p, coi: resolve(SIGNED, p)),
        Step("record_consent", ARD, lambda now, p, coi: dict(CONSENTED)),
        *[
            Step("record_task", ARD, _task(task.key, task.fields, task.accept))
            for task in protocol.preparation
            if task.met_by is None
        ],
        Step("record_washout", CTS, lambda now, p, coi: {"stopped": [], "treatments": ["none"]}),
        Step("book_apheresis", CTS, lambda now, p, coi: {"slot_at": now.isoformat()}),
        Step("record_apheresis", APH, lambda now, p, coi: {"coi_id": coi}),
        Step("ship_to_manufacturer", TECH),
        Step("release_product", PHARMA, lambda now, p, coi: {"lot": f"LOT-{coi}"}),
        Step("ship_to_centre", PHARMA),
        Step("receive_product", TECH, with_bag(temperature_log_ok=True)),
        Step(
            "clear_for_treatment",
            CTS,
            lambda now, p, coi: {**FIT, "tocilizumab_doses_on_site": 2},
        ),
        Step("start_lymphodepletion", NURSE),
        Step("complete_lymphodepletion", NURSE),
        Step(
            "thaw_product",
            TECH,
            with_bag(),
            wait=lambda p: p.windows.infusion_after_lymphodepletion_min + timedelta(seconds=1),
        ),
        Step("infuse", NURSE, with_bag(checked_by=["n.bernard", "dr.roux"])),
        Step(
            "record_adverse_event",
            NURSE,
            lambda now, p, coi: resolve({"kind": "CRS", "grade": 2, **AE_FACTS}, p),
        ),
        Step(
            "discharge",
            CTS,
            wait=lambda p: p.windows.monitoring_before_discharge or timedelta(0),
        ),
    ]
    for visit in protocol.visits:
        if visit.label == "Y2":
            steps.append(Step("start_long_term_follow_up", ARD))
        steps.append(Step("record_visit", NURSE, _visit(visit.label)))
    steps.append(Step("complete_follow_up", ARD))
    return steps


def bench_protocol(seconds_per_day: float) -> Protocol:
    """The CAR-T protocol compressed so that one day lasts ``seconds_per_day`` seconds.

    The 2-day wait between lymphodepletion and infusion and the monitoring before discharge
    are dropped: a client would sleep through them, and time spent asleep would hide what
    cellpath costs. Hour-long windows
    (thaw to infusion) last a minute, so that no deadline falls due under load.
    """
    real = load_default_protocol(Therapy.CAR_T)
    compressed = real.compressed(seconds_per_day=seconds_per_day, floor=timedelta(seconds=60))
    windows = compressed.windows.model_copy(
        update={
            "infusion_after_lymphodepletion_min": timedelta(0),
            "monitoring_before_discharge": None,
        }
    )
    return compressed.model_copy(update={"windows": windows})


def referral(pseudonym: str, centre: str) -> Referral:
    return Referral(
        pseudonym=pseudonym,
        centre=centre,
        therapy=Therapy.CAR_T,
        disease="systemic lupus erythematosus",
        icd10="M32.1",
        age_band="30-39",
        binome=Binome(ard_specialist="dr.martin", cell_therapy_specialist="dr.roux"),
        referred_by="dr.martin",
        **eligibility_for("systemic lupus erythematosus"),
    )


@dataclass
class Tally:
    """Client-side latencies (seconds) of every update sent, and pathways completed."""

    latencies: list[float] = field(default_factory=list)
    pathways: int = 0


async def _play(
    steps: list[Step],
    protocol: Protocol,
    coi: str,
    workflow_id: str,
    signing: BenchSigning,
    send: Callable[[str, dict[str, Any], str], Awaitable[Any]],
    tally: Tally,
) -> None:
    for step in steps:
        wait = step.wait(protocol)
        if wait > timedelta(0):
            await asyncio.sleep(wait.total_seconds())
        data = step.payload(datetime.now(UTC), protocol, coi)
        update_id, data = signing.sign(workflow_id, step.event, data)
        started = time.perf_counter()
        await send(step.event, data, update_id)
        tally.latencies.append(time.perf_counter() - started)


async def drive_cellpath(
    client: Client,
    task_queue: str,
    protocol: Protocol,
    steps: list[Step],
    pseudonym: str,
    centre: str,
    tally: Tally,
    signing: BenchSigning,
    *,
    runs_apart: bool = False,
) -> tuple[str, str]:
    """One pathway from referral to its end; returns (workflow ID, first run ID).
    ``runs_apart``: after each follow-up year's visit, wait for the run it ends to continue
    as new, as a year in real time would (16 runs; on the compressed clock the next actions
    would otherwise land in the run still writing its records, and runs merge; since
    lean2 the action that ends a run is answered as the run continues, and they do not)."""
    handle = await operations.refer(
        client,
        referral(pseudonym, centre),
        task_queue=task_queue,
        protocol=protocol,
        # No centre workflows in the bench: the pathway alone is measured.
        check_centre=False,
    )

    yearly = {v.label for v in protocol.visits if v.at >= YEAR * protocol.time_scale}
    latest = client.get_workflow_handle(handle.id)

    async def send(event: str, data: dict[str, Any], update_id: str) -> Any:
        run = (await latest.describe()).run_id if runs_apart else None
        # Signed already: the client layer sends it under its Update ID, as the CLI does.
        receipt = await operations.act(client, handle.id, event, data, update_id=update_id)
        if run is not None and event == "record_visit" and data.get("visit") in yearly:
            for _ in range(600):
                if (await latest.describe()).run_id != run:
                    break
                await asyncio.sleep(0.05)
        return receipt

    await _play(steps, protocol, f"COI-{pseudonym}", handle.id, signing, send, tally)
    await handle.result()
    tally.pathways += 1
    assert handle.first_execution_run_id is not None
    return handle.id, handle.first_execution_run_id


async def drive_bare(
    client: Client,
    task_queue: str,
    plan: list[list[bool]],
    steps: list[Step],
    protocol: Protocol,
    workflow_id: str,
    tally: Tally,
    signing: BenchSigning,
) -> tuple[str, str]:
    """The bare twin of ``drive_cellpath``: same updates, same (signed) payloads."""
    handle = await client.start_workflow(
        BareWorkflow.run, args=[plan], id=workflow_id, task_queue=task_queue
    )
    # No run ID: an update follows the workflow across continue-as-new, as the CLI's does.
    latest = client.get_workflow_handle(workflow_id)

    async def send(event: str, data: dict[str, Any], update_id: str) -> Any:
        return await latest.execute_update(event, data, id=update_id)

    await _play(steps, protocol, f"COI-{workflow_id[-6:]}", workflow_id, signing, send, tally)
    await handle.result()
    tally.pathways += 1
    assert handle.first_execution_run_id is not None
    return workflow_id, handle.first_execution_run_id


# ----- histories -------------------------------------------------------------------------
async def run_histories(
    client: Client, workflow_id: str, first_run_id: str
) -> list[WorkflowHistory]:
    """Every run of a workflow, first to last, following continue-as-new."""
    histories = []
    run_id: str | None = first_run_id
    while run_id:
        history = await client.get_workflow_handle(workflow_id, run_id=run_id).fetch_history()
        histories.append(history)
        last = history.events[-1]
        attrs = last.workflow_execution_continued_as_new_event_attributes
        continued = last.event_type == EventType.EVENT_TYPE_WORKFLOW_EXECUTION_CONTINUED_AS_NEW
        run_id = attrs.new_execution_run_id if continued else None
    return histories


def wake_plan(histories: list[WorkflowHistory]) -> list[list[bool]]:
    """Where each run armed a timer: at its start (index 0) and after each update."""
    plan = []
    for history in histories:
        wakes = [False]
        for event in history.events:
            if event.event_type == EventType.EVENT_TYPE_WORKFLOW_EXECUTION_UPDATE_ACCEPTED:
                wakes.append(False)
            elif event.event_type == EventType.EVENT_TYPE_TIMER_STARTED:
                wakes[-1] = True
        plan.append(wakes)
    return plan


COUNTED = {
    "updates": EventType.EVENT_TYPE_WORKFLOW_EXECUTION_UPDATE_ACCEPTED,
    "timers": EventType.EVENT_TYPE_TIMER_STARTED,
    "timers_fired": EventType.EVENT_TYPE_TIMER_FIRED,
    "activities": EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED,
    "search_attribute_upserts": EventType.EVENT_TYPE_UPSERT_WORKFLOW_SEARCH_ATTRIBUTES,
    "workflow_tasks": EventType.EVENT_TYPE_WORKFLOW_TASK_COMPLETED,
}


def billable_actions(histories: list[WorkflowHistory]) -> int:
    """The Temporal Cloud actions a workflow's histories show (docs.temporal.io/cloud/actions):
    a run started (the first, and each continue-as-new), a timer started, an Update, a
    signal received, an activity attempt started, a search attribute upsert, a side-effect
    or local-activity marker (patch markers are not counted). Queries and refused Updates are
    billed too but leave no event (the bench sends none of the first)."""
    count = 0
    for history in histories:
        for event in history.events:
            kind = event.event_type
            if kind == EventType.EVENT_TYPE_MARKER_RECORDED:
                name = event.marker_recorded_event_attributes.marker_name
                count += name != "core_patch"
            elif kind == EventType.EVENT_TYPE_ACTIVITY_TASK_STARTED:
                count += max(1, event.activity_task_started_event_attributes.attempt)
            else:
                count += kind in BILLED
    return count


BILLED = {
    EventType.EVENT_TYPE_WORKFLOW_EXECUTION_STARTED,
    EventType.EVENT_TYPE_TIMER_STARTED,
    EventType.EVENT_TYPE_WORKFLOW_EXECUTION_UPDATE_ACCEPTED,
    EventType.EVENT_TYPE_WORKFLOW_EXECUTION_SIGNALED,
    EventType.EVENT_TYPE_UPSERT_WORKFLOW_SEARCH_ATTRIBUTES,
}


def history_counts(histories: list[WorkflowHistory]) -> dict[str, Any]:
    """Events per run and what they are, over every run of one workflow."""
    per_run = [len(h.events) for h in histories]
    totals = {name: 0 for name in COUNTED}
    for history in histories:
        for event in history.events:
            for name, kind in COUNTED.items():
                if event.event_type == kind:
                    totals[name] += 1
    sizes = [sum(e.ByteSize() for e in h.events) for h in histories]
    return {
        "runs": len(histories),
        "events_per_run": per_run,
        "events_max": max(per_run),
        "events_mean": round(sum(per_run) / len(per_run), 1),
        "events_total": sum(per_run),
        "bytes_max": max(sizes),
        "bytes_total": sum(sizes),
        "billable_actions": billable_actions(histories),
        **totals,
    }
