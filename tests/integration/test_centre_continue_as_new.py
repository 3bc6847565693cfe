"""A centre workflow continues as new without losing its record: evidence, audit trail,
alerts and the update IDs it has applied all carry into the next run.

Runs its own dev server (``ShortHistoryServer``) that suggests continue-as-new after a few
dozen events, since the centre continues as new only when Temporal suggests it.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import pytest_asyncio
from temporalio.api.enums.v1 import EventType
from temporalio.client import Client, WorkflowExecutionStatus
from temporalio.contrib.pydantic import pydantic_data_converter

from client.centres import record_evidence
from devtools.devserver import free_port
from models.contracts import centre_workflow_id
from tests.support.centre_driver import (
    PHARMACIST,
    STOCK,
    ShortHistoryServer,
    current_record,
    play_centre,
    runs_of,
)
from tests.support.waiting import at_rest
from worker import build_worker
from workflows.centre import CentreWorkflow

pytestmark = pytest.mark.integration


@pytest_asyncio.fixture
async def short_client(tmp_path: Path) -> AsyncIterator[Client]:
    server = ShortHistoryServer(port=free_port(), log_file=tmp_path / "server.log")
    server.start()
    try:
        await server.wait_ready()
        yield await Client.connect(server.address, data_converter=pydantic_data_converter)
    finally:
        server.stop()


async def test_the_next_run_carries_the_whole_record(short_client: Client) -> None:
    client = short_client
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
        assert after.centre == before.centre and after.audit == before.audit
        assert after.alerts == before.alerts and after.watches == before.watches
        assert after.version == before.version and after.opened_at == before.opened_at
        recorded = [e.data["doses_on_site"] for e in after.audit]
        assert recorded == counts and len(counts) >= 2
        assert [e.seq for e in after.audit] == list(range(1, len(counts) + 1))

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
        assert len(final.audit) == len(counts) + 1 and final.version > after.version
        assert await runs_of(client, workflow_id) == [first, second]
        await client.get_workflow_handle(workflow_id).terminate("test over")
