"""Every committed history, pathway or centre, replays on the current workflow code.

A determinism guard.

A failure here means a change altered the commands a workflow issues for the same history:
guard it with ``workflow.patched(...)`` rather than regenerating the files.
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import pytest
from temporalio.client import WorkflowHistory
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.worker import Replayer
from temporalio.worker.workflow_sandbox import SandboxedWorkflowRunner, SandboxRestrictions

from models import contracts
from models.protocol_claim_check import COMPRESSED, ProtocolClaimCheck, ShelfOf
from worker import PASSTHROUGH
from workflows.centre import CENTRE_LEAN_PATCH, CentreWorkflow
from workflows.patches import ROLLUP_PATCH
from workflows.pathway import PathwayWorkflow

HERE = Path(__file__).resolve().parents[1] / "histories"
HISTORIES = sorted(HERE.glob("*.json"))
#: the protocols that the histories' claim-checked payloads name (tests/histories/regenerate.py)
PROTOCOLS = [json.loads(p.read_text(encoding="utf-8")) for p in (HERE / "protocols").glob("*.json")]
#: as a worker reads histories: the protocol claim check resolved (models/protocol_claim_check.py)
CONVERTER = dataclasses.replace(
    pydantic_data_converter, payload_codec=ProtocolClaimCheck(ShelfOf(PROTOCOLS))
)


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
        data_converter=CONVERTER,
        workflow_runner=SandboxedWorkflowRunner(
            restrictions=SandboxRestrictions.default.with_passthrough_modules(*PASSTHROUGH)
        ),
    )
    result = await replayer.replay_workflow(history, raise_on_replay_failure=True)
    assert result.replay_failure is None


def test_a_lean2_history_has_one_marker_a_run_and_no_protocol_fetch() -> None:
    """``lean2-cart``: each run records the rollup patch only; its later runs start with
    the protocol claim-checked (no ``fetch_protocol_version``), the payload compressed."""
    runs = [p for p in HISTORIES if p.name.startswith("lean2-cart-")]
    assert len(runs) >= 2
    for path in runs:
        history = WorkflowHistory.from_json(path.stem, path.read_text(encoding="utf-8"))
        markers = [
            json.loads(e.marker_recorded_event_attributes.details["patch-data"].payloads[0].data)
            for e in history.events
            if e.HasField("marker_recorded_event_attributes")
        ]
        assert [m["id"] for m in markers] == [ROLLUP_PATCH], path.name
        activities = {
            e.activity_task_scheduled_event_attributes.activity_type.name
            for e in history.events
            if e.HasField("activity_task_scheduled_event_attributes")
        }
        assert contracts.FETCH_PROTOCOL not in activities, path.name
    later = WorkflowHistory.from_json(runs[1].stem, runs[1].read_text(encoding="utf-8"))
    [start] = later.events[0].workflow_execution_started_event_attributes.input.payloads
    assert start.metadata["encoding"] == COMPRESSED
    assert start.ByteSize() < 4000, "the protocol stays in the store"
