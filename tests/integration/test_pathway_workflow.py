"""The pathway workflow end to end, on the real dev server with compressed protocols."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import pytest
from temporalio import activity
from temporalio.api.enums.v1 import EventType
from temporalio.client import Client, WorkflowExecutionStatus

from client import pathways as operations
from client import records
from devtools.demo_answers import AE_FACTS, FIT, ORGANS, resolve
from models import contracts
from models.notifications import Escalation, NotificationReceipt
from models.pathway import PathwayOutcome
from models.protocol import Protocol
from store import RecordReader
from tests.support.pathway_driver import (
    APH,
    ARD,
    CTS,
    NURSE,
    PHARMA,
    SIGNED,
    TECH,
    Driver,
    ago,
    fast,
    referral,
)
from tests.support.waiting import at_rest, eventually, once_window_opens, update_admitted

pytestmark = pytest.mark.integration


def capturing_notifier(sent: list[Escalation]):
    """The production activity name, delivering into ``sent`` instead of a channel."""

    @activity.defn(name=contracts.NOTIFY_ESCALATION)
    async def capture(escalation: Escalation) -> NotificationReceipt:
        sent.append(escalation)
        return NotificationReceipt(
            channel="test", key=escalation.idempotency_key, delivered_at=datetime.now(UTC)
        )

    return capture


async def test_cart_pathway_runs_to_completion(
    client: Client,
    task_queue: str,
    running_worker,
    cart_protocol: Protocol,
    store_reader: RecordReader,
) -> None:
    protocol = fast(cart_protocol)
    async with running_worker():
        handle = await operations.refer(
            client, referral("LUP-101"), task_queue=task_queue, protocol=protocol
        )
        go = Driver(client, handle.id, protocol)
        await go.to_consent()
        await go(
            "record_washout",
            CTS,
            stopped=[{"drug": "mycophenolate mofetil", "stopped_at": ago(protocol, 30)}],
            treatments=["mycophenolate mofetil"],
        )
        await go("book_apheresis", CTS, slot_at=datetime.now(UTC).isoformat())
        await go("record_apheresis", APH, coi_id="COI-LUP-101")
        await go("ship_to_manufacturer", TECH)
        await go("release_product", PHARMA, lot="LOT-2026-0042")
        await go("ship_to_centre", PHARMA)
        await go("receive_product", TECH, bag_coi_id="COI-LUP-101", temperature_log_ok=True)
        await go("clear_for_treatment", CTS, **FIT, tocilizumab_doses_on_site=2)
        await go("start_lymphodepletion", NURSE)
        await go("complete_lymphodepletion", NURSE)
        await go.thaw("COI-LUP-101")
        receipt = await go(
            "infuse", NURSE, bag_coi_id="COI-LUP-101", checked_by=["n.bernard", "dr.roux"]
        )
        assert receipt.state == "inpatient"
        await go.discharge()
        for visit in protocol.visits:
            if visit.label == "Y2":
                await go("start_long_term_follow_up", ARD)
            await go("record_visit", NURSE, visit=visit.label)
        await go("complete_follow_up", ARD)
        outcome = await handle.result()
        assert isinstance(outcome, PathwayOutcome)
        assert outcome.outcome == "follow-up completed"
        # The whole trail: the last run's entries joined with the earlier runs' in the store.
        record, _ = await records.read_record(client, handle.id, reader=store_reader)
        assert record.state == "completed"
        assert [e.event for e in record.audit if e.event != "record_task"][:3] == [
            "record_work_up",
            "approve_at_mdtm",
            "record_consent",
        ]
        assert all(e.actor and e.role for e in record.audit)
        assert record.d0 is not None and len(record.visits) == len(protocol.visits)
        desc = await handle.describe()
        assert desc.status == WorkflowExecutionStatus.COMPLETED
        assert desc.typed_search_attributes is not None


async def test_out_of_order_action_is_rejected_and_history_unchanged(
    client: Client, task_queue: str, running_worker, cart_protocol: Protocol
) -> None:
    protocol = cart_protocol.compressed(seconds_per_day=60)
    async with running_worker():
        handle = await operations.refer(
            client, referral("LUP-102"), task_queue=task_queue, protocol=protocol
        )
        go = Driver(client, handle.id, protocol)
        await go("record_work_up", ARD, completed_at=ago(protocol, 5), **ORGANS)
        before = await at_rest(client, handle.id)
        with pytest.raises(operations.ActionRefused) as refused:
            await go("infuse", NURSE, bag_coi_id="COI-X", checked_by=["a.b", "c.d"])
        assert refused.value.kind == "ActionNotAllowedNow"
        assert "awaiting_mdtm" in refused.value.message
        with pytest.raises(operations.ActionRefused) as wrong_role:
            await go("approve_at_mdtm", NURSE, **SIGNED)
        assert wrong_role.value.kind == "RoleNotAllowed"
        with pytest.raises(operations.ActionRefused) as same_person:
            await go(
                "approve_at_mdtm",
                ARD,
                ard_specialist="dr.martin",
                cell_therapy_specialist="dr.martin",
            )
        assert same_person.value.kind == "BinomeIncomplete"
        assert await at_rest(client, handle.id) == before
        record = await operations.record(client, handle.id)
        assert record.state == "awaiting_mdtm" and len(record.audit) == 1
        # Positive control: an accepted action on the same pathway does leave history.
        await go("approve_at_mdtm", ARD, **SIGNED)
        assert await at_rest(client, handle.id) > before
        await handle.terminate("test over")


async def test_stale_work_up_is_refused_until_a_new_one(
    client: Client, task_queue: str, running_worker, cart_protocol: Protocol
) -> None:
    protocol = cart_protocol.compressed(seconds_per_day=60)
    async with running_worker():
        handle = await operations.refer(
            client, referral("LUP-103"), task_queue=task_queue, protocol=protocol
        )
        go = Driver(client, handle.id, protocol)
        await go("record_work_up", ARD, completed_at=ago(protocol, 104), **ORGANS)
        with pytest.raises(operations.ActionRefused) as stale:
            await go("approve_at_mdtm", ARD, **SIGNED)
        assert stale.value.kind == "StaleWorkUp"
        assert "104 days old" in stale.value.message
        await go("defer_at_mdtm", CTS, **SIGNED, reason="new work-up needed")
        await go("record_work_up", ARD, completed_at=ago(protocol, 1), **ORGANS)
        receipt = await go("approve_at_mdtm", ARD, **SIGNED)
        assert receipt.state == "awaiting_consent"
        await handle.terminate("test over")


async def test_duplicate_update_id_is_applied_once(
    client: Client, task_queue: str, running_worker, cart_protocol: Protocol
) -> None:
    protocol = cart_protocol.compressed(seconds_per_day=60)
    async with running_worker():
        handle = await operations.refer(
            client, referral("LUP-104"), task_queue=task_queue, protocol=protocol
        )
        data = {**ARD, "completed_at": ago(protocol, 3), **ORGANS}
        first = await operations.act(client, handle.id, "record_work_up", data, update_id="click-1")
        again = await operations.act(client, handle.id, "record_work_up", data, update_id="click-1")
        assert again.seq == first.seq
        record = await operations.record(client, handle.id)
        assert len(record.audit) == 1
        await handle.terminate("test over")


async def test_second_referral_for_open_pathway_is_refused(
    client: Client, task_queue: str, running_worker, msc_protocol: Protocol
) -> None:
    protocol = msc_protocol.compressed(seconds_per_day=60)
    async with running_worker():
        ref = referral("SSC-101", therapy="msc", disease="systemic sclerosis")
        handle = await operations.refer(client, ref, task_queue=task_queue, protocol=protocol)
        with pytest.raises(operations.ActionRefused) as dup:
            await operations.refer(client, ref, task_queue=task_queue, protocol=protocol)
        assert dup.value.kind == "DuplicateReferral"
        await handle.terminate("test over")


async def test_missed_deadline_climbs_the_escalation_ladder(
    client: Client, task_queue: str, running_worker, cart_protocol: Protocol
) -> None:
    # One protocol day = 0.05 s: the 30-day work-up deadline falls due after 1.5 s and the
    # ladder (0, 2 and 5 days late) is climbed within the next quarter of a second.
    protocol = cart_protocol.compressed(seconds_per_day=0.05)
    sent: list[Escalation] = []

    capture = capturing_notifier(sent)

    @activity.defn(name=contracts.NOTIFY_FALLBACK)
    async def fallback(escalation: Escalation) -> NotificationReceipt:
        raise AssertionError("fallback must not be used when the channel works")

    async with running_worker(activities=[capture, fallback]):
        handle = await operations.refer(
            client, referral("LUP-105"), task_queue=task_queue, protocol=protocol
        )
        await eventually(lambda: len(sent) >= 3, what="three escalations")
        assert [e.level for e in sent] == [1, 2, 3]
        assert [e.deadline_key for e in sent] == ["work_up"] * 3
        assert [r.value for r in sent[2].notify] == ["programme_lead"]
        # Visibility follows: Overdue and EscalationLevel are searchable.
        query = f'WorkflowId = "{handle.id}" AND Overdue = true AND EscalationLevel = 3'

        async def found() -> list[str]:
            return [w.id async for w in client.list_workflows(query)]

        assert await eventually(found, what="overdue pathway listed") == [handle.id]
        history = await handle.fetch_history()
        timers = [e for e in history.events if e.event_type == EventType.EVENT_TYPE_TIMER_STARTED]
        assert timers, "deadlines are durable timers"
        await handle.terminate("test over")


async def test_met_deadline_does_not_escalate(
    client: Client, task_queue: str, running_worker, cart_protocol: Protocol
) -> None:
    # The work-up is due in 1 day and the MDTM decision in 3: the MDTM escalation (the
    # positive control) proves that timers fired and escalations were captured after the
    # work-up deadline would have fallen due.
    within = {"work_up": timedelta(days=1), "mdtm_decision": timedelta(days=3)}
    rules = [
        r.model_copy(update={"within": within[r.key]}) if r.key in within else r
        for r in cart_protocol.deadlines
    ]
    tight = cart_protocol.model_copy(update={"deadlines": rules})
    protocol = tight.compressed(seconds_per_day=0.05)
    sent: list[Escalation] = []

    capture = capturing_notifier(sent)

    async with running_worker(activities=[capture]):
        handle = await operations.refer(
            client, referral("LUP-106"), task_queue=task_queue, protocol=protocol
        )
        go = Driver(client, handle.id, protocol)
        await go("record_work_up", ARD, completed_at=ago(protocol, 1), **ORGANS)
        mdtm = await eventually(
            lambda: [e for e in sent if e.deadline_key == "mdtm_decision"],
            what="the MDTM decision escalated (positive control)",
        )
        record = await operations.record(client, handle.id)
        work_up = next(d for d in record.deadlines if d.key == "work_up")
        assert work_up.status.value == "met" and work_up.level == 0
        assert work_up.due_at < mdtm[0].due_at, "the control fired after the work-up was due"
        assert [e.deadline_key for e in sent] and all(e.deadline_key != "work_up" for e in sent)
        await handle.terminate("test over")


async def test_follow_up_years_continue_as_new_with_the_record_intact(
    client: Client,
    task_queue: str,
    running_worker,
    cart_protocol: Protocol,
    store_reader: RecordReader,
) -> None:
    protocol = fast(cart_protocol)
    async with running_worker():
        handle = await operations.refer(
            client, referral("LUP-107"), task_queue=task_queue, protocol=protocol
        )
        go = Driver(client, handle.id, protocol)
        await go.to_infusion()
        await go.discharge()
        first_run = (await handle.describe()).run_id
        for label in ("D7", "D14", "D28", "M3", "M6"):
            await go("record_visit", NURSE, visit=label)
        assert (await handle.describe()).run_id == first_run
        before = await operations.record(client, handle.id)
        m12 = {**NURSE, "visit": "M12"}
        await operations.act(client, handle.id, "record_visit", m12, update_id="visit-m12")
        await operations.act(client, handle.id, "start_long_term_follow_up", ARD)

        async def new_run() -> bool:
            return (await handle.describe()).run_id != first_run

        # The run ends once its facts are in the record store (an activity): a moment later.
        await eventually(new_run, timeout=20, what="a follow-up year starts a new run")
        # The new run carries the chain's head; the trail reads whole (client/records.py).
        assert (await operations.record(client, handle.id)).earlier is not None
        after, source = await records.read_record(client, handle.id, reader=store_reader)
        assert source is records.Source.BOTH
        assert after.run == before.run + 1
        assert after.audit[: len(before.audit)] == before.audit
        assert after.state == "long_term" and after.product.coi_id == before.product.coi_id
        assert {d.key for d in after.open_deadlines()} >= {"visit:Y2", "visit:Y15"}
        # The M12 click retried against the new run is still applied once.
        again = await operations.act(client, handle.id, "record_visit", m12, update_id="visit-m12")
        assert again.duplicate
        again_read, _ = await records.read_record(client, handle.id, reader=store_reader)
        assert len(again_read.audit) == len(after.audit)
        await client.get_workflow_handle(handle.id).terminate("test over")


async def test_serious_adverse_event_arms_the_sponsor_report_deadline(
    client: Client, task_queue: str, running_worker, cart_protocol: Protocol
) -> None:
    # LUP-006: a serious adverse event recorded at D+20 must reach the sponsor within 24 h.
    protocol = cart_protocol.compressed(seconds_per_day=60)
    async with running_worker():
        handle = await operations.refer(
            client, referral("LUP-108"), task_queue=task_queue, protocol=protocol
        )
        go = Driver(client, handle.id, protocol)
        await go("record_work_up", ARD, completed_at=ago(protocol, 5), **ORGANS)
        await go("hold", ARD, reason="intercurrent infection")
        receipt = await go(
            "record_adverse_event",
            NURSE,
            kind="infection",
            grade=3,
            serious=True,
            suspected_unexpected=True,
            **AE_FACTS,
        )
        assert receipt.state == "held", "recording an adverse event does not move the pathway"
        views = {d.key: d for d in await operations.deadlines(client, handle.id)}
        sponsor, susar = views["sae-1:sponsor"], views["sae-1:susar"]
        assert sponsor.waiting_on.value == "cell_therapy_specialist"
        assert 0 < sponsor.seconds_left <= 24 * 3600 * protocol.time_scale
        assert susar.seconds_left > sponsor.seconds_left
        with pytest.raises(operations.ActionRefused) as not_due:
            await go("report_adverse_event", CTS, adverse_event=2, report="sponsor")
        assert not_due.value.kind == "MalformedAction"
        await go("report_adverse_event", CTS, adverse_event=1, report="sponsor")
        keys = {d.key for d in await operations.deadlines(client, handle.id)}
        assert "sae-1:sponsor" not in keys and "sae-1:susar" in keys
        await handle.terminate("test over")


async def test_msc_pathway_with_two_infusions_runs_to_completion(
    client: Client, task_queue: str, running_worker, msc_repeated_protocol: Protocol
) -> None:
    # Without the observation after infusion (tests/integration/test_msc_observation.py):
    # raised to a second on this clock, it would outlast the 7-day interval tested here.
    fast_msc = fast(
        msc_repeated_protocol, seconds_per_day=1
    )  # the 7-day interval lasts 7 s: the early dose is early
    schedule = fast_msc.infusions.model_copy(update={"observation": None})
    protocol = fast_msc.model_copy(update={"infusions": schedule})
    async with running_worker():
        ref = referral("LUP-109", therapy="msc", protocol_id=protocol.id)
        handle = await operations.refer(client, ref, task_queue=task_queue, protocol=protocol)
        go = Driver(client, handle.id, protocol)
        coi = "COI-MSC-109"
        first = await go.to_msc_infusion(coi)
        assert first.state == "between_infusions"
        with pytest.raises(operations.ActionRefused) as early:
            await go("thaw_product", TECH, bag_coi_id=coi)
        assert early.value.kind == "OutsideWindow"
        # Fitness is checked again before the further dose.
        await go("clear_for_treatment", CTS, active_infection=False)
        schedule = protocol.infusions
        opens = (schedule.interval - schedule.interval_tolerance).total_seconds()
        await once_window_opens(
            lambda: go("thaw_product", TECH, bag_coi_id=coi), timeout=opens + 10
        )
        second = await go("infuse", NURSE, bag_coi_id=coi, checked_by=["n.bernard", "dr.roux"])
        assert second.state == "short_term"
        for visit in protocol.visits:
            if visit.long_term and visit.label == "Y2":
                await go("start_long_term_follow_up", ARD)
            await go("record_visit", NURSE, visit=visit.label)
        await go("complete_follow_up", ARD)
        outcome = await handle.result()
        assert outcome.outcome == "follow-up completed"
        record = await operations.record(client, handle.id)
        assert len(record.infusions) == 2


REJECTIONS = [
    # (event, who, data, rule) — each refused in awaiting_mdtm with history unchanged
    ("no_such_action", ARD, {}, "UnknownEvent"),
    ("infuse", NURSE, {"bag_coi_id": "COI-X", "checked_by": ["a.b", "c.d"]}, "ActionNotAllowedNow"),
    ("approve_at_mdtm", NURSE, SIGNED, "RoleNotAllowed"),
    ("approve_at_mdtm", ARD, {"ard_specialist": "dr.martin"}, "MalformedAction"),
    (
        "approve_at_mdtm",
        ARD,
        {"ard_specialist": "dr.martin", "cell_therapy_specialist": "dr.martin"},
        "BinomeIncomplete",
    ),
    ("record_adverse_event", NURSE, {"kind": "CRS", "grade": 9}, "MalformedAction"),
    ("report_adverse_event", CTS, {"adverse_event": 1, "report": "sponsor"}, "MalformedAction"),
    ("hold", ARD, {"reason": "bad\x00input"}, "MalformedAction"),
]


async def test_every_rejection_class_leaves_history_unchanged(
    client: Client, task_queue: str, running_worker, cart_protocol: Protocol
) -> None:
    protocol = cart_protocol.compressed(seconds_per_day=60)
    async with running_worker():
        handle = await operations.refer(
            client, referral("LUP-110"), task_queue=task_queue, protocol=protocol
        )
        go = Driver(client, handle.id, protocol)
        await go("record_work_up", ARD, completed_at=ago(protocol, 100), **ORGANS)
        before = await at_rest(client, handle.id)
        record_before = await operations.record(client, handle.id)
        kinds = []
        for event, who, data, _rule in [
            *REJECTIONS,
            ("approve_at_mdtm", ARD, SIGNED, "StaleWorkUp"),
        ]:
            with pytest.raises(operations.OperationError) as refused:
                await operations.act(client, handle.id, event, {**who, **resolve(data, protocol)})
            kinds.append(refused.value.kind)
            assert refused.value.message.endswith((".", ")")), refused.value.message
        expected = [r[3] for r in REJECTIONS] + ["StaleWorkUp"]
        # Malformed payloads are caught by the CLI before sending (BadInput) or by the workflow.
        assert [k if k != "BadInput" else "MalformedAction" for k in kinds] == expected
        assert await at_rest(client, handle.id) == before
        assert await operations.record(client, handle.id) == record_before
        # Positive control: the refusals above left nothing, but an accepted action does.
        await go("hold", CTS, reason="intercurrent infection")
        assert await at_rest(client, handle.id) > before
        await handle.terminate("test over")


async def test_safety_reports_keep_an_ended_pathway_open_until_recorded(
    client: Client, task_queue: str, running_worker, cart_protocol: Protocol
) -> None:
    protocol = cart_protocol.compressed(seconds_per_day=60)
    async with running_worker():
        handle = await operations.refer(
            client, referral("LUP-111"), task_queue=task_queue, protocol=protocol
        )
        go = Driver(client, handle.id, protocol)
        await go("record_adverse_event", NURSE, kind="infection", grade=5, serious=True, **AE_FACTS)
        receipt = await go("record_death", ARD, reason="sepsis")
        assert receipt.state == "deceased" and receipt.allowed_next == ["report_adverse_event"]
        desc = await handle.describe()
        assert desc.status == WorkflowExecutionStatus.RUNNING, "the sponsor report is still due"
        await go("report_adverse_event", CTS, adverse_event=1, report="sponsor")
        outcome = await handle.result()
        assert outcome.outcome == "deceased"


async def test_an_action_right_after_referral_finds_the_first_deadlines_armed(
    client: Client, task_queue: str, running_worker, cart_protocol: Protocol
) -> None:
    protocol = cart_protocol.compressed(seconds_per_day=60)
    # The referral and the first action reach the workflow together, before run() starts.
    handle = await operations.refer(
        client, referral("LUP-112"), task_queue=task_queue, protocol=protocol
    )
    update_id = f"{handle.id}:work-up"
    first = asyncio.create_task(
        operations.act(
            client,
            handle.id,
            "record_work_up",
            {**ARD, "completed_at": ago(protocol, 5), **ORGANS},
            update_id=update_id,
        )
    )
    # The update waits on the server with the start until a worker comes.
    await update_admitted(client, handle.id, update_id)
    async with running_worker():
        await first
        record = await operations.record(client, handle.id)
        keys = [d.key for d in record.deadlines]
        assert keys.count("mdtm_decision") == 1, keys
        work_up = next(d for d in record.deadlines if d.key == "work_up")
        assert work_up.status.value == "met"
        await handle.terminate("test over")
