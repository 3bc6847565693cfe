"""Two staff actions for the same step, in one workflow activation: exactly one applies.

Both Updates wait on the server (no worker yet), so the first workflow task delivers them
together. Whichever runs first applies; the other must be refused with a reason (by its
validator, or by the handler's own check should the two ever interleave), never applied
twice, and the history must say the same as the record.
"""

from __future__ import annotations

import asyncio

import pytest
from temporalio.api.enums.v1 import EventType
from temporalio.client import Client

from client import pathways as operations
from models.pathway import ActionReceipt
from models.protocol import Protocol
from tests.support.pathway_driver import ARD, ago, referral
from tests.support.waiting import at_rest, update_admitted

pytestmark = pytest.mark.integration

ACCEPTED = EventType.EVENT_TYPE_WORKFLOW_EXECUTION_UPDATE_ACCEPTED
COMPLETED = EventType.EVENT_TYPE_WORKFLOW_EXECUTION_UPDATE_COMPLETED
TASK_COMPLETED = EventType.EVENT_TYPE_WORKFLOW_TASK_COMPLETED


async def test_two_work_ups_in_one_activation_apply_once(
    client: Client, task_queue: str, running_worker, cart_protocol: Protocol
) -> None:
    protocol = cart_protocol.compressed(seconds_per_day=60)
    handle = await operations.refer(
        client, referral("RACE-101"), task_queue=task_queue, protocol=protocol
    )
    clicks = {
        f"{handle.id}:ard-1": {
            **ARD,
            "completed_at": ago(protocol, 5),
            "lvef_percent": 61,
            "egfr": 90,
        },
        f"{handle.id}:ard-2": {
            **ARD,
            "completed_at": ago(protocol, 4),
            "lvef_percent": 58,
            "egfr": 90,
        },
    }
    sent = {
        update_id: asyncio.create_task(
            operations.act(client, handle.id, "record_work_up", data, update_id=update_id)
        )
        for update_id, data in clicks.items()
    }
    for update_id in clicks:
        await update_admitted(client, handle.id, update_id)

    async with running_worker():
        outcomes = await asyncio.gather(*sent.values(), return_exceptions=True)
        await at_rest(client, handle.id)
        history = (await handle.fetch_history()).events
        record = await operations.record(client, handle.id)
        await handle.terminate("test over")

    by_id = dict(zip(clicks, outcomes, strict=True))
    won = [u for u, o in by_id.items() if isinstance(o, ActionReceipt)]
    lost = {u: o for u, o in by_id.items() if isinstance(o, operations.ActionRefused)}
    assert len(won) == 1 and len(lost) == 1, outcomes
    (refused,) = lost.values()
    assert refused.kind == "ActionNotAllowedNow", refused
    assert "record_work_up" in str(refused) or "work-up" in str(refused).lower(), str(refused)

    # The record holds the winner once, with its own data; the loser left no trace.
    work_ups = [e for e in record.audit if e.event == "record_work_up"]
    assert [e.update_id for e in work_ups] == won
    assert work_ups[0].data["lvef_percent"] == clicks[won[0]]["lvef_percent"]
    assert record.state == "awaiting_mdtm"

    # History: the winner accepted and completed with its receipt. The loser is refused
    # before acceptance (the SDK runs one update's validator and handler before the next
    # update's validator), so it leaves no event; were it accepted, it must end as a failure.
    accepted = [
        e.workflow_execution_update_accepted_event_attributes.accepted_request.meta.update_id
        for e in history
        if e.event_type == ACCEPTED
    ]
    assert won[0] in accepted and set(accepted) <= set(clicks), accepted
    outcomes_in_history = {
        e.workflow_execution_update_completed_event_attributes.meta.update_id: (
            e.workflow_execution_update_completed_event_attributes.outcome.HasField("success")
        )
        for e in history
        if e.event_type == COMPLETED
    }
    assert outcomes_in_history[won[0]] is True
    assert set(outcomes_in_history) == set(accepted)
    assert all(not ok for u, ok in outcomes_in_history.items() if u != won[0])
    # Both reached the workflow in its first task: one task completed before the acceptance.
    first_accepted = next(i for i, e in enumerate(history) if e.event_type == ACCEPTED)
    tasks = [e for e in history[:first_accepted] if e.event_type == TASK_COMPLETED]
    assert len(tasks) == 1
