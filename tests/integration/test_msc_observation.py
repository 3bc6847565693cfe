"""MSC monitoring through the real workflow: each infusion is followed by an observation of
the protocol's length (ending it early is refused and logged), and a further dose waits for
fitness checked again after the last infusion."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from temporalio.client import Client

from client import pathways as operations
from models.protocol import Protocol
from tests.support.pathway_driver import CTS, NURSE, TECH, Driver, referral
from tests.support.waiting import once_window_opens

pytestmark = pytest.mark.integration


async def test_observation_after_each_infusion_and_recheck_before_the_next_dose(
    client: Client, task_queue: str, running_worker: Any, msc_repeated_protocol: Protocol
) -> None:
    # One protocol day a second; the 2-hour observation and the thaw window kept at 5 s.
    protocol = msc_repeated_protocol.compressed(seconds_per_day=1, floor=timedelta(seconds=5))
    schedule = protocol.infusions
    assert schedule.observation is not None and schedule.recheck_before_dose
    async with running_worker():
        ref = referral("OBS-101", therapy="msc", protocol_id=protocol.id)
        handle = await operations.refer(client, ref, task_queue=task_queue, protocol=protocol)
        go = Driver(client, handle.id, protocol)
        coi = "COI-OBS-101"
        first = await go.to_msc_infusion(coi)
        assert first.state == "observation"
        with pytest.raises(operations.ActionRefused) as early:
            await go("end_observation", NURSE)
        assert early.value.kind == "MonitoringPeriodNotOver"
        assert "observation" in early.value.message
        assert (await go.end_observation()).state == "between_infusions"

        # The next dose is due, but fitness has not been checked again since the infusion.
        opens = (schedule.interval - schedule.interval_tolerance).total_seconds()
        with pytest.raises(operations.ActionRefused) as unchecked:
            await once_window_opens(
                lambda: go("thaw_product", TECH, bag_coi_id=coi), timeout=opens + 10
            )
        assert unchecked.value.kind == "NotClearedForTreatment"
        await go("clear_for_treatment", CTS, active_infection=False)
        await go("thaw_product", TECH, bag_coi_id=coi)
        second = await go("infuse", NURSE, bag_coi_id=coi, checked_by=["n.bernard", "dr.roux"])
        assert second.state == "observation"
        assert (await go.end_observation()).state == "short_term"
        record = await operations.record(client, handle.id)
        assert len(record.infusions) == 2
        # Each refusal is in the deviation log (the waits sent again add their own).
        assert {i.rule for i in record.incidents} >= {
            "MonitoringPeriodNotOver",
            "NotClearedForTreatment",
        }
        await handle.terminate("test over")
