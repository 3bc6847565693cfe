"""The record store written by the workflows and read back once Temporal has forgotten.

A CAR-T pathway is walked to infusion, into a second run (continue-as-new at the follow-up
year) and closed; its workflow executions are then deleted from Temporal, as the namespace's
retention would. ``show``, ``audit export`` and ``verify``, ``trace`` and ``list --closed``
must answer from the store exactly what they answered from the workflow. A row then changed
in SQL, past the append-only trigger, is caught by ``audit verify``. Each test runs on
SQLite and on a throwaway PostgreSQL (tests/support/store_engines.py).
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import text
from temporalio.api.common.v1 import WorkflowExecution
from temporalio.api.workflowservice.v1 import DeleteWorkflowExecutionRequest
from temporalio.client import Client
from temporalio.service import RPCError, RPCStatusCode

import store
from client import pathways as operations
from devtools.demo_answers import AE_FACTS, FIT
from devtools.devserver import DevServer
from models.encryption import EncryptionCodec
from models.protocol import Protocol
from tests.support.centre_driver import runs_of
from tests.support.cli_support import Cli, cli_env
from tests.support.pathway_driver import APH, ARD, CTS, NURSE, PHARMA, TECH, Driver, fast, referral
from tests.support.signing import TEST_SIGNERS
from tests.support.waiting import eventually
from worker import build_worker

pytestmark = pytest.mark.integration
pytest_plugins = ["tests.support.store_engines"]

LOT = "LOT-STORE-0001"


async def walk_to_infusion(go: Driver, coi: str) -> None:
    await go.to_consent()
    await go("record_washout", CTS, stopped=[], treatments=["none"])
    await go("book_apheresis", CTS, slot_at=datetime.now(UTC).isoformat())
    await go("record_apheresis", APH, coi_id=coi)
    await go("ship_to_manufacturer", TECH)
    await go("release_product", PHARMA, lot=LOT)
    await go("ship_to_centre", PHARMA)
    with pytest.raises(operations.ActionRefused):
        # Another patient's bag: refused, and an incident of the deviation log.
        await go("receive_product", TECH, bag_coi_id="COI-NOT-THIS-ONE", temperature_log_ok=True)
    await go("receive_product", TECH, bag_coi_id=coi, temperature_log_ok=True)
    await go("clear_for_treatment", CTS, **FIT, tocilizumab_doses_on_site=2)
    await go("start_lymphodepletion", NURSE)
    await go("complete_lymphodepletion", NURSE)
    await go.thaw(coi)
    await go("infuse", NURSE, bag_coi_id=coi, checked_by=["n.bernard", "dr.roux"])


async def delete_executions(client: Client, workflow_id: str) -> None:
    """What the namespace's retention does to a closed workflow: every run deleted."""
    runs = await runs_of(client, workflow_id)

    async def delete() -> None:
        for run_id in runs:
            request = DeleteWorkflowExecutionRequest(
                namespace=client.namespace,
                workflow_execution=WorkflowExecution(workflow_id=workflow_id, run_id=run_id),
            )
            try:
                await client.workflow_service.delete_workflow_execution(request)
            except RPCError as err:
                if err.status != RPCStatusCode.NOT_FOUND:
                    raise

    async def gone() -> bool:
        try:
            await client.get_workflow_handle(workflow_id).describe()
        except RPCError as err:
            return err.status == RPCStatusCode.NOT_FOUND
        # Asked again (idempotent): a request the loaded server dropped is not waited on.
        await delete()
        return False

    await delete()
    # The server deletes in the background: under a second on the tests' server, which skips
    # the wait for the closed visibility record (TEST_SERVER_CONFIG, tests/conftest.py).
    await eventually(gone, timeout=180, interval=2, what=f"{workflow_id} deleted")


