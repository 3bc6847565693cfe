"""Registry forms through the real workflow and the CLI (dev server): MED-A falls due at the
MDTM decision and escalates when late, ``cellpath registry due`` lists it (JSON and text),
``submit_registry_form`` records it with the registry's reference, and ``cellpath registry
export --form day-100`` reads the CRS/ICANS fields from the record."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from temporalio.client import Client

from client import pathways as operations
from client import registry
from devtools.demo_answers import AE_FACTS
from devtools.devserver import DevServer
from models.encryption import EncryptionCodec
from models.protocol import Protocol
from tests.support.cli_support import Cli, cli_env
from tests.support.pathway_driver import ARD, NURSE, SIGNED, Driver, ago, fast, referral
from tests.support.waiting import eventually

pytestmark = pytest.mark.integration


@pytest.fixture
def cli(
    dev_server: DevServer,
    client: Client,
    encryption_codec: EncryptionCodec,
    task_queue: str,
    tmp_path: Path,
) -> Cli:
    keys = encryption_codec.ring.to_spec()
    return Cli(cli_env(dev_server.address, task_queue, tmp_path / "state", keys=keys))


async def test_a_form_falls_due_escalates_is_listed_and_submitted(
    client: Client, task_queue: str, running_worker, cart_protocol: Protocol, cli: Cli
) -> None:
    # 30 protocol days (MED-A after the decision) last 6 s.
    protocol = cart_protocol.compressed(seconds_per_day=0.2)
    async with running_worker():
        handle = await operations.refer(
            client, referral("REG-301"), task_queue=task_queue, protocol=protocol
        )
        go = Driver(client, handle.id, protocol)
        await go.prepare()
        await go("record_work_up", ARD, completed_at=ago(protocol, 5), lvef_percent=60, egfr=90)
        listed = await registry.forms_due(client, task_queue)
        assert [r for r in listed["forms"] if r["pathway_id"] == handle.id] == []
        await go("approve_at_mdtm", ARD, **SIGNED)
        listed = await registry.forms_due(client, task_queue)
        (row,) = [r for r in listed["forms"] if r["pathway_id"] == handle.id]
        assert (row["form"], row["status"], row["registry"]) == ("med-a", "due", "EBMT")

        async def overdue() -> list[dict[str, object]]:
            found = await registry.forms_due(client, task_queue, overdue_only=True)
            return [r for r in found["forms"] if r["pathway_id"] == handle.id]

        (late,) = await eventually(overdue, timeout=30, what="MED-A overdue")
        assert late["escalation_level"] >= 1
        out = await cli("registry", "due", "--overdue", "--json")
        assert out.code == 0, out
        doc = out.json()
        assert any(r["pathway_id"] == handle.id and r["form"] == "med-a" for r in doc["forms"])
        assert doc["unanswered"] == []
        text = await cli("registry", "due")
        assert text.code == 0 and handle.id in text.stdout and "overdue" in text.stdout

        with pytest.raises(operations.ActionRefused) as early:
            await go("submit_registry_form", ARD, form="day-100", reference="EBMT-1")
        assert early.value.kind == "FormNotYetDue"
        with pytest.raises(operations.ActionRefused) as nurse:
            await go("submit_registry_form", NURSE, form="med-a", reference="EBMT-1")
        assert nurse.value.kind == "RoleNotAllowed"
        await go("submit_registry_form", ARD, form="med-a", reference="EBMT-2026-0042")
        listed = await registry.forms_due(client, task_queue)
        assert [r for r in listed["forms"] if r["pathway_id"] == handle.id] == []
        forms = {v.key: v for v in await registry.pathway_forms(client, handle.id)}
        assert forms["med-a"].status == "submitted"
        assert forms["med-a"].reference == "EBMT-2026-0042"
        assert forms["day-100"].status == "later"


async def test_day_100_export_carries_crs_and_icans(
    client: Client, task_queue: str, running_worker, cart_protocol: Protocol, cli: Cli
) -> None:
    protocol = fast(cart_protocol, seconds_per_day=2)
    async with running_worker():
        handle = await operations.refer(
            client, referral("REG-302"), task_queue=task_queue, protocol=protocol
        )
        go = Driver(client, handle.id, protocol)
        await go.to_infusion()
        await go("record_adverse_event", NURSE, kind="CRS", grade=1, **AE_FACTS)
        await go("record_adverse_event", NURSE, kind="CRS", grade=2, **AE_FACTS)
        await go("record_adverse_event", NURSE, kind="ICANS", grade=1, **AE_FACTS)
        forms = {v.key: v.status for v in await registry.pathway_forms(client, handle.id)}
        assert forms["day-0"] == forms["day-100"] == forms["annual-1"] == "due"
        assert forms["annual-2"] == "later"

        out = await cli("registry", "export", handle.id, "--form", "day-100")
        assert out.code == 0, out
        doc = json.loads(out.stdout)
        assert doc["form"] == "day-100" and doc["registry"] == "EBMT"
        assert doc["pathway_id"] == handle.id and doc["d0"] is not None
        crs, icans = doc["crs_icans"]["crs"], doc["crs_icans"]["icans"]
        assert (crs["occurred"], crs["highest_grade"]) == (True, 2)
        assert (icans["occurred"], icans["highest_grade"]) == (True, 1)
        assert crs["onset"] is not None

        unknown = await cli("registry", "export", handle.id, "--form", "day-99")
        assert unknown.code == 2, unknown
        assert "day-99" in unknown.stderr
