"""Drives a centre workflow across continue-as-new, on a server that suggests it early.

A CentreWorkflow continues as new only when Temporal suggests it (history size); the dev
server normally suggests it after thousands of events. ``ShortHistoryServer`` lowers the
suggestion to ``SUGGEST_AFTER_EVENTS``, so a few evidence updates reach a second run:

    server = ShortHistoryServer(port=free_port())
    centre_id = await play_centre(client, task_queue, runs=2)

Used by the continue-as-new test and by ``tests/histories/regenerate.py`` (``centre-full``).
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from temporalio.client import Client, WorkflowExecutionStatus

from client.centres import centre_policy, record_evidence, start_centre
from devtools.devserver import DevServer
from models.centre_files import load_centre
from models.centre_record import CentreRecord
from models.contracts import centre_workflow_id
from tests.support.waiting import at_rest, eventually
from workflows.centre import CentreWorkflow

# Small enough that a handful of evidence updates reach a new run, large enough that a run
# does more than start and continue.
SUGGEST_AFTER_EVENTS = 60
PHARMACIST = {"actor": "p.laurent", "role": "pharmacist"}
STOCK = {"valid_until": "2099-01-01", "resupply_within": "8h"}


class ShortHistoryServer(DevServer):
    """The dev server, suggesting continue-as-new after ``SUGGEST_AFTER_EVENTS`` events."""

    def command(self) -> list[str]:
        return [
            *super().command(),
            "--dynamic-config-value",
            f"limit.historyCount.suggestContinueAsNew={SUGGEST_AFTER_EVENTS}",
        ]


async def runs_of(client: Client, workflow_id: str) -> list[str]:
    """The run IDs of a workflow, oldest first, following each run's continue-as-new event
    (from the server's history: no lag, unlike the visibility store)."""
    described = await client.get_workflow_handle(workflow_id).describe()
    run_id = described.raw_description.workflow_execution_info.first_run_id
    runs = [run_id]
    while True:
        handle = client.get_workflow_handle(workflow_id, run_id=run_id)
        last = (await handle.fetch_history()).events[-1]
        if not last.HasField("workflow_execution_continued_as_new_event_attributes"):
            return runs
        run_id = last.workflow_execution_continued_as_new_event_attributes.new_execution_run_id
        runs.append(run_id)


async def current_record(client: Client, centre_id: str) -> CentreRecord:
    handle = client.get_workflow_handle(centre_workflow_id(centre_id))
    return await handle.query(CentreWorkflow.get_record)


async def play_centre(
    client: Client, task_queue: str, *, centre_id: str, runs: int = 2
) -> list[int]:
    """Open a copy of demo centre A as ``centre_id`` and record tocilizumab counts until the
    workflow has ``runs`` runs; returns the counts recorded, in order."""
    policy = centre_policy()
    centre = load_centre(
        Path("centres") / "centre-a.yaml", now=datetime.now(UTC), time_scale=policy.time_scale
    ).model_copy(update={"id": centre_id})
    assert await start_centre(client, centre, policy, task_queue=task_queue)
    workflow_id = centre_workflow_id(centre_id)
    await at_rest(client, workflow_id)
    counts: list[int] = []
    for doses in range(4, 4 + 10 * SUGGEST_AFTER_EVENTS):
        if len(await runs_of(client, workflow_id)) >= runs:
            break
        await record_evidence(
            client,
            centre_id,
            "record_tocilizumab_stock",
            {**PHARMACIST, "evidence": {**STOCK, "doses_on_site": doses}},
            update_id=f"{workflow_id}:stock-{doses}",
        )
        counts.append(doses)
        await at_rest(client, workflow_id)

    async def latest_running() -> bool:
        described = await client.get_workflow_handle(workflow_id).describe()
        return described.status == WorkflowExecutionStatus.RUNNING

    await eventually(latest_running, what=f"{workflow_id} running its new run")
    await at_rest(client, workflow_id)
    return counts