def tamper_sql(dialect: str) -> list[str]:
    """Change an entry's recorded state past the trigger (as a database owner could)."""
    change = "UPDATE audit_entries SET to_state = 'withdrawn' WHERE seq = 3"
    if dialect == "postgresql":
        return [
            "ALTER TABLE audit_entries DISABLE TRIGGER audit_entries_append_only",
            change,
            "ALTER TABLE audit_entries ENABLE TRIGGER audit_entries_append_only",
        ]
    return ["DROP TRIGGER audit_entries_no_update", change]


async def answers(cli: Cli, pathway_id: str, coi: str, export: Path) -> dict[str, Any]:
    shown = await cli("show", pathway_id, "--json")
    assert shown.code == 0, shown
    exported = await cli("audit", "export", pathway_id, "-o", str(export))
    assert exported.code == 0, exported
    verified = await cli("audit", "verify", str(export), "--live", "--json")
    assert verified.code == 0, verified
    traced = {}
    for identifier in (coi, LOT):
        found = await cli("trace", identifier, "--json")
        assert found.code == 0, found
        traced[identifier] = found.json()
    closed = await cli("list", "--closed", "--json")
    assert closed.code == 0, closed
    logged = await cli("incidents", pathway_id, "--json")
    assert logged.code == 0, logged
    return {
        "show": shown.json(),
        "export": export.read_text(encoding="utf-8"),
        "export_note": exported.stderr,
        "verify": verified.json(),
        "trace": traced,
        "closed": closed.json(),
        "incidents": logged.json(),
    }


async def reads_whole_while_open(cli: Cli, client: Client, pathway_id: str, export: Path) -> None:
    """The second run is lean (its record carries the chain's head, not the first run's
    entries): show, audit export + verify --live and incidents read the whole trail, the
    first run's part from the store."""
    carried = await operations.record(client, pathway_id)
    assert carried.earlier is not None and carried.earlier.audit_seq > len(carried.audit)
    shown = await cli("show", pathway_id, "--json")
    assert shown.code == 0 and shown.json()["source"] == "temporal+store", shown
    exported = await cli("audit", "export", pathway_id, "-o", str(export))
    assert exported.code == 0 and "record store" in exported.stderr, exported
    seqs = [json.loads(line).get("seq") for line in export.read_text().splitlines()]
    seqs = [s for s in seqs if s is not None]
    assert seqs == list(range(1, carried.audit[-1].seq + 1))
    verified = await cli("audit", "verify", str(export), "--live", "--json")
    assert verified.code == 0 and verified.json()["intact"], verified
    logged = await cli("incidents", pathway_id, "--json")
    assert logged.code == 0, logged
    rules = [i["rule"] for i in logged.json()["incidents"]]
    # The wrong bag was refused in the first run: not carried, read from the store.
    assert rules[0] == "IdentityMismatch" and len(rules) == carried.incident_count


