"""A centre workflow continues as new without losing its record: its evidence, watches and
the update IDs it has applied carry into the next run, and its audit trail goes to the
record store first (patch ``centre-lean-runs``): the next run carries the chain's head, and
the whole trail, read back from the store and the workflow, verifies.

Runs its own dev server (``ShortHistoryServer``) that suggests continue-as-new after a few
dozen events, since the centre continues as new only when Temporal suggests it.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio
from temporalio import activity
from temporalio.api.enums.v1 import EventType
from temporalio.client import Client, WorkflowExecutionStatus
from temporalio.contrib.pydantic import pydantic_data_converter

from activities.centres import CentreActivities
from activities.channels.log import LogChannel
from activities.notifications import Notifications
from client.centre_trail import centre_trail
from client.centres import centre_policy, centre_view, record_evidence, start_centre
from client.records import open_reader
from devtools.devserver import free_port
from models import contracts
from models.centre_files import load_centre
from models.centre_writes import CentreRecordWrite
from models.contracts import centre_workflow_id
from store.centre_trail import CentreTrailStore
from tests.support.centre_driver import (
    PHARMACIST,
    STOCK,
    SUGGEST_AFTER_EVENTS,
    ShortHistoryServer,
    current_record,
    play_centre,
    runs_of,
)
from tests.support.cli_support import Cli, cli_env
from tests.support.waiting import at_rest
from worker import build_worker
from workflows.centre import CentreWorkflow

pytestmark = pytest.mark.integration


@pytest_asyncio.fixture(scope="module")
async def short_server(
    tmp_path_factory: pytest.TempPathFactory,
) -> AsyncIterator[ShortHistoryServer]:
    log = tmp_path_factory.mktemp("short-history") / "server.log"
    server = ShortHistoryServer(port=free_port(), log_file=log)
    server.start()
    try:
        await server.wait_ready()
        yield server
    finally:
        server.stop()


async def test_the_next_run_carries_what_is_open_and_the_store_the_rest(
    short_server: ShortHistoryServer, tmp_path: Path
) -> None:
    client = await Client.connect(short_server.address, data_converter=pydantic_data_converter)
    centre_id = f"can{uuid.uuid4().hex[:10]}"
    workflow_id = centre_workflow_id(centre_id)
    task_queue = f"tq-{uuid.uuid4()}"
    async with build_worker(client, task_queue):
        counts = await play_centre(client, task_queue, centre_id=centre_id)
        first, second = await runs_of(client, workflow_id)
        old = client.get_workflow_handle(workflow_id, run_id=first)
        assert (await old.describe()).status == WorkflowExecutionStatus.CONTINUED_AS_NEW
        last = (await old.fetch_history()).events[-1]
        assert last.event_type == EventType.EVENT_TYPE_WORKFLOW_EXECUTION_CONTINUED_AS_NEW
        before = await old.query(CentreWorkflow.get_record)  # as handed to the new run
        after = await current_record(client, centre_id)

        assert after.run == before.run == 2
        assert after.centre == before.centre and after.watches == before.watches
        assert after.alerts == before.open_alerts()
        assert after.version == before.version and after.opened_at == before.opened_at
        # The first run's entries were written to the store before it continued as new.
        head = (before.audit_head_seq, before.audit_head_hash)
        assert (after.audit_head_seq, after.audit_head_hash) == head
        assert after.stored_audit_seq == len(counts) and len(counts) >= 2
        reader = open_reader()
        stored = CentreTrailStore(reader.engine, reader.sealer).audit(centre_id)
        assert [e.data["doses_on_site"] for e in stored] == counts
        assert stored == before.audit

        # A click from the first run, delivered again, is recognised as applied.
        again = await record_evidence(
            client,
            centre_id,
            "record_tocilizumab_stock",
            {**PHARMACIST, "evidence": {**STOCK, "doses_on_site": counts[0]}},
            update_id=f"{workflow_id}:stock-{counts[0]}",
        )
        assert again.duplicate and again.seq == 1
        # New evidence goes on in the new run, after what came before.
        fresh = await record_evidence(
            client,
            centre_id,
            "record_tocilizumab_stock",
            {**PHARMACIST, "evidence": {**STOCK, "doses_on_site": 1}},
        )
        assert not fresh.duplicate and fresh.seq == len(counts) + 1
        await at_rest(client, workflow_id)
        final = await current_record(client, centre_id)
        assert final.audit_head_seq == len(counts) + 1 and final.version > after.version
        assert await runs_of(client, workflow_id) == [first, second]
        # The whole trail: the first run's from the store, the new entry from the workflow.
        trail = await centre_trail(await centre_view(client, centre_id), reader=reader)
        assert [e.seq for e in trail.audit] == list(range(1, len(counts) + 2))
        assert trail.problems == [] and trail.stored[0] == len(counts) and trail.live[0] == 1
        assert "record store" in trail.said()
        # `cellpath centres show` shows the whole trail and says what it read.
        cli = Cli(
            cli_env(
                short_server.address,
                task_queue,
                tmp_path / "state",
                CELLPATH_DATABASE_URL=os.environ["CELLPATH_DATABASE_URL"],
            )
        )
        shown = await cli("centres", "show", centre_id, "--json")
        assert shown.code == 0, shown
        doc = shown.json()
        assert [e["seq"] for e in doc["audit"]] == [e.seq for e in trail.audit]
        assert doc["chain_intact"] and doc["read"].startswith(f"{len(counts)} audit entries")
        await client.get_workflow_handle(workflow_id).terminate("test over")


@activity.defn(name=contracts.KEEP_CENTRE_RECORDS)
async def store_down(write: CentreRecordWrite) -> None:
    raise RuntimeError("the record store is unreachable (test)")


@activity.defn(name=contracts.KEEP_RECORDS)
async def pathway_records_unused(write: Any) -> None:
    raise AssertionError("no pathway runs on this worker")


async def test_a_store_that_cannot_be_written_keeps_the_run_going(
    short_server: ShortHistoryServer,
) -> None:
    """The trail is never dropped: while the store cannot be written the centre stays in its
    run (it tries again later) and goes on taking evidence."""
    client = await Client.connect(short_server.address, data_converter=pydantic_data_converter)
    centre_id = f"cad{uuid.uuid4().hex[:10]}"
    workflow_id = centre_workflow_id(centre_id)
    task_queue = f"tq-{uuid.uuid4()}"
    centres = CentreActivities(client)
    notifications = Notifications(LogChannel())
    activities = [
        notifications.notify_escalation,
        notifications.notify_fallback,
        centres.notify_centre_pathways,
        store_down,
        pathway_records_unused,
    ]
    async with build_worker(client, task_queue, activities=activities):
        policy = centre_policy()
        centre = load_centre(
            Path("centres") / "centre-a.yaml", now=datetime.now(UTC), time_scale=policy.time_scale
        ).model_copy(update={"id": centre_id})
        assert await start_centre(client, centre, policy, task_queue=task_queue)
        handle = client.get_workflow_handle(workflow_id)

        async def keep_failed() -> bool:
            events = (await handle.fetch_history()).events
            return any(e.HasField("activity_task_failed_event_attributes") for e in events)

        doses = 4
        while not await keep_failed():
            assert doses < 4 + SUGGEST_AFTER_EVENTS, "no store write was tried"
            await record_evidence(
                client,
                centre_id,
                "record_tocilizumab_stock",
                {**PHARMACIST, "evidence": {**STOCK, "doses_on_site": doses}},
            )
            doses += 1
            await at_rest(client, workflow_id)
        receipt = await record_evidence(
            client,
            centre_id,
            "record_tocilizumab_stock",
            {**PHARMACIST, "evidence": {**STOCK, "doses_on_site": 1}},
        )
        assert receipt.seq == doses - 3 and not receipt.duplicate
        await at_rest(client, workflow_id)
        assert len(await runs_of(client, workflow_id)) == 1
        record = await current_record(client, centre_id)
        assert record.stored_audit_seq == 0 and len(record.audit) == receipt.seq
        await handle.terminate("test over")
