"""Treatment is gated on the centre's live readiness: a prerequisite the centre policy
requires for the therapy that lapses after referral refuses clearing, lymphodepletion, thaw
and infusion, naming it, its lapse date and who can restore it; the refusal is an incident;
restored, the pathway goes on. Through the real centre and pathway workflows."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from temporalio.client import Client

from client import pathways as operations
from client.centres import record_evidence
from models.contracts import centre_workflow_id
from models.protocol import Protocol
from models.record import PathwayRecord
from tests.integration.test_centre_workflow import (  # noqa: F401 (fixtures)
    activities,
    inbox,
    open_centre,
    terminate,
)
from tests.support.pathway_driver import APH, CTS, PHARMA, TECH, Driver, referral
from tests.support.waiting import eventually

pytestmark = pytest.mark.integration

LEAD = {"actor": "dr.lead", "role": "programme_lead"}


async def test_a_lapsed_prerequisite_stops_treatment_until_restored(
    client: Client,
    task_queue: str,
    running_worker: Any,
    activities: list[Any],  # noqa: F811
    cart_protocol: Protocol,
) -> None:
    protocol = cart_protocol.compressed(seconds_per_day=60)
    async with running_worker(activities=activities):
        centre = await open_centre(client, task_queue, "centre-a")
        handle = await operations.refer(
            client, referral("GAT-101", centre=centre), task_queue=task_queue, protocol=protocol
        )
        go = Driver(client, handle.id, protocol)
        await go.to_consent()
        await go("record_washout", CTS, stopped=[])
        await go("book_apheresis", CTS, slot_at=datetime.now(UTC).isoformat())
        await go("record_apheresis", APH, coi_id="COI-GAT-101")
        await go("ship_to_manufacturer", TECH)
        await go("release_product", PHARMA)
        await go("ship_to_centre", PHARMA)
        await go("receive_product", TECH, bag_coi_id="COI-GAT-101")
        # The neurology agreement runs out a few seconds from now, after referral.
        ends = datetime.now(UTC) + timedelta(seconds=3)
        neurology = {"name": "Neurology on call", "valid_until": ends.isoformat()}
        await record_evidence(client, centre, "record_neurology", {**LEAD, "evidence": neurology})

        async def lapsed() -> PathwayRecord | None:
            record = await operations.record(client, handle.id)
            status = record.centre_status
            missing = [m.key for m in status.missing] if status else []
            return record if "neurology" in missing else None

        await eventually(lapsed, timeout=30, what="the pathway hears of the lapse")
        with pytest.raises(operations.ActionRefused) as refused:
            await go(
                "clear_for_treatment", CTS, active_infection=False, tocilizumab_doses_on_site=2
            )
        assert refused.value.kind == "CentreNotReady"
        message = refused.value.message
        assert "neurology" in message and f"lapsed {ends:%Y-%m-%d}" in message
        assert "programme lead" in message and "record_neurology" in message
        record = await operations.record(client, handle.id)
        assert record.state == "stored"
        assert [i.rule for i in record.incidents] == ["CentreNotReady"]
        assert record.incidents[0].actor == CTS["actor"]

        # Restored at the centre: the pathway hears it and treatment goes on.
        renewed = {**neurology, "valid_until": "2099-01-01T00:00:00Z"}
        await record_evidence(client, centre, "record_neurology", {**LEAD, "evidence": renewed})

        async def restored() -> bool:
            status = (await operations.record(client, handle.id)).centre_status
            return status is not None and status.ready

        await eventually(restored, timeout=30, what="the pathway hears of the renewal")
        receipt = await go(
            "clear_for_treatment", CTS, active_infection=False, tocilizumab_doses_on_site=2
        )
        assert receipt.state == "cleared"
        await terminate(client, handle.id, centre_workflow_id(centre))


async def test_an_msc_infusion_waits_for_the_centre_too(
    client: Client,
    task_queue: str,
    running_worker: Any,
    activities: list[Any],  # noqa: F811
    msc_protocol: Protocol,
) -> None:
    protocol = msc_protocol.compressed(seconds_per_day=60)
    async with running_worker(activities=activities):
        centre = await open_centre(client, task_queue, "centre-a")
        handle = await operations.refer(
            client,
            referral("GAT-102", "msc", centre=centre, disease="systemic sclerosis"),
            task_queue=task_queue,
            protocol=protocol,
        )
        go = Driver(client, handle.id, protocol)
        await go.to_consent()
        await go("order_product", PHARMA, coi_id="COI-GAT-102")
        await go("receive_product", TECH, bag_coi_id="COI-GAT-102")
        await go("clear_for_treatment", CTS, active_infection=False)
        await record_evidence(
            client,
            centre,
            "withdraw_evidence",
            {**LEAD, "item": "pharmacovigilance", "reason": "contact left the centre"},
        )

        async def lapsed() -> bool:
            status = (await operations.record(client, handle.id)).centre_status
            return status is not None and not status.ready

        await eventually(lapsed, timeout=30, what="the pathway hears of the lapse")
        with pytest.raises(operations.ActionRefused) as refused:
            await go("thaw_product", TECH, bag_coi_id="COI-GAT-102")
        assert refused.value.kind == "CentreNotReady"
        assert "pharmacovigilance" in refused.value.message
        assert "known since" in refused.value.message
        record = await operations.record(client, handle.id)
        assert record.state == "cleared" and record.incidents[-1].rule == "CentreNotReady"
        await terminate(client, handle.id, centre_workflow_id(centre))