async def test_a_closed_pathway_answers_from_the_store_once_temporal_deleted_it(
    client: Client,
    task_queue: str,
    demo_centres: dict[str, str],
    dev_server: DevServer,
    encryption_codec: EncryptionCodec,
    cart_protocol: Protocol,
    database_url: str,
    tmp_path: Path,
) -> None:
    store.upgrade(database_url)
    records = store.RecordStore.open(database_url, codec=encryption_codec)
    cli = Cli(
        cli_env(
            dev_server.address,
            task_queue,
            tmp_path / "state",
            keys=encryption_codec.ring.to_spec(),
            CELLPATH_DATABASE_URL=database_url,
        )
    )
    protocol = fast(cart_protocol)
    pseudonym = f"STO-{abs(hash(database_url)) % 900000 + 100000}"
    coi = f"COI-{pseudonym}"
    try:
        async with build_worker(client, task_queue, records=records, actor_keys=TEST_SIGNERS):
            handle = await operations.refer(
                client, referral(pseudonym), task_queue=task_queue, protocol=protocol
            )
            go = Driver(client, handle.id, protocol)
            await walk_to_infusion(go, coi)

            # The infusion is in the store at once, before the run ends.
            async def infusion_stored() -> bool:
                stored = records.reader.pathway(handle.id)
                return stored is not None and any(p.kind == "infused" for p in stored.product)

            await eventually(infusion_stored, timeout=30, what="infusion written at once")
            await go("record_adverse_event", NURSE, kind="CRS", grade=2, **AE_FACTS)
            await go.discharge()
            for label in ("D7", "D14", "D28", "M3", "M6", "M12"):
                await go("record_visit", NURSE, visit=label)

            async def ran_anew() -> bool:
                return len(await runs_of(client, handle.id)) == 2

            # M12 ends the first run once its facts are written: the rest goes to the second.
            await eventually(ran_anew, timeout=60, interval=0.2, what="the follow-up year")
            await go("start_long_term_follow_up", ARD)
            await reads_whole_while_open(cli, client, handle.id, tmp_path / "open.jsonl")
            await go("record_death", ARD, reason="unrelated cardiac arrest")
            await handle.result()
            assert len(await runs_of(client, handle.id)) == 2

            before = await answers(cli, handle.id, coi, tmp_path / "before.jsonl")
            assert before["show"]["source"] == "temporal+store"
            assert "its workflow in Temporal" in before["export_note"]
            await delete_executions(client, handle.id)
        after = await answers(cli, handle.id, coi, tmp_path / "after.jsonl")

        assert after["show"].pop("source") == "store"
        before["show"].pop("source")
        for shown in (before["show"], after["show"]):
            # Counted from when the command ran: the one figure a later call must change.
            for deadline in shown["deadlines"]:
                deadline.pop("seconds_left")
        assert after["show"] == before["show"]
        assert after["show"]["status"] == "COMPLETED" and after["show"]["allowed"] == []
        assert after["export"] == before["export"]
        assert "record store" in after["export_note"]
        assert after["verify"]["intact"] and after["verify"]["source"] == "store"
        assert after["trace"] == before["trace"]
        assert [p["pathway_id"] for p in after["trace"][LOT]["pathways"]] == [handle.id]
        kinds = [e["kind"] for e in after["trace"][coi]["pathways"][0]["events"]]
        assert kinds == [
            "collected", "shipped", "released", "shipped", "received", "thawed", "infused",
        ]  # fmt: skip
        assert handle.id in [p["pathway_id"] for p in after["closed"]["pathways"]]
        assert after["incidents"] == before["incidents"]
        logged = after["incidents"]["incidents"]
        # The wrong bag, and the steps sent again until their windows opened.
        assert logged and logged[0]["rule"] == "IdentityMismatch"

        # Every entry once, the chain whole, ending at the head its outcome recorded.
        stored = records.reader.pathway(handle.id)
        assert stored is not None and stored.outcome is not None
        assert [e.seq for e in stored.audit] == list(range(1, len(stored.audit) + 1))
        assert stored.verify() == []
        assert stored.outcome.outcome == after["show"]["outcome"]
        assert [i.seq for i in stored.incidents] == [i["seq"] for i in logged]

        # A row changed in SQL, past the trigger, is caught by `audit verify`.
        with records.engine.begin() as conn:
            for statement in tamper_sql(records.engine.dialect.name):
                conn.execute(text(statement))
        tampered = await cli("audit", "export", handle.id, "-o", str(tmp_path / "t.jsonl"))
        assert tampered.code == 0 and "does not verify" in tampered.stderr, tampered
        caught = await cli("audit", "verify", str(tmp_path / "t.jsonl"), "--json")
        assert caught.code == 1, caught
        assert any(p["seq"] == 3 for p in caught.json()["problems"])
        earlier = await cli("audit", "verify", str(tmp_path / "before.jsonl"), "--live", "--json")
        assert earlier.code == 1 and not earlier.json()["intact"], earlier
    finally:
        records.dispose()
