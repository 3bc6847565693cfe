"""Preparation tasks (states/preparation.py, models/preparation.py): recorded by staff,
gating the steps the protocol names, armed with a deadline by their milestone, escalated
when late, shown as open until recorded; nothing of it on a pathway without tracking.

Pure: the real protocols on the chart factory's explicit clock; ``reconcile`` and
``reconcile_tasks`` run after every accepted action as the workflow runs them.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from models.preparation import PreparationRecord
from models.protocol import Protocol, Therapy, load_default_protocol
from models.record import DeadlineStatus
from states import errors as e
from states.deadlines import escalate_due, reconcile
from states.preparation import (
    PreparationTaskOpen,
    TaskAlreadyRecorded,
    TaskDetailsMissing,
    UnknownTask,
    reconcile_tasks,
    standing_flags,
    task_key,
    task_views,
)
from tests.support.chart_factory import T0, Pathway, build_chart, new_record
from tests.support.pathway_driver import task_details
from workflows.details import current_details

CART = load_default_protocol(Therapy.CAR_T)
MSC = load_default_protocol(Therapy.MSC)


@dataclass
class Prepared(Pathway):
    """A pathway that tracks preparation tasks, reconciled as the workflow does."""

    @classmethod
    def start(cls, proto: Protocol, *, tracked: bool = True) -> Prepared:
        record = new_record(proto, now=T0)
        if tracked:
            record.preparation = PreparationRecord()
        pw = cls(proto, record, build_chart(record, proto), T0)
        reconcile(record, proto, [], T0)
        reconcile_tasks(record, proto, [], T0)
        return pw

    def send(self, event: str, **overrides: Any) -> Prepared:
        before = list(self.record.configuration)
        super().send(event, **overrides)
        reconcile(self.record, self.protocol, before, self.now)
        reconcile_tasks(self.record, self.protocol, before, self.now)
        return self

    def record_task(self, key: str, **details: str) -> Prepared:
        task = self.protocol.task(key)
        assert task is not None
        return self.send("record_task", task=key, details=details or task_details(task))

    def record_all(self, *, but: tuple[str, ...] = ()) -> None:
        for task in self.protocol.preparation:
            if task.met_by is None and task.key not in but:
                self.record_task(task.key)

    def task_deadline(self, key: str) -> Any:
        found = [d for d in self.record.deadlines if d.key == task_key(key)]
        return found[0] if found else None

    def views(self) -> dict[str, str]:
        return {v.key: v.status for v in task_views(self.record, self.protocol)}


def gating(proto: Protocol, event: str) -> list[str]:
    return [t.key for t in proto.preparation if event in t.gates]


class TestTasksAreProtocolData:
    """Every shipped protocol lists its tasks, each with a source and a real milestone."""

    @pytest.mark.parametrize("proto", [CART, MSC], ids=lambda p: p.id)
    def test_each_task_has_its_source(self, proto: Protocol) -> None:
        assert proto.preparation
        for task in proto.preparation:
            assert task.source_of("within") is not None, task.key

    def test_the_car_t_tasks_of_the_issue(self) -> None:
        keys = {t.key for t in CART.preparation}
        assert {
            "patient_information",
            "consent_recorded",
            "fertility_counselling",
            "contraception",
            "pregnancy_test",
            "vaccination_review",
            "revaccination_plan",
            "caregiver_and_stay",
            "driving_advice",
            "irradiated_blood",
            "alert_card",
            "referrer_mdtm",
            "referrer_d0",
            "referrer_discharge",
            "referrer_exit",
        } <= keys
        assert set(gating(CART, "start_lymphodepletion")) >= {"pregnancy_test", "contraception"}

    def test_compressed_protocols_scale_task_deadlines(self) -> None:
        fast = CART.compressed(seconds_per_day=1)
        task = fast.task("pregnancy_test")
        assert task is not None and task.within == timedelta(seconds=14)


class TestGates:
    """A step an unrecorded task gates is refused, naming the task; recorded, it passes."""

    def test_lymphodepletion_refused_while_the_pregnancy_test_is_open(self) -> None:
        pw = Prepared.start(CART)
        pw.record_all(but=("pregnancy_test",))
        pw.run_until("cleared")
        before = pw.snapshot()
        with pytest.raises(PreparationTaskOpen, match="Pregnancy test") as refused:
            pw.check("start_lymphodepletion")
        assert isinstance(refused.value, e.SafetyRefusal)
        assert refused.value.event == "start_lymphodepletion"
        assert refused.value.state == "cleared"
        assert pw.snapshot() == before
        pw.record_task("pregnancy_test", result="negative")
        pw.send("start_lymphodepletion")
        assert pw.leaf == "lymphodepletion"

    def test_a_positive_test_does_not_complete_the_task(self) -> None:
        pw = Prepared.start(CART)
        with pytest.raises(TaskDetailsMissing, match="negative"):
            pw.check("record_task", task="pregnancy_test", details={"result": "positive"})
        with pytest.raises(TaskDetailsMissing, match="needs these details: result"):
            pw.check("record_task", task="pregnancy_test", details={})
        with pytest.raises(TaskDetailsMissing, match="takes no detail"):
            pw.check("record_task", task="alert_card", details={"colour": "red"})

    def test_unknown_and_repeated_tasks_are_refused(self) -> None:
        pw = Prepared.start(CART)
        with pytest.raises(UnknownTask, match="pregnancy_test"):
            pw.check("record_task", task="pregnancy_tset", details={})
        pw.record_task("alert_card")
        with pytest.raises(TaskAlreadyRecorded, match="already recorded"):
            pw.check("record_task", task="alert_card", details={})

    def test_msc_gates_clearance_on_its_own_tasks(self) -> None:
        pw = Prepared.start(MSC)
        pw.run_until("stored")
        with pytest.raises(PreparationTaskOpen, match="contraception"):
            pw.check("clear_for_treatment")

    def test_an_untracked_pathway_has_no_gate_and_no_task(self) -> None:
        pw = Prepared.start(CART, tracked=False)
        pw.run_until("lymphodepletion")
        assert not [d for d in pw.record.deadlines if d.state == "preparation"]
        assert task_views(pw.record, pw.protocol) == []
        with pytest.raises(UnknownTask, match="before preparation tasks were tracked"):
            pw.check("record_task", task="alert_card", details={})

    @settings(deadline=None)  # a whole pathway per example: slow on a loaded machine
    @given(st.sets(st.sampled_from(gating(CART, "start_lymphodepletion"))))
    def test_lymphodepletion_passes_exactly_when_its_gates_are_recorded(
        self, recorded: set[str]
    ) -> None:
        pw = Prepared.start(CART)
        for key in [*gating(CART, "record_apheresis"), *sorted(recorded)]:
            pw.record_task(key)
        pw.run_until("cleared")
        missing = set(gating(CART, "start_lymphodepletion")) - recorded
        if missing:
            with pytest.raises(PreparationTaskOpen) as refused:
                pw.check("start_lymphodepletion")
            assert {k for k in missing if f"record_task {k}" in refused.value.message} == missing
        else:
            pw.check("start_lymphodepletion")


class TestDeadlines:
    """A milestone opens its tasks' deadlines; recording meets them; late ones escalate."""

    def test_mdtm_approval_opens_the_selection_tasks(self) -> None:
        pw = Prepared.start(CART)
        pw.run_until("awaiting_consent")
        info = pw.task_deadline("patient_information")
        assert info is not None and info.status is DeadlineStatus.ARMED
        assert info.due_at == pw.now + timedelta(days=14)
        assert pw.views()["patient_information"] == "open"
        assert pw.views()["pregnancy_test"] == "due later"

    def test_recording_meets_and_consent_records_its_task(self) -> None:
        pw = Prepared.start(CART)
        pw.run_until("awaiting_consent")
        pw.record_task("patient_information", document="PIS-CART", version="v3")
        assert pw.task_deadline("patient_information") is None  # met: gone from the record
        pw.send("record_consent")
        done = pw.record.preparation
        assert done is not None and done.done["consent_recorded"].event == "record_consent"
        assert pw.task_deadline("consent_recorded") is None
        assert pw.views()["consent_recorded"] == "done"

    def test_a_task_recorded_before_its_milestone_is_never_armed(self) -> None:
        pw = Prepared.start(CART)
        pw.record_task("alert_card")
        pw.record_all(but=("alert_card", "referrer_d0"))
        pw.run_until("inpatient")
        assert pw.task_deadline("alert_card") is None
        assert pw.task_deadline("referrer_d0") is not None

    def test_a_late_task_escalates_on_its_ladder(self) -> None:
        pw = Prepared.start(CART)
        pw.run_until("awaiting_consent")
        late = pw.now + timedelta(days=14, seconds=1)
        escalations = escalate_due(pw.record, pw.protocol, late)
        keys = {x.deadline_key for x in escalations}
        assert task_key("patient_information") in keys
        step = next(x for x in escalations if x.deadline_key == task_key("patient_information"))
        assert step.level == 1 and step.notify == CART.ladder("default").steps[0].notify
        assert pw.task_deadline("patient_information").status is DeadlineStatus.OVERDUE
        view = {v.key: v for v in task_views(pw.record, pw.protocol)}["patient_information"]
        assert view.overdue and view.status == "open"

    def test_a_hold_does_not_meet_task_deadlines(self) -> None:
        pw = Prepared.start(CART)
        pw.run_until("awaiting_consent")
        pw.send("hold")
        assert pw.task_deadline("patient_information").open


