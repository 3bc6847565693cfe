"""Preparation tasks through the real workflow (dev server): recorded as staff actions,
gating lymphodepletion until the pregnancy test is recorded, escalating when late, listed as
open in the query ``show`` uses and in the Web UI's current details."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from temporalio import activity
from temporalio.api.sdk.v1 import WorkflowMetadata
from temporalio.client import Client

from client import pathways as operations
from devtools.demo_answers import CONSENTED, FIT
from models import contracts
from models.notifications import Escalation, NotificationReceipt
from models.protocol import Protocol
from states.preparation import task_key
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
    referral,
)
from tests.support.waiting import at_rest, eventually

pytestmark = pytest.mark.integration


def capturing_notifier(sent: list[Escalation]):
    @activity.defn(name=contracts.NOTIFY_ESCALATION)
    async def capture(escalation: Escalation) -> NotificationReceipt:
        sent.append(escalation)
        return NotificationReceipt(
            channel="test", key=escalation.idempotency_key, delivered_at=datetime.now(UTC)
        )

    return capture


async def details(client: Client, workflow_id: str) -> str:
    handle = client.get_workflow_handle(workflow_id)
    meta = await handle.query("__temporal_workflow_metadata", result_type=WorkflowMetadata)
    return meta.current_details


async def test_an_open_pregnancy_test_refuses_lymphodepletion(
    client: Client, task_queue: str, running_worker, cart_protocol: Protocol
) -> None:
    protocol = cart_protocol.compressed(seconds_per_day=60)
    coi = "COI-PRE-201"
    async with running_worker():
        handle = await operations.refer(
            client, referral("PRE-201"), task_queue=task_queue, protocol=protocol
        )
        go = Driver(client, handle.id, protocol)
        await go.prepare(skip=("pregnancy_test",))
        await go("record_work_up", ARD, completed_at=ago(protocol, 10), lvef_percent=60, egfr=90)
        await go("approve_at_mdtm", ARD, **SIGNED)
        await go("record_consent", ARD, **CONSENTED)
        await go("record_washout", CTS, stopped=[], treatments=["none"])
        await go("book_apheresis", CTS, slot_at=datetime.now(UTC).isoformat())
        await go("record_apheresis", APH, coi_id=coi)
        await go("ship_to_manufacturer", TECH)
        await go("release_product", PHARMA, lot="LOT-2026-0042")
        await go("ship_to_centre", PHARMA)
        await go("receive_product", TECH, bag_coi_id=coi, temperature_log_ok=True)
        await go("clear_for_treatment", CTS, **FIT, tocilizumab_doses_on_site=2)
        tasks = {t.key: t for t in await operations.preparation(client, handle.id)}
        assert tasks["pregnancy_test"].status == "open"
        assert tasks["pregnancy_test"].gates == ["start_lymphodepletion"]
        assert tasks["contraception"].status == "done"
        assert tasks["consent_recorded"].status == "done"  # recorded by record_consent
        assert "Pregnancy test before lymphodepletion" in await details(client, handle.id)

        await at_rest(client, handle.id)
        shown = (await operations.record(client, handle.id)).model_dump(mode="json")
        with pytest.raises(operations.ActionRefused) as refused:
            await go("start_lymphodepletion", NURSE)
        assert refused.value.kind == "PreparationTaskOpen"
        assert "Pregnancy test" in refused.value.message
        assert "record_task pregnancy_test" in refused.value.message
        # A refusal on a safety rule changes nothing but the deviation log (one incident).
        before = await at_rest(client, handle.id)
        now_shown = (await operations.record(client, handle.id)).model_dump(mode="json")
        logged = now_shown.pop("incidents")[len(shown.pop("incidents")) :]
        now_shown.pop("stored"), shown.pop("stored")  # the incident written to the store
        assert [i["rule"] for i in logged] == ["PreparationTaskOpen"]
        assert now_shown == shown
        with pytest.raises(operations.ActionRefused) as positive:
            await go("record_task", NURSE, task="pregnancy_test", details={"result": "positive"})
        assert positive.value.kind == "TaskDetailsMissing"
        with pytest.raises(operations.ActionRefused) as by_tech:
            await go("record_task", TECH, task="pregnancy_test", details={"result": "negative"})
        assert by_tech.value.kind == "RoleNotAllowed"
        # Refusals in the validator leave nothing in history.
        assert await at_rest(client, handle.id) == before

        await go("record_task", NURSE, task="pregnancy_test", details={"result": "negative"})
        receipt = await go("start_lymphodepletion", NURSE)
        assert receipt.state == "lymphodepletion"
        record = await operations.record(client, handle.id)
        assert record.preparation is not None
        done = record.preparation.done["pregnancy_test"]
        assert (done.actor, done.details) == ("n.bernard", {"result": "negative"})
        # Met, its deadline left the record (the task's record keeps when it was done).
        assert task_key("pregnancy_test") not in {d.key for d in record.deadlines}
        entry = next(e for e in record.audit if e.event == "record_task")
        assert entry.data["task"] and entry.to_state == entry.from_state


async def test_a_late_task_escalates_and_stays_listed_until_recorded(
    client: Client, task_queue: str, running_worker, cart_protocol: Protocol
) -> None:
    # 14 protocol days (the patient information task) last 2.8 s.
    protocol = cart_protocol.compressed(seconds_per_day=0.2)
    sent: list[Escalation] = []
    async with running_worker(activities=[capturing_notifier(sent)]):
        handle = await operations.refer(
            client, referral("PRE-202"), task_queue=task_queue, protocol=protocol
        )
        go = Driver(client, handle.id, protocol)
        await go("record_work_up", ARD, completed_at=ago(protocol, 5), lvef_percent=60, egfr=90)
        await go("approve_at_mdtm", ARD, **SIGNED)
        key = task_key("patient_information")
        await eventually(
            lambda: any(e.deadline_key == key for e in sent), timeout=30, what="escalation"
        )
        first = next(e for e in sent if e.deadline_key == key)
        assert first.level == 1 and first.notify == ["care_coordinator"]
        assert "Patient information given" in first.label
        tasks = {t.key: t for t in await operations.preparation(client, handle.id)}
        assert tasks["patient_information"].overdue
        assert "OVERDUE" in await details(client, handle.id)
        await go(
            "record_task",
            ARD,
            task="patient_information",
            details={"document": "PIS-CART-AID", "version": "v3.1"},
        )
        record = await operations.record(client, handle.id)
        assert key not in {d.key for d in record.deadlines}
        tasks = {t.key: t for t in await operations.preparation(client, handle.id)}
        assert tasks["patient_information"].status == "done"
