"""Stored configurations across chart versions (states/migrations.py): a record without a
chart version is version 1, a renamed state is mapped, an unknown one refuses the pathway
for good with words an administrator can act on, never a workflow task retried forever."""

from __future__ import annotations

import uuid

import pytest
from temporalio.api.enums.v1 import EventType
from temporalio.client import Client, WorkflowFailureError
from temporalio.exceptions import ApplicationError

from models.contracts import PATHWAY_WORKFLOW
from models.pathway import PathwayInput
from models.protocol import Protocol, Therapy
from models.record import PathwayRecord
from states import errors as e
from states import migrations
from states.cart import CarTChart
from states.migrations import CHART_VERSIONS, RENAMES, migrate
from states.registry import CHARTS
from tests.support.chart_factory import CART, Pathway, new_record

# A CAR-T chart "version 2" in which version 1's "stored_on_shelf" became "stored".
RENAMED = {1: {"stored_on_shelf": "stored"}}


def stored_under_old_name(pseudonym: str = "LUP-201", *, held: bool = True) -> PathwayRecord:
    """A version-1 CAR-T record at the step version 2 renamed, on hold there or not."""
    pw = Pathway.at(CART, "stored", pseudonym=pseudonym)
    record = pw.record.model_copy(deep=True)
    if held:
        pw.send("hold")
        record = pw.record.model_copy(deep=True)
        record.history = {"h": ["product", "stored_on_shelf"]}
        record.held_from = "stored_on_shelf"
    else:
        record.configuration = ["pathway", "product", "stored_on_shelf"]
    # No deadline: a run started on it has nothing to escalate.
    record.deadlines = []
    return record


class TestVersions:
    """Every chart has a version; a record from before the field is version 1."""

    def test_a_record_without_chart_version_is_version_1(self) -> None:
        stored = new_record(Pathway.new(CART).protocol).model_dump(mode="json")
        del stored["chart_version"]
        assert PathwayRecord.model_validate(stored).chart_version == 1

    def test_every_chart_has_a_version_and_its_renames_lead_to_its_states(self) -> None:
        assert set(CHART_VERSIONS) == set(CHARTS) == set(RENAMES)
        for therapy, renames in RENAMES.items():
            assert all(0 < v < CHART_VERSIONS[therapy] for v in renames)
            for table in renames.values():
                assert set(table.values()) <= set(CHARTS[therapy].states_map)

    def test_current_records_are_unchanged(self) -> None:
        pw = Pathway.at(CART, "stored")
        before = pw.record.model_copy(deep=True)
        migrate(pw.record, CarTChart)
        assert pw.record == before


class TestRenamedState:
    """A state renamed between versions is found under its new name, holds included."""

    def test_configuration_is_mapped(self) -> None:
        record = stored_under_old_name(held=False)
        migrate(record, CarTChart, version=2, renames=RENAMED)
        assert record.chart_version == 2
        assert record.configuration == ["pathway", "product", "stored"]

    def test_history_and_hold_are_mapped(self) -> None:
        record = stored_under_old_name()
        migrate(record, CarTChart, version=2, renames=RENAMED)
        assert (record.chart_version, record.configuration) == (2, ["held"])
        assert record.history == {"h": ["product", "stored"]}
        assert record.held_from == "stored"

    def test_the_migrated_pathway_resumes_where_it_stopped(self) -> None:
        record = stored_under_old_name()
        migrate(record, CarTChart, version=2, renames=RENAMED)
        pw = Pathway.new(CART)
        pw.record = record
        pw.rebuild()
        pw.send("resume")
        assert pw.leaf == "stored"
        assert "clear_for_treatment" in pw.chart.allowed_now()

    def test_without_the_rename_the_old_name_is_refused(self) -> None:
        record = stored_under_old_name()
        with pytest.raises(e.UnknownChartState, match="stored_on_shelf") as refused:
            migrate(record, CarTChart)
        assert "administrator" in refused.value.message
        assert refused.value.rule == "UnknownChartState"


class TestUnknownState:
    """A state no version knows, or a record from newer code, refuses the pathway."""

    def test_unknown_state_is_refused(self) -> None:
        pw = Pathway.new(CART)
        pw.record.configuration = ["pathway", "product", "on_the_moon"]
        with pytest.raises(e.UnknownChartState, match="on_the_moon"):
            migrate(pw.record, CarTChart)

    def test_record_from_a_newer_chart_is_refused(self) -> None:
        pw = Pathway.new(CART)
        pw.record.chart_version = CHART_VERSIONS[Therapy.CAR_T] + 1
        with pytest.raises(e.UnknownChartState, match="newer version"):
            migrate(pw.record, CarTChart)


@pytest.mark.integration
class TestPathwayWorkflowOnAStoredConfiguration:
    """The workflow maps a renamed state when a run starts, and fails an unknown one at
    once with a non-retryable error (no workflow task failure, so no endless retry)."""

    async def test_renamed_state_is_mapped_when_the_run_starts(
        self,
        client: Client,
        task_queue: str,
        running_worker,
        cart_protocol: Protocol,
        monkeypatch: pytest.MonkeyPatch,
    ) -> None:
        monkeypatch.setitem(migrations.CHART_VERSIONS, Therapy.CAR_T, 2)
        monkeypatch.setitem(migrations.RENAMES, Therapy.CAR_T, RENAMED)
        record = stored_under_old_name(f"LUP-{uuid.uuid4().hex[:8]}")
        async with running_worker():
            handle = await client.start_workflow(
                PATHWAY_WORKFLOW,
                PathwayInput(protocol=cart_protocol, record=record),
                id=record.pathway_id,
                task_queue=task_queue,
            )
            try:
                stored = await handle.query("get_record", result_type=PathwayRecord)
                assert stored.history == {"h": ["product", "stored"]}
                assert (stored.chart_version, stored.held_from) == (2, "stored")
            finally:
                await handle.terminate("test done")

    async def test_unknown_state_fails_the_run_once_with_a_clear_error(
        self, client: Client, task_queue: str, running_worker, cart_protocol: Protocol
    ) -> None:
        record = stored_under_old_name(f"LUP-{uuid.uuid4().hex[:8]}")
        async with running_worker():
            handle = await client.start_workflow(
                PATHWAY_WORKFLOW,
                PathwayInput(protocol=cart_protocol, record=record),
                id=record.pathway_id,
                task_queue=task_queue,
            )
            with pytest.raises(WorkflowFailureError) as failed:
                await handle.result()
        cause = failed.value.cause
        assert isinstance(cause, ApplicationError)
        assert cause.type == "UnknownChartState" and cause.non_retryable
        assert "stored_on_shelf" in cause.message and "administrator" in cause.message
        events = [event.event_type async for event in handle.fetch_history_events()]
        assert EventType.EVENT_TYPE_WORKFLOW_TASK_FAILED not in events
        assert events.count(EventType.EVENT_TYPE_WORKFLOW_EXECUTION_FAILED) == 1