class TestStandingFlag:
    """Irradiated blood products, once flagged, stand until D0 + 90 days."""

    def test_flag_shown_until_its_window_ends(self) -> None:
        pw = Prepared.start(CART)
        assert standing_flags(pw.record, pw.protocol) == []
        pw.record_all()
        (flag,) = standing_flags(pw.record, pw.protocol)
        assert "Irradiated blood" in flag and "D0 + 90 days" in flag
        pw.run_until("inpatient")
        d0 = pw.record.d0
        assert isinstance(d0, datetime)
        assert standing_flags(pw.record, pw.protocol, d0 + timedelta(days=89))
        assert standing_flags(pw.record, pw.protocol, d0 + timedelta(days=91)) == []


class TestDetails:
    """The Web UI's current details list the open tasks, and the standing flag."""

    def test_open_tasks_and_the_flag_are_shown(self) -> None:
        pw = Prepared.start(CART)
        pw.record_task("irradiated_blood")
        pw.run_until("awaiting_consent")
        text = current_details(pw.record, pw.protocol)
        assert "**Flag:** Irradiated blood products" in text
        assert "- Patient information given (document and version) (due " in text
        assert "Pregnancy test" not in text  # its milestone (product on site) is to come
        assert "**Preparation open" not in current_details(pw.record)  # without the protocol
