"""No safety default, through the real workflow on the dev server (issue 12, item 2).

A pathway referred now follows the explicit safety rules: the record says so, a missing
consent element refuses the next step, a washout without the current treatments is refused,
and a pre-treatment check without its answers is refused naming them; each refusal leaves
the history as it was.
"""

from __future__ import annotations

import pytest
from temporalio.client import Client

from client import pathways as operations
from devtools.demo_answers import CONSENTED, FIT, ORGANS
from models.protocol import Protocol
from models.safety_rules import CURRENT
from tests.support.pathway_driver import ARD, CTS, PHARMA, SIGNED, TECH, Driver, ago, referral

pytestmark = pytest.mark.integration


async def test_consent_and_washout_answers_are_required(
    client: Client, task_queue: str, running_worker, cart_protocol: Protocol
) -> None:
    protocol = cart_protocol.compressed(seconds_per_day=60)
    async with running_worker():
        handle = await operations.refer(
            client, referral("SAF-101"), task_queue=task_queue, protocol=protocol
        )
        go = Driver(client, handle.id, protocol)
        with pytest.raises(operations.ActionRefused) as no_values:
            await go("record_work_up", ARD, completed_at=ago(protocol, 5))
        assert no_values.value.kind == "AnswerMissing"
        assert "LVEF (lvef_percent) and eGFR (egfr) missing" in no_values.value.message
        await go("record_work_up", ARD, completed_at=ago(protocol, 5), **ORGANS)
        await go("approve_at_mdtm", ARD, **SIGNED)
        with pytest.raises(operations.ActionRefused) as blank:
            await go("record_consent", ARD)
        assert blank.value.kind == "AnswerMissing"
        await go("record_consent", ARD, **{**CONSENTED, "registry_consent": False})
        record = await operations.record(client, handle.id)
        assert record.safety_rules == CURRENT and record.consent_given == ["trial_inclusion"]
        before = await operations.record(client, handle.id)
        with pytest.raises(operations.ActionRefused) as incomplete:
            await go("record_washout", CTS, stopped=[], treatments=["none"])
        assert incomplete.value.kind == "ConsentIncomplete"
        assert "consent to registry reporting" in incomplete.value.message
        # Nothing changed but the deviation log: each safety refusal is an incident.
        after = await operations.record(client, handle.id)
        assert (after.audit, after.state) == (before.audit, before.state)
        assert {i.rule for i in after.incidents[len(before.incidents) :]} == {"ConsentIncomplete"}
        await handle.terminate("test over")


async def test_washout_lists_treatments_and_clearance_needs_every_answer(
    client: Client, task_queue: str, running_worker, msc_protocol: Protocol, cart_protocol: Protocol
) -> None:
    cart = cart_protocol.compressed(seconds_per_day=60)
    msc = msc_protocol.compressed(seconds_per_day=60)
    async with running_worker():
        handle = await operations.refer(
            client, referral("SAF-102"), task_queue=task_queue, protocol=cart
        )
        go = Driver(client, handle.id, cart)
        await go.to_consent()
        with pytest.raises(operations.ActionRefused) as empty:
            await go("record_washout", CTS, stopped=[])
        assert empty.value.kind == "AnswerMissing"
        with pytest.raises(operations.ActionRefused) as unknown:
            await go("record_washout", CTS, stopped=[], treatments=["voclosporin"])
        assert unknown.value.kind == "TreatmentUnknown" and "azathioprine" in unknown.value.message
        receipt = await go("record_washout", CTS, stopped=[], treatments=["hydroxychloroquine"])
        assert receipt.state == "washout"
        await handle.terminate("test over")

        coi = "COI-SAF-103"
        other = await operations.refer(
            client,
            referral("SAF-103", therapy="msc", disease="systemic sclerosis"),
            task_queue=task_queue,
            protocol=msc,
        )
        go = Driver(client, other.id, msc)
        await go.to_consent()
        await go("order_product", PHARMA, coi_id=coi)
        await go("receive_product", TECH, bag_coi_id=coi, temperature_log_ok=True)
        before = await operations.record(client, other.id)
        with pytest.raises(operations.ActionRefused) as missing:
            await go("clear_for_treatment", CTS, active_infection=False)
        assert missing.value.kind == "AnswerMissing"
        for named in ("cardiac_check_ok", "pregnancy_test", "lvef_percent", "egfr"):
            assert named in missing.value.message
        # Nothing changed but the deviation log: each safety refusal is an incident.
        after = await operations.record(client, other.id)
        assert (after.audit, after.state) == (before.audit, before.state)
        assert {i.rule for i in after.incidents[len(before.incidents) :]} == {"AnswerMissing"}
        receipt = await go("clear_for_treatment", CTS, **FIT)
        assert receipt.state == "cleared"
        await other.terminate("test over")
