"""Every committed history, pathway or centre, replays on the current workflow code.

A determinism guard.

A failure here means a change altered the commands a workflow issues for the same history:
guard it with ``workflow.patched(...)`` rather than regenerating the files.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from temporalio.client import WorkflowHistory
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.worker import Replayer
from temporalio.worker.workflow_sandbox import SandboxedWorkflowRunner, SandboxRestrictions

from models import contracts
from worker import PASSTHROUGH
from workflows.centre import CENTRE_LEAN_PATCH, CentreWorkflow
from workflows.pathway import PathwayWorkflow

HISTORIES = sorted((Path(__file__).resolve().parents[1] / "histories").glob("*.json"))


def test_histories_are_committed() -> None:
    names = {p.name.rsplit("-run", 1)[0] for p in HISTORIES}
    assert any(n.startswith("cart-full") for n in names)
    assert any(n.startswith("msc-full") for n in names)
    assert any(n.startswith("centre-full") for n in names)


def test_a_centre_history_spans_continue_as_new() -> None:
    runs = [p for p in HISTORIES if p.name.startswith("centre-full-")]
    assert len(runs) >= 2, "the centre histories hold a run and the run it continued into"
    first = WorkflowHistory.from_json(runs[0].stem, runs[0].read_text(encoding="utf-8"))
    assert first.events[-1].HasField("workflow_execution_continued_as_new_event_attributes")


def test_a_lean_centre_history_writes_the_store_before_continuing() -> None:
    """``centre-lean``: the first run marks the patch, writes its trail to the store, then
    continues as new (carrying only what is open)."""
    runs = [p for p in HISTORIES if p.name.startswith("centre-lean-")]
    assert len(runs) >= 2
    first = WorkflowHistory.from_json(runs[0].stem, runs[0].read_text(encoding="utf-8"))
    markers = [
        e.marker_recorded_event_attributes.details["patch-data"].payloads[0].data
        for e in first.events
        if e.HasField("marker_recorded_event_attributes")
    ]
    assert any(CENTRE_LEAN_PATCH.encode() in m for m in markers)
    activities = [
        e.activity_task_scheduled_event_attributes.activity_type.name
        for e in first.events
        if e.HasField("activity_task_scheduled_event_attributes")
    ]
    assert activities[-1] == contracts.KEEP_CENTRE_RECORDS
    assert first.events[-1].HasField("workflow_execution_continued_as_new_event_attributes")


@pytest.mark.parametrize("path", HISTORIES, ids=[p.stem for p in HISTORIES])
async def test_history_replays(path: Path) -> None:
    history = WorkflowHistory.from_json(path.stem, path.read_text(encoding="utf-8"))
    replayer = Replayer(
        workflows=[PathwayWorkflow, CentreWorkflow],
        data_converter=pydantic_data_converter,
        workflow_runner=SandboxedWorkflowRunner(
            restrictions=SandboxRestrictions.default.with_passthrough_modules(*PASSTHROUGH)
        ),
    )
    result = await replayer.replay_workflow(history, raise_on_replay_failure=True)
    assert result.replay_failure is None
