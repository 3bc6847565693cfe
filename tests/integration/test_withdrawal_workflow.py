"""Long-term follow-up outlives withdrawal from the study, through the real workflow and dev
server: a CAR-T patient who withdraws after infusion stays in safety follow-up (the workflow
runs on, visits are recorded and due), and only an explicit refusal, recorded with who, when
and why, ends the pathway."""

from __future__ import annotations

from datetime import timedelta

import pytest
from temporalio.client import Client, WorkflowExecutionStatus

from client import pathways as operations
from client.errors import BadInput
from models.protocol import Protocol
from tests.support.pathway_driver import ARD, NURSE, Driver, referral
from tests.support.waiting import at_rest

pytestmark = pytest.mark.integration


async def test_withdrawal_after_infusion_keeps_safety_follow_up_until_refused(
    client: Client, task_queue: str, running_worker, cart_protocol: Protocol
) -> None:
    protocol = cart_protocol.compressed(seconds_per_day=2, floor=timedelta(seconds=1))
    async with running_worker():
        handle = await operations.refer(
            client, referral("WDR-101"), task_queue=task_queue, protocol=protocol
        )
        go = Driver(client, handle.id, protocol)
        await go.to_infusion()
        await go.discharge()
        await go("record_visit", NURSE, visit="D7")
        receipt = await go("withdraw", ARD, reason="leaves the study, agrees to safety follow-up")
        assert receipt.state == "safety_follow_up"
        assert "refuse_long_term_follow_up" in receipt.allowed_next

        record = await operations.record(client, handle.id)
        assert record.outcome is None and record.study_withdrawal is not None
        assert record.study_withdrawal.reason == "leaves the study, agrees to safety follow-up"
        due = {d.key for d in record.open_deadlines() if d.state == "safety_follow_up"}
        assert "visit:Y15" in due and "visit:D7" not in due
        await go("record_visit", NURSE, visit="D14")
        assert (await handle.describe()).status == WorkflowExecutionStatus.RUNNING

        # A refusal must say why (refused by the client before it reaches the workflow).
        with pytest.raises(BadInput, match="reason: is blank: say why, in words"):
            await go("refuse_long_term_follow_up", ARD, reason=" ")
        await go("refuse_long_term_follow_up", ARD, reason="refuses any further follow-up")
        outcome = await handle.result()
        assert outcome.outcome == "consent withdrawn"
        record = await operations.record(client, handle.id)
        refusal = record.follow_up_refusal
        assert refusal is not None and refusal.by == ARD["actor"]
        assert refusal.reason == "refuses any further follow-up"
        await at_rest(client, handle.id)
