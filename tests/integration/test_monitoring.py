"""Monitoring after infusion, through the real workflow: a CAR-T patient is not discharged
before the protocol's minimum monitoring (the early discharge is refused and logged as an
incident); a visit that falls during the stay is recorded during it with its clinical date
and is not armed, nor overdue, at discharge."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from temporalio.client import Client

from client import pathways as operations
from models.protocol import Protocol
from tests.support.pathway_driver import CTS, NURSE, Driver, referral

pytestmark = pytest.mark.integration


async def test_discharge_waits_for_the_monitoring_period_and_d7_is_recorded_during_the_stay(
    client: Client, task_queue: str, running_worker: Any, cart_protocol: Protocol
) -> None:
    # One protocol day a second; the 90-minute thaw window kept at 5 s.
    protocol = cart_protocol.compressed(seconds_per_day=1, floor=timedelta(seconds=5))
    stay = protocol.windows.monitoring_before_discharge
    assert stay is not None and protocol.windows.source_of("monitoring_before_discharge")
    async with running_worker():
        handle = await operations.refer(
            client, referral("MON-101"), task_queue=task_queue, protocol=protocol
        )
        go = Driver(client, handle.id, protocol)
        await go.to_infusion()
        with pytest.raises(operations.ActionRefused) as early:
            await go("discharge", CTS)
        assert early.value.kind == "MonitoringPeriodNotOver"
        assert "10 days of monitoring" in early.value.message
        record = await operations.record(client, handle.id)
        assert record.state == "inpatient"
        # (the thaw sent until its window opened left OutsideWindow incidents before it)
        assert [i.rule for i in record.incidents if i.rule != "OutsideWindow"] == [
            "MonitoringPeriodNotOver"
        ]

        # D7 falls during the stay: recorded then, with its clinical date.
        d0 = record.d0
        assert d0 is not None
        seen_at = d0 + (datetime.now(UTC) - d0) / 2  # earlier than typed, during the stay
        await go("record_visit", NURSE, visit="D7", done_at=seen_at.isoformat())
        await go.discharge()
        record = await operations.record(client, handle.id)
        assert record.state == "short_term" and record.discharged_at is not None
        assert record.discharged_at - d0 >= stay
        assert record.visits["D7"] == seen_at
        keys = {d.key for d in record.deadlines}
        assert "visit:D7" not in keys and "visit:D14" in keys
        assert not record.overdue
        await handle.terminate("test over")
