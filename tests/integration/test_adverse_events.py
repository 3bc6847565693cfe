"""Adverse events through the real workflow on the dev server (issue 12, item 7): a grade-5
event entered as not serious is refused; one entered with its facts is serious, and its
sponsor-report clock runs from the awareness date, not from when it was typed."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from temporalio.client import Client

from client import pathways as operations
from devtools.demo_answers import ORGANS
from models.protocol import Protocol
from tests.support.pathway_driver import ARD, NURSE, Driver, ago, referral

pytestmark = pytest.mark.integration


async def test_seriousness_follows_the_facts_and_the_clock_awareness(
    client: Client, task_queue: str, running_worker, cart_protocol: Protocol
) -> None:
    protocol = cart_protocol.compressed(seconds_per_day=60)
    async with running_worker():
        handle = await operations.refer(
            client, referral("AEV-101"), task_queue=task_queue, protocol=protocol
        )
        go = Driver(client, handle.id, protocol)
        await go("record_work_up", ARD, completed_at=ago(protocol, 5), **ORGANS)
        before = await operations.record(client, handle.id)
        facts = {"hospitalised": True, "outcome": "fatal"}
        with pytest.raises(operations.ActionRefused) as lowered:
            await go(
                "record_adverse_event",
                NURSE,
                kind="CRS",
                grade=5,
                serious=False,
                aware_at=ago(protocol, 0),
                **facts,
            )
        assert lowered.value.kind == "SeriousnessLowered"
        with pytest.raises(operations.ActionRefused) as no_facts:
            await go("record_adverse_event", NURSE, kind="CRS", grade=5)
        assert no_facts.value.kind == "AnswerMissing" and "aware_at" in no_facts.value.message
        # Nothing changed but the deviation log: each safety refusal is an incident.
        after = await operations.record(client, handle.id)
        assert (after.audit, after.state) == (before.audit, before.state)
        assert {i.rule for i in after.incidents[len(before.incidents) :]} == {
            "AnswerMissing",
            "SeriousnessLowered",
        }
        # The site learnt of it 12 protocol hours ago: half of the 24 h is already gone.
        aware = datetime.now(UTC) - timedelta(seconds=0.5 * 86400 * protocol.time_scale)
        await go(
            "record_adverse_event", NURSE, kind="CRS", grade=5, aware_at=aware.isoformat(), **facts
        )
        record = await operations.record(client, handle.id)
        ae = record.adverse_events[-1]
        assert ae.serious and ae.life_threatening_or_fatal and ae.aware_at is not None
        sponsor = next(d for d in record.deadlines if d.key == "sae-1:sponsor")
        assert sponsor.due_at == ae.aware_at + protocol.safety_reporting.sponsor
        assert sponsor.due_at < ae.at + protocol.safety_reporting.sponsor
        await handle.terminate("test over")
