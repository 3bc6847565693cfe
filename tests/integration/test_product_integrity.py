"""Product integrity through the real workflow on the dev server (issue 12, item 3).

A bag received with a temperature excursion is quarantined, never stored, and cannot be
cleared for treatment; the release lot is required; past the usual lymphodepletion window
the binôme proceeds only with a recorded justification.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from temporalio.client import Client

from client import pathways as operations
from devtools.demo_answers import FIT
from models.protocol import Protocol
from tests.support.pathway_driver import APH, CTS, NURSE, PHARMA, TECH, Driver, referral
from tests.support.waiting import eventually

pytestmark = pytest.mark.integration


async def test_an_excursion_at_receipt_quarantines_the_bag(
    client: Client, task_queue: str, running_worker, msc_protocol: Protocol
) -> None:
    protocol = msc_protocol.compressed(seconds_per_day=60)
    coi = "COI-PRD-101"
    async with running_worker():
        handle = await operations.refer(
            client,
            referral("PRD-101", therapy="msc", disease="systemic sclerosis"),
            task_queue=task_queue,
            protocol=protocol,
        )
        go = Driver(client, handle.id, protocol)
        await go.to_consent()
        await go("order_product", PHARMA, coi_id=coi)
        with pytest.raises(operations.ActionRefused) as unanswered:
            await go("receive_product", TECH, bag_coi_id=coi)
        assert unanswered.value.kind == "AnswerMissing"
        receipt = await go("receive_product", TECH, bag_coi_id=coi, temperature_log_ok=False)
        assert receipt.state == "quarantined"
        assert "clear_for_treatment" not in receipt.allowed_next
        record = await operations.record(client, handle.id)
        assert record.product.quarantined and record.product.storage_location is None
        before = await operations.record(client, handle.id)
        with pytest.raises(operations.ActionRefused) as not_stored:
            await go("clear_for_treatment", CTS, **FIT)
        assert not_stored.value.kind == "ActionNotAllowedNow"
        with pytest.raises(operations.ActionRefused) as unassessed:
            await go("release_from_quarantine", TECH, bag_coi_id=coi)
        assert unassessed.value.kind == "AnswerMissing"
        # Nothing changed but the deviation log: each safety refusal is an incident.
        after = await operations.record(client, handle.id)
        assert (after.audit, after.state) == (before.audit, before.state)
        assert {i.rule for i in after.incidents[len(before.incidents) :]} == {"AnswerMissing"}
        receipt = await go("discard_quarantined_product", CTS, reason="manufacturer: do not use")
        assert receipt.state == "to_order"
        await handle.terminate("test over")


async def test_lot_required_and_late_thaw_needs_a_justification(
    client: Client, task_queue: str, running_worker, cart_protocol: Protocol
) -> None:
    protocol = cart_protocol.compressed(seconds_per_day=0.5, floor=timedelta(seconds=5))
    coi = "COI-PRD-102"
    async with running_worker():
        handle = await operations.refer(
            client, referral("PRD-102"), task_queue=task_queue, protocol=protocol
        )
        go = Driver(client, handle.id, protocol)
        await go.to_consent()
        await go("record_washout", CTS, stopped=[], treatments=["none"])
        await go("book_apheresis", CTS, slot_at=datetime.now(UTC).isoformat())
        await go("record_apheresis", APH, coi_id=coi)
        await go("ship_to_manufacturer", TECH)
        with pytest.raises(operations.ActionRefused) as no_lot:
            await go("release_product", PHARMA)
        assert no_lot.value.kind == "AnswerMissing" and "lot" in no_lot.value.message
        await go("release_product", PHARMA, lot="LOT-PRD-102")
        await go("ship_to_centre", PHARMA)
        await go("receive_product", TECH, bag_coi_id=coi, temperature_log_ok=True)
        await go("clear_for_treatment", CTS, **FIT, tocilizumab_doses_on_site=2)
        await go("start_lymphodepletion", NURSE)
        await go("complete_lymphodepletion", NURSE)
        record = await operations.record(client, handle.id)
        assert record.product.lot == "LOT-PRD-102"
        ended = record.lymphodepletion_ended_at
        assert ended is not None
        usual = ended + protocol.windows.infusion_after_lymphodepletion_max

        async def past_usual_window() -> bool:
            return datetime.now(UTC) > usual + timedelta(seconds=0.5)

        await eventually(past_usual_window, timeout=30, what="the usual window has passed")
        with pytest.raises(operations.ActionRefused) as late:
            await go("thaw_product", TECH, bag_coi_id=coi)
        assert late.value.kind == "OutsideWindow" and "late_justification" in late.value.message
        why = "binôme: counts still low, no infection; proceed"
        thawed = await go("thaw_product", TECH, bag_coi_id=coi, late_justification=why)
        assert thawed.state == "thawed"
        record = await operations.record(client, handle.id)
        assert record.product.late_justification == why
        await handle.terminate("test over")
