"""The deviation log through the real workflow and the real CLI: an action refused on a
safety rule changes nothing but leaves an incident (who, when, what was presented, which
rule) in the pathway's history; product deviations leave one too; ``cellpath incidents``,
``show`` and the audit export list them."""

from __future__ import annotations

import json
import uuid
from pathlib import Path
from typing import Any

import pytest
from temporalio.api.sdk.v1 import WorkflowMetadata
from temporalio.client import Client

from client import pathways as operations
from client.audit import ExportFormat, read_trail, render, verify_trail
from models.encryption import EncryptionCodec
from models.protocol import Protocol
from tests.support.cli_support import (
    Cli,
    ErrorDoc,
    IncidentsDoc,
    ShowDoc,
    cli_env,
)
from tests.support.pathway_driver import NURSE, PHARMA, TECH, Driver, referral
from tests.support.waiting import at_rest, eventually

pytestmark = pytest.mark.integration


async def history_has_presented(client: Client, workflow_id: str, text: str) -> bool:
    """Whether an accepted Update in the history carried ``text`` (payloads are encrypted:
    decoded through the client's converter)."""
    history = await client.get_workflow_handle(workflow_id).fetch_history()
    for event in history.events:
        if event.HasField("workflow_execution_update_accepted_event_attributes"):
            request = event.workflow_execution_update_accepted_event_attributes.accepted_request
            payloads = list(request.input.args.payloads)
            decoded = await client.data_converter.decode(payloads, [dict])
            if text in json.dumps(decoded[0]):
                return True
    return False


async def test_a_refused_identity_check_leaves_an_incident_and_changes_nothing(
    client: Client, task_queue: str, running_worker: Any, msc_protocol: Protocol
) -> None:
    protocol = msc_protocol.compressed(seconds_per_day=60)
    async with running_worker():
        handle = await operations.refer(
            client,
            referral("INC-101", "msc", disease="systemic sclerosis"),
            task_queue=task_queue,
            protocol=protocol,
        )
        go = Driver(client, handle.id, protocol)
        await go.to_consent()
        await go("order_product", PHARMA, coi_id="COI-INC-101")
        before = await operations.record(client, handle.id)

        wrong = {**TECH, "bag_coi_id": "COI-INC-1O1"}
        with pytest.raises(operations.ActionRefused) as refused:
            await operations.act(client, handle.id, "receive_product", wrong, update_id="inc-1")
        assert refused.value.kind == "IdentityMismatch"

        after = await operations.record(client, handle.id)
        assert after.state == before.state == "ordered"
        assert after.audit == before.audit and after.product == before.product
        [incident] = after.incidents
        assert (incident.event, incident.rule, incident.kind) == (
            "receive_product",
            "IdentityMismatch",
            "refused",
        )
        assert (incident.actor, incident.role.value) == (TECH["actor"], TECH["role"])
        assert incident.presented["bag_coi_id"] == "COI-INC-1O1"
        assert incident.update_id == "inc-1" and incident.state == "ordered"
        # Durable: the refused action's details are in the history, not only in memory.
        assert await history_has_presented(client, handle.id, "COI-INC-1O1")

        # The same click again: the same refusal, no second incident.
        with pytest.raises(operations.ActionRefused) as again:
            await operations.act(client, handle.id, "receive_product", wrong, update_id="inc-1")
        assert again.value.kind == "IdentityMismatch"
        # The same ID with the right bag is not that click: refused, naming the first.
        right = {**TECH, "bag_coi_id": "COI-INC-101", "temperature_log_ok": True}
        with pytest.raises(operations.ActionRefused) as reused:
            await operations.act(client, handle.id, "receive_product", right, update_id="inc-1")
        assert reused.value.kind == "UpdateIdReused" and "IdentityMismatch" in str(reused.value)
        assert len((await operations.record(client, handle.id)).incidents) == 1

        # The Web UI's current details name the deviation log.
        handle_meta = client.get_workflow_handle(handle.id)

        async def details_name_it() -> bool:
            meta = await handle_meta.query(
                "__temporal_workflow_metadata", result_type=WorkflowMetadata
            )
            return "Deviation log" in meta.current_details

        await eventually(details_name_it, what="the details name the deviation log")

        # A refusal that is no safety rule (the role) leaves no incident.
        with pytest.raises(operations.ActionRefused) as role:
            await operations.act(client, handle.id, "receive_product", {**right, **NURSE})
        assert role.value.kind == "RoleNotAllowed"
        await operations.act(client, handle.id, "receive_product", right)
        shown = await operations.record(client, handle.id)
        assert shown.state == "stored" and len(shown.incidents) == 1
        await handle.terminate("test over")


