"""CRS/ICANS observations through the real workflow and dev server: the grade is computed by
the protocol's grading tables and recorded; a grade-2 CRS informs the binôme and the ICU at
once (a notification activity) and its deadline is met on delivery; a grade-3 CRS expects an
ICU transfer, escalates while it does not happen and is met by the transfer; the highest
grade, onset and resolution stay on the record."""

from __future__ import annotations

from datetime import timedelta

import pytest
from temporalio.client import Client

from client import pathways as operations
from client.errors import BadInput
from models.notifications import Escalation
from models.protocol import Protocol
from models.roles import Role
from tests.integration.test_pathway_workflow import capturing_notifier
from tests.support.pathway_driver import CTS, NURSE, Driver, referral
from tests.support.waiting import eventually

pytestmark = pytest.mark.integration

GRADE_2 = {"crs": {"temperature_c": 38.7, "hypotension": True}}
GRADE_3 = {"crs": {"temperature_c": 39.1, "oxygen": "face_mask"}}
RESOLVED = {"crs": {"temperature_c": 36.9}}


async def test_grades_are_computed_recorded_and_escalate(
    client: Client, task_queue: str, running_worker, cart_protocol: Protocol
) -> None:
    # One protocol day lasts 2 s; the hour-scale grade deadlines last 1 s.
    protocol = cart_protocol.compressed(seconds_per_day=2, floor=timedelta(seconds=1))
    sent: list[Escalation] = []
    async with running_worker(activities=[capturing_notifier(sent)]):
        handle = await operations.refer(
            client, referral("GRD-101"), task_queue=task_queue, protocol=protocol
        )
        go = Driver(client, handle.id, protocol)
        await go.to_infusion()

        async def graded() -> list[Escalation]:
            return [e for e in sent if e.deadline_key.startswith("grade:")]

        # A grade cannot be typed in (the client refuses it before the workflow sees it).
        with pytest.raises(BadInput, match="grade: extra inputs are not permitted"):
            await go("record_observation", NURSE, grade=2, **GRADE_2)

        await go("record_observation", NURSE, **GRADE_2)
        (informed,) = await eventually(graded, what="grade 2 CRS: binôme and ICU informed")
        assert informed.label == "CRS grade 2: binôme and ICU informed"
        assert set(informed.notify) == {
            Role.ARD_SPECIALIST,
            Role.CELL_THERAPY_SPECIALIST,
            Role.ICU_ON_CALL,
        }

        async def informed_met() -> bool:
            record = await operations.record(client, handle.id)
            found = next(d for d in record.deadlines if d.key == informed.deadline_key)
            return found.status.value == "met"

        await eventually(informed_met, what="the grade-2 deadline met once delivered")
        record = await operations.record(client, handle.id)
        (obs,) = record.grading.observations
        assert obs.crs is not None and obs.crs.grade == 2 and obs.crs.grading == "astct-2019.1"

        await go("record_observation", NURSE, **GRADE_3)

        async def icu_escalated() -> list[Escalation]:
            return [e for e in await graded() if "ICU expected" in e.label and e.level >= 1]

        (late,) = (await eventually(icu_escalated, what="ICU transfer escalated"))[:1]
        assert Role.ICU_ON_CALL in late.notify
        await go("transfer_to_icu", CTS)

        async def icu_met() -> bool:
            record = await operations.record(client, handle.id)
            found = next(d for d in record.deadlines if d.key == late.deadline_key)
            return found.status.value == "met"

        await eventually(icu_met, what="the ICU deadline met by the transfer")
        await go("record_observation", NURSE, **RESOLVED)
        record = await operations.record(client, handle.id)
        crs = record.grading.crs
        assert crs.highest == 3 and crs.onset_at == record.grading.observations[0].at
        assert crs.resolved_at == record.grading.observations[-1].at
        await handle.terminate("test over")
