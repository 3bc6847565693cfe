"""The MDTM as a record, through the real workflow on the dev server (issue 12, item 6)."""

from __future__ import annotations

import pytest
from temporalio.client import Client

from client import pathways as operations
from devtools.demo_answers import ORGANS
from models.protocol import Protocol
from tests.support.pathway_driver import ARD, Driver, ago, referral, signed

pytestmark = pytest.mark.integration


async def test_mdtm_decisions_are_records(
    client: Client, task_queue: str, running_worker, cart_protocol: Protocol
) -> None:
    protocol = cart_protocol.compressed(seconds_per_day=60)
    async with running_worker():
        handle = await operations.refer(
            client, referral("MDT-101"), task_queue=task_queue, protocol=protocol
        )
        go = Driver(client, handle.id, protocol)
        await go("record_work_up", ARD, completed_at=ago(protocol, 5), **ORGANS)
        before = await operations.record(client, handle.id)
        with pytest.raises(operations.ActionRefused) as bare:
            await go(
                "approve_at_mdtm",
                ARD,
                ard_specialist="dr.martin",
                cell_therapy_specialist="dr.roux",
            )
        assert bare.value.kind == "MdtmRecordIncomplete"
        assert "meeting_id" in bare.value.message and "attendees" in bare.value.message
        deputy = {
            **signed(protocol),
            "cell_therapy_specialist": "dr.blanc",
            "attendees": [
                {"person": "dr.martin", "specialty": "autoimmune_disease"},
                {"person": "dr.blanc", "specialty": "cell_therapy"},
            ],
        }
        with pytest.raises(operations.ActionRefused) as unexplained:
            await go("defer_at_mdtm", ARD, **deputy)
        assert unexplained.value.kind == "MdtmRecordIncomplete"
        assert "dr.blanc is not in the referral's binôme" in unexplained.value.message
        # Nothing changed but the deviation log: each safety refusal is an incident.
        after = await operations.record(client, handle.id)
        assert (after.audit, after.state) == (before.audit, before.state)
        assert {i.rule for i in after.incidents[len(before.incidents) :]} == {
            "MdtmRecordIncomplete"
        }
        receipt = await go("approve_at_mdtm", ARD, **deputy, substitution_reason="dr.roux on leave")
        assert receipt.state == "awaiting_consent"
        record = await operations.record(client, handle.id)
        assert record.mdtm_meeting_id == deputy["meeting_id"]
        assert record.mdtm_meeting_at is not None
        entry = record.audit[-1]
        assert entry.data["substitution_reason"] == "dr.roux on leave"
        assert {a["specialty"] for a in entry.data["attendees"]} == {
            "autoimmune_disease",
            "cell_therapy",
        }
        await handle.terminate("test over")