async def test_product_deviations_are_incidents_listed_by_the_cli_show_and_export(
    client: Client,
    dev_server: Any,
    encryption_codec: EncryptionCodec,
    task_queue: str,
    running_worker: Any,
    msc_protocol: Protocol,
    tmp_path: Path,
) -> None:
    keys = encryption_codec.ring.to_spec()
    cli = Cli(cli_env(dev_server.address, task_queue, tmp_path / "state", keys=keys))
    protocol = msc_protocol.compressed(seconds_per_day=60)
    centre = f"centre-inc-{uuid.uuid4().hex[:8]}"
    async with running_worker():
        # At a centre of its own: listing across pathways asks only this test's.
        handle = await operations.refer(
            client,
            referral("INC-102", "msc", centre=centre, disease="systemic sclerosis"),
            task_queue=task_queue,
            protocol=protocol,
            check_centre=False,
        )
        go = Driver(client, handle.id, protocol)
        await go.to_consent()
        await go("order_product", PHARMA, coi_id="COI-INC-102")
        await go("quarantine_product", TECH, finding="shipper above -150 °C for 20 minutes")
        with pytest.raises(operations.ActionRefused):
            await go("release_from_quarantine", TECH, bag_coi_id="COI-INC-999")
        await at_rest(client, handle.id)

        listed = await cli("incidents", handle.id, "--json")
        assert listed.code == 0, listed
        doc = IncidentsDoc.model_validate(listed.json())
        assert [(i.seq, i.kind, i.rule) for i in doc.incidents] == [
            (1, "product", "ProductQuarantined"),
            (2, "refused", "IdentityMismatch"),
        ]
        assert "-150" in doc.incidents[0].message
        assert doc.incidents[1].presented["bag_coi_id"] == "COI-INC-999"

        across = await cli("incidents", "--centre", centre, "--json")
        assert across.code == 0, across
        everywhere = IncidentsDoc.model_validate(across.json())
        assert everywhere.pathway_id is None and everywhere.pathways == 1
        assert {i.pathway_id for i in everywhere.incidents} == {handle.id}

        table = await cli("incidents", handle.id)
        assert table.code == 0 and "IdentityMismatch" in table.stdout, table
        assert "ProductQuarantined" in table.stdout

        shown = await cli("show", handle.id, "--json")
        assert shown.code == 0, shown
        assert [i.rule for i in ShowDoc.model_validate(shown.json()).incidents] == [
            "ProductQuarantined",
            "IdentityMismatch",
        ]
        text = await cli("show", handle.id)
        assert "incident #2" in text.stdout and "IdentityMismatch" in text.stdout, text

        record = await operations.record(client, handle.id)
        for fmt in ExportFormat:
            exported = render(record, fmt)
            assert "COI-INC-999" in exported and "IdentityMismatch" in exported
            trail = read_trail(exported, fmt)
            assert trail.incidents == 2 and verify_trail(trail) == []
            assert len(trail.entries) == len(record.audit)
        await handle.terminate("test over")


async def test_cli_names_the_incident_of_a_refused_action(
    client: Client,
    dev_server: Any,
    encryption_codec: EncryptionCodec,
    task_queue: str,
    running_worker: Any,
    msc_protocol: Protocol,
    tmp_path: Path,
) -> None:
    """``cellpath act`` of a refused bag exits 3 with the rule; the refusal is logged."""
    keys = encryption_codec.ring.to_spec()
    cli = Cli(cli_env(dev_server.address, task_queue, tmp_path / "state", keys=keys))
    protocol = msc_protocol.compressed(seconds_per_day=60)
    async with running_worker():
        handle = await operations.refer(
            client,
            referral("INC-103", "msc", disease="systemic sclerosis"),
            task_queue=task_queue,
            protocol=protocol,
        )
        go = Driver(client, handle.id, protocol)
        await go.to_consent()
        await go("order_product", PHARMA, coi_id="COI-INC-103")
        sent = await cli(
            "act",
            handle.id,
            "receive_product",
            "--by",
            "t.moreau",
            "--role",
            "ctu_technician",
            "--data",
            json.dumps({"bag_coi_id": "COI-INC-130"}),
            "--json",
        )
        assert sent.code == 3, sent
        assert ErrorDoc.model_validate(sent.json()).error.kind == "IdentityMismatch"
        listed = IncidentsDoc.model_validate((await cli("incidents", handle.id, "--json")).json())
        assert [(i.actor, i.rule) for i in listed.incidents] == [("t.moreau", "IdentityMismatch")]
        await handle.terminate("test over")


async def test_a_temperature_excursion_at_receipt_is_an_incident(
    client: Client, task_queue: str, running_worker: Any, msc_protocol: Protocol
) -> None:
    protocol = msc_protocol.compressed(seconds_per_day=60)
    async with running_worker():
        handle = await operations.refer(
            client,
            referral("INC-104", "msc", disease="systemic sclerosis"),
            task_queue=task_queue,
            protocol=protocol,
        )
        go = Driver(client, handle.id, protocol)
        await go.to_consent()
        await go("order_product", PHARMA, coi_id="COI-INC-104")
        await go("receive_product", TECH, bag_coi_id="COI-INC-104", temperature_log_ok=False)
        [incident] = (await operations.record(client, handle.id)).incidents
        assert (incident.kind, incident.rule) == ("product", "TemperatureExcursion")
        assert incident.actor == TECH["actor"] and "COI-INC-104" in incident.message
        await handle.terminate("test over")
