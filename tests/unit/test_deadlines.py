"""Deadlines as data (states/deadlines.py): which timers run in a configuration, and how a
missed one climbs its escalation ladder.

Pure, like the chart tests: a chart drives the record on an explicit clock, ``reconcile``
runs after every accepted action exactly as the workflow runs it (configuration before,
record after, the action's time), and ``escalate_due`` is called at chosen instants. The
protocols are the real ones, loaded as the workflow loads them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import pytest

from models.notifications import Escalation
from models.protocol import DeadlineRule, Protocol, Therapy, load_default_protocol
from models.record import Deadline, DeadlineStatus
from models.roles import Role
from states.deadlines import FOLLOW_UP, HELD, SAFETY, escalate_due, reconcile, visit_key
from tests.support.chart_factory import T0, Pathway, build_chart, new_record

SECOND = timedelta(seconds=1)


@dataclass
class Tracked(Pathway):
    """A pathway whose deadlines are reconciled after every accepted action."""

    armed: list[Deadline] = field(default_factory=list)

    @classmethod
    def start(cls, therapy: Therapy, *, now: datetime = T0) -> Tracked:
        proto = load_default_protocol(therapy)
        record = new_record(proto, now=now)
        pw = cls(proto, record, build_chart(record, proto), now)
        # The workflow's first reconcile: nothing before, the initial configuration after.
        pw.armed = reconcile(record, proto, [], now)
        return pw

    @classmethod
    def reach(cls, therapy: Therapy, leaf: str) -> Tracked:
        pw = cls.start(therapy)
        pw.run_until(leaf)
        return pw

    def send(self, event: str, **overrides: Any) -> Tracked:
        before = list(self.record.configuration)
        super().send(event, **overrides)
        self.armed = reconcile(self.record, self.protocol, before, self.now)
        return self

    # ----- reading -----------------------------------------------------------------------
    def all(self, key: str) -> list[Deadline]:
        return [d for d in self.record.deadlines if d.key == key]

    def one(self, key: str) -> Deadline:
        (deadline,) = self.all(key)
        return deadline

    def latest(self, key: str) -> Deadline:
        return self.all(key)[-1]

    def escalate(self, at: datetime, key: str | None = None) -> list[Escalation]:
        self.now = at
        out = escalate_due(self.record, self.protocol, at)
        return [x for x in out if key is None or x.deadline_key == key]


def rule(proto: Protocol, key: str) -> DeadlineRule:
    return next(r for r in proto.deadlines if r.key == key)


def assert_armed(d: Deadline, *, at: datetime, due: datetime) -> None:
    assert d.status is DeadlineStatus.ARMED
    assert d.open and d.level == 0
    assert (d.armed_at, d.due_at) == (at, due)
    assert d.closed_at is None and d.next_escalation_at is None
    assert d.wakes_at() == due


def assert_closed(d: Deadline, status: DeadlineStatus, *, at: datetime) -> None:
    assert d.status is status
    assert not d.open
    assert d.closed_at == at
    assert d.next_escalation_at is None and d.wakes_at() is None


class TestDefaultProtocols:
    """The protocols these tests read: the workflow's defaults, with the ladders used here."""

    def test_defaults(self) -> None:
        cart, msc = load_default_protocol(Therapy.CAR_T), load_default_protocol(Therapy.MSC)
        assert (cart.id, msc.id) == ("cart-cd19-lupus", "msc-systemic-sclerosis")
        for proto in (cart, msc):
            assert {"default", "product", "follow_up", "safety"} <= set(proto.escalation)
            assert proto.safety_reporting.ladder == "safety"


# ----- protocol rules: armed on entering their state, met on leaving it ------------------------
class TestRulesFollowTheConfiguration:
    def test_first_state_armed_at_referral(self) -> None:
        pw = Tracked.start(Therapy.CAR_T)
        within = rule(pw.protocol, "work_up").within
        assert [d.key for d in pw.record.deadlines] == ["work_up"]
        (d,) = pw.armed
        assert_armed(d, at=T0, due=T0 + within)
        assert (d.state, d.waiting_on, d.ladder) == ("referred", Role.ARD_SPECIALIST, "default")
        assert d.label == "Work-up due"

    def test_met_on_leaving_and_the_next_one_armed(self) -> None:
        pw = Tracked.start(Therapy.CAR_T)
        pw.advance(days=3)
        pw.send("record_work_up", completed_at=pw.now - timedelta(days=1))
        assert_closed(pw.one("work_up"), DeadlineStatus.MET, at=pw.now)
        assert [d.key for d in pw.armed] == ["mdtm_decision"]
        assert_armed(
            pw.one("mdtm_decision"),
            at=pw.now,
            due=pw.now + rule(pw.protocol, "mdtm_decision").within,
        )

    def test_nested_state_met_only_when_left(self) -> None:
        """``discharge`` runs in the compound ``monitoring``: an ICU stay inside it does not
        meet it; leaving monitoring does."""
        pw = Tracked.reach(Therapy.CAR_T, "inpatient")
        armed_at = pw.one("discharge").armed_at
        pw.advance(days=1)
        pw.send("transfer_to_icu")
        assert pw.armed == [] and pw.one("discharge").open
        pw.advance(days=2)
        pw.send("return_from_icu")
        pw.advance(days=7)  # the protocol's 10 days of monitoring before discharge
        pw.send("discharge")
        assert pw.one("discharge").armed_at == armed_at
        assert_closed(pw.one("discharge"), DeadlineStatus.MET, at=pw.now)

    @pytest.mark.parametrize("therapy", [Therapy.CAR_T, Therapy.MSC])
    def test_whole_happy_path(self, therapy: Therapy) -> None:
        """Each rule of a state on the way is armed once, for its window, and met; at the end
        nothing is left open."""
        pw = Tracked.start(therapy)
        visited: list[str] = []
        while not pw.chart.finished:
            visited.extend(s for s in pw.chart.state_ids if s not in visited)
            pw.step()
        for r in pw.protocol.deadlines:
            found = pw.all(r.key)
            if r.state not in visited:
                assert found == [], r.key
                continue
            (d,) = found
            assert d.status is DeadlineStatus.MET, r.key
            assert d.due_at - d.armed_at == r.within
            assert d.closed_at is not None and d.closed_at >= d.armed_at
            assert (d.state, d.waiting_on, d.ladder) == (r.state, r.waiting_on, r.ladder)
        assert pw.record.open_deadlines() == []
        assert pw.record.next_wake() is None


class TestHoldSuspends:
    """Entering ``held`` suspends the deadlines of the states left (never meets them);
    resuming arms them afresh, for their whole window."""

    def test_hold_suspends_instead_of_meeting(self) -> None:
        pw = Tracked.reach(Therapy.CAR_T, "awaiting_mdtm")
        pw.advance(days=5)
        pw.send("hold")
        assert_closed(pw.one("mdtm_decision"), DeadlineStatus.SUSPENDED, at=pw.now)
        assert [d.key for d in pw.armed] == ["hold_review"]
        hold_review = pw.one("hold_review")
        assert hold_review.state == HELD
        assert_armed(hold_review, at=pw.now, due=pw.now + rule(pw.protocol, "hold_review").within)
        assert [d.key for d in pw.record.open_deadlines()] == ["hold_review"]

    def test_resume_rearms_afresh_and_meets_the_hold_review(self) -> None:
        pw = Tracked.reach(Therapy.CAR_T, "awaiting_mdtm")
        pw.send("hold")
        pw.advance(days=40)
        pw.send("resume")
        assert_closed(pw.one("hold_review"), DeadlineStatus.MET, at=pw.now)
        suspended, rearmed = pw.all("mdtm_decision")
        assert suspended.status is DeadlineStatus.SUSPENDED
        assert_armed(rearmed, at=pw.now, due=pw.now + rule(pw.protocol, "mdtm_decision").within)
        assert [d.key for d in pw.armed] == ["mdtm_decision"]

    def test_suspended_deadline_never_escalates(self) -> None:
        pw = Tracked.start(Therapy.CAR_T)
        due = pw.one("work_up").due_at
        pw.advance(days=1)
        pw.send("hold")
        assert pw.escalate(due + timedelta(days=10), "work_up") == []
        assert pw.one("work_up").status is DeadlineStatus.SUSPENDED
        assert pw.one("work_up").level == 0
        # Positive control: the same deadline, not held, escalates at that time.
        control = Tracked.start(Therapy.CAR_T)
        control_due = control.one("work_up").due_at
        control.advance(days=1)
        assert control.escalate(control_due + timedelta(days=10), "work_up") != []

    def test_held_in_a_nested_state(self) -> None:
        pw = Tracked.reach(Therapy.CAR_T, "inpatient")
        pw.send("transfer_to_icu")
        pw.send("hold")
        assert pw.one("discharge").status is DeadlineStatus.SUSPENDED
        pw.advance(days=3)
        pw.send("resume")
        assert pw.chart.leaf == "icu"
        assert_armed(
            pw.latest("discharge"),
            at=pw.now,
            due=pw.now + rule(pw.protocol, "discharge").within,
        )


# ----- follow-up visits ------------------------------------------------------------------------
class TestVisitDeadlines:
    """Each visit is armed on entering follow-up, due at D0 + visit + tolerance, and met when
    it is recorded."""

    @pytest.mark.parametrize(
        "therapy,leaf,event",
        [
            (Therapy.CAR_T, "inpatient", "discharge"),
            (Therapy.MSC, "observation", "end_observation"),
        ],
    )
    def test_armed_on_entering_follow_up(self, therapy: Therapy, leaf: str, event: str) -> None:
        pw = Tracked.reach(therapy, leaf)
        # The protocol's monitoring before discharge (CAR-T) or observation (MSC).
        pw.advance(days=10) if therapy is Therapy.CAR_T else pw.advance(hours=3)
        pw.send(event)
        assert pw.chart.state_ids[:2] == ["pathway", "follow_up"]
        d0 = pw.record.d0
        assert d0 is not None
        visits = [d for d in pw.armed if d.key.startswith("visit:")]
        assert [d.key for d in visits] == [visit_key(v.label) for v in pw.protocol.visits]
        for deadline, visit in zip(visits, pw.protocol.visits, strict=True):
            assert_armed(deadline, at=pw.now, due=d0 + visit.at + visit.tolerance)
            assert deadline.state == FOLLOW_UP
            assert deadline.waiting_on is Role.CARE_COORDINATOR
            assert deadline.ladder == "follow_up"
            assert visit.label in deadline.label

    def test_met_by_recording_the_visit(self) -> None:
        pw = Tracked.reach(Therapy.CAR_T, "inpatient")
        pw.advance(days=10)
        pw.send("discharge")
        first, second = pw.protocol.visits[:2]
        pw.advance(days=5)
        pw.send("record_visit", visit=first.label)
        assert pw.armed == []
        assert_closed(pw.one(visit_key(first.label)), DeadlineStatus.MET, at=pw.now)
        assert pw.one(visit_key(second.label)).status is DeadlineStatus.ARMED

    def test_long_term_phase_keeps_them_running(self) -> None:
        pw = Tracked.reach(Therapy.CAR_T, "long_term")
        long_term = [v for v in pw.protocol.visits if v.long_term]
        for v in pw.protocol.visits:
            d = pw.one(visit_key(v.label))
            assert d.open == (v in long_term), v.label

    def test_hold_in_follow_up_suspends_and_resume_rearms_the_same_due(self) -> None:
        pw = Tracked.reach(Therapy.CAR_T, "short_term")
        done, *pending = pw.protocol.visits
        pw.send("record_visit", visit=done.label)
        pw.advance(days=1)
        pw.send("hold")
        for v in pending:
            assert pw.one(visit_key(v.label)).status is DeadlineStatus.SUSPENDED
        pw.advance(days=20)
        pw.send("resume")
        d0 = pw.record.d0
        assert d0 is not None
        assert pw.one(visit_key(done.label)).status is DeadlineStatus.MET
        for v in pending:
            assert_armed(pw.latest(visit_key(v.label)), at=pw.now, due=d0 + v.at + v.tolerance)


# ----- safety reports --------------------------------------------------------------------------
class TestSafetyReportDeadlines:
    """A serious adverse event arms the sponsor report; a SUSAR also the SUSAR report
    (7 days if life-threatening or fatal, otherwise 15). Recording a report meets it; a hold
    does not suspend them."""

    def test_non_serious_event_arms_nothing(self) -> None:
        pw = Tracked.reach(Therapy.CAR_T, "inpatient")
        pw.send("record_adverse_event", kind="CRS", grade=2, suspected_unexpected=True)
        assert pw.armed == []

    @pytest.mark.parametrize(
        "therapy,leaf", [(Therapy.CAR_T, "inpatient"), (Therapy.MSC, "short_term")]
    )
    def test_serious_event_arms_the_sponsor_report(self, therapy: Therapy, leaf: str) -> None:
        pw = Tracked.reach(therapy, leaf)
        pw.advance(hours=3)
        pw.send("record_adverse_event", kind="ICANS", grade=3, serious=True)
        (d,) = pw.armed
        assert d.key == "sae-1:sponsor"
        at = pw.record.adverse_events[0].at
        assert_armed(d, at=pw.now, due=at + pw.protocol.safety_reporting.sponsor)
        assert pw.protocol.safety_reporting.sponsor == timedelta(hours=24)
        assert (d.state, d.waiting_on, d.ladder) == (SAFETY, Role.CELL_THERAPY_SPECIALIST, "safety")
        assert "#1" in d.label and "sponsor" in d.label

    @pytest.mark.parametrize(
        "fatal,within", [(True, timedelta(days=7)), (False, timedelta(days=15))]
    )
    def test_susar_arms_both_reports(self, fatal: bool, within: timedelta) -> None:
        pw = Tracked.reach(Therapy.CAR_T, "short_term")
        pw.send("record_adverse_event", kind="CRS", grade=1)
        pw.advance(hours=1)
        pw.send(
            "record_adverse_event",
            kind="malignancy",
            grade=4,
            serious=True,
            suspected_unexpected=True,
            life_threatening_or_fatal=fatal,
        )
        rules = pw.protocol.safety_reporting
        assert (rules.susar_fatal if fatal else rules.susar_other) == within
        sponsor, susar = pw.armed
        assert (sponsor.key, susar.key) == ("sae-2:sponsor", "sae-2:susar")
        assert_armed(sponsor, at=pw.now, due=pw.now + rules.sponsor)
        assert_armed(susar, at=pw.now, due=pw.now + within)
        assert (susar.state, susar.waiting_on, susar.ladder) == (
            SAFETY,
            Role.PHARMACOVIGILANCE_OFFICER,
            "safety",
        )
        assert "SUSAR" in susar.label

    def test_recording_a_report_meets_it(self) -> None:
        pw = Tracked.reach(Therapy.CAR_T, "inpatient")
        pw.send(
            "record_adverse_event", kind="CRS", grade=4, serious=True, suspected_unexpected=True
        )
        pw.advance(hours=20)
        pw.send("report_adverse_event", report="sponsor")
        assert pw.armed == []
        assert_closed(pw.one("sae-1:sponsor"), DeadlineStatus.MET, at=pw.now)
        assert pw.one("sae-1:susar").status is DeadlineStatus.ARMED
        pw.advance(days=3)
        pw.send("report_adverse_event", report="susar")
        assert_closed(pw.one("sae-1:susar"), DeadlineStatus.MET, at=pw.now)
        # Reconciling again arms nothing twice and reopens nothing.
        assert reconcile(pw.record, pw.protocol, pw.record.configuration, pw.now) == []
        assert [d.key for d in pw.record.deadlines].count("sae-1:sponsor") == 1

    def test_each_event_has_its_own_reports(self) -> None:
        pw = Tracked.reach(Therapy.CAR_T, "inpatient")
        pw.send("record_adverse_event", kind="CRS", grade=3, serious=True)
        pw.advance(hours=2)
        pw.send("record_adverse_event", kind="ICANS", grade=3, serious=True)
        assert [d.key for d in pw.armed] == ["sae-2:sponsor"]
        pw.send("report_adverse_event", adverse_event=2, report="sponsor")
        assert pw.one("sae-1:sponsor").open
        assert pw.one("sae-2:sponsor").status is DeadlineStatus.MET

    def test_hold_does_not_suspend_them(self) -> None:
        pw = Tracked.reach(Therapy.CAR_T, "awaiting_infusion")
        pw.send("record_adverse_event", kind="infection", grade=3, serious=True)
        sponsor = pw.one("sae-1:sponsor")
        pw.advance(hours=1)
        pw.send("hold")
        assert pw.one("infusion").status is DeadlineStatus.SUSPENDED
        assert sponsor.status is DeadlineStatus.ARMED
        assert {d.key for d in pw.record.open_deadlines()} == {"sae-1:sponsor", "hold_review"}
        pw.advance(days=2)
        pw.send("resume")
        # Not re-armed by the resume: the same deadline has kept running throughout.
        assert pw.one("sae-1:sponsor") is sponsor and sponsor.open

    def test_reported_while_held(self) -> None:
        pw = Tracked.reach(Therapy.MSC, "cleared")
        pw.send("hold")
        pw.send("record_adverse_event", kind="flare", grade=3, serious=True)
        assert [d.key for d in pw.armed] == ["sae-1:sponsor"]
        pw.advance(hours=5)
        pw.send("report_adverse_event", report="sponsor")
        assert_closed(pw.one("sae-1:sponsor"), DeadlineStatus.MET, at=pw.now)
        assert pw.chart.state_ids == ["held"]


# ----- escalation ------------------------------------------------------------------------------
class TestEscalation:
    """A missed deadline climbs its ladder one step per call, each step at due + its
    ``after``, marks the deadline overdue, and stops at the top of the ladder."""

    def test_nothing_before_due(self) -> None:
        pw = Tracked.start(Therapy.CAR_T)
        due = pw.one("work_up").due_at
        assert pw.escalate(due - SECOND) == []
        d = pw.one("work_up")
        assert d.status is DeadlineStatus.ARMED and d.level == 0
        assert not pw.record.overdue

    def test_climbs_the_default_ladder_at_the_right_times(self) -> None:
        pw = Tracked.start(Therapy.CAR_T)
        d = pw.one("work_up")
        steps = pw.protocol.ladder(d.ladder).steps
        assert [s.after for s in steps] == [timedelta(0), timedelta(days=2), timedelta(days=5)]

        (first,) = pw.escalate(d.due_at)
        assert first == Escalation(
            pathway_id=pw.record.pathway_id,
            centre=pw.record.centre,
            therapy="car-t",
            state="referred",
            deadline_key="work_up",
            label="Work-up due",
            due_at=d.due_at,
            level=1,
            notify=[Role.CARE_COORDINATOR],
            waiting_on=Role.ARD_SPECIALIST,
        )
        assert d.status is DeadlineStatus.OVERDUE and d.open
        assert d.next_escalation_at == d.due_at + steps[1].after
        assert pw.record.overdue and pw.record.escalation_level == 1
        # The same instant again: nothing more.
        assert pw.escalate(d.due_at) == []

        assert pw.escalate(d.due_at + steps[1].after - SECOND) == []
        (second,) = pw.escalate(d.due_at + steps[1].after)
        assert second.level == 2
        assert second.notify == [Role.ARD_SPECIALIST, Role.CELL_THERAPY_SPECIALIST]
        assert d.next_escalation_at == d.due_at + steps[2].after

        assert pw.escalate(d.due_at + steps[2].after - SECOND) == []
        (third,) = pw.escalate(d.due_at + steps[2].after)
        assert third.level == 3 and third.notify == [Role.PROGRAMME_LEAD]

        # Top of the ladder: overdue, silent.
        assert d.next_escalation_at is None and d.wakes_at() is None
        assert pw.escalate(d.due_at + timedelta(days=365)) == []
        assert d.status is DeadlineStatus.OVERDUE and d.level == 3

    def test_a_late_call_climbs_only_one_step(self) -> None:
        pw = Tracked.start(Therapy.CAR_T)
        d = pw.one("work_up")
        late = d.due_at + timedelta(days=10)
        levels = [[x.level for x in pw.escalate(late, "work_up")] for _ in range(4)]
        assert levels == [[1], [2], [3], []]

    @pytest.mark.parametrize(
        "therapy,leaf,key",
        [
            (Therapy.CAR_T, "referred", "work_up"),
            (Therapy.CAR_T, "collected", "shipment"),
            (Therapy.MSC, "ordered", "delivery"),
            (Therapy.CAR_T, "short_term", "visit:M3"),
            (Therapy.MSC, "short_term", "visit:M6"),
        ],
    )
    def test_each_step_notifies_its_roles(self, therapy: Therapy, leaf: str, key: str) -> None:
        pw = Tracked.reach(therapy, leaf)
        d = pw.one(key)
        steps = pw.protocol.ladder(d.ladder).steps
        assert d.ladder == rule_or_visit_ladder(pw.protocol, key)
        for level, step in enumerate(steps, 1):
            when = d.due_at + step.after
            assert pw.escalate(when - SECOND, key) == []
            (x,) = pw.escalate(when, key)
            assert (x.level, x.notify, x.waiting_on) == (level, list(step.notify), d.waiting_on)
            assert x.state == pw.record.state
        assert pw.escalate(d.due_at + timedelta(days=3650), key) == []

    def test_safety_ladder_escalates_while_held(self) -> None:
        pw = Tracked.reach(Therapy.CAR_T, "inpatient")
        pw.send("record_adverse_event", kind="CRS", grade=4, serious=True)
        pw.send("hold")
        d = pw.one("sae-1:sponsor")
        steps = pw.protocol.ladder("safety").steps
        (first,) = pw.escalate(d.due_at, d.key)
        assert first.notify == [Role.PHARMACOVIGILANCE_OFFICER, Role.CELL_THERAPY_SPECIALIST]
        assert first.state == HELD and first.level == 1
        (second,) = pw.escalate(d.due_at + steps[1].after, d.key)
        assert second.notify == [Role.PROGRAMME_LEAD] and second.level == 2
        assert len(steps) == 2 and d.next_escalation_at is None
        assert pw.escalate(d.due_at + timedelta(days=30), d.key) == []

    def test_meeting_an_overdue_deadline_stops_it(self) -> None:
        pw = Tracked.start(Therapy.CAR_T)
        d = pw.one("work_up")
        pw.escalate(d.due_at)
        assert d.status is DeadlineStatus.OVERDUE
        pw.advance(hours=1)
        pw.send("record_work_up", completed_at=pw.now)
        assert_closed(d, DeadlineStatus.MET, at=pw.now)
        assert d.level == 1
        assert pw.escalate(d.due_at + timedelta(days=30), "work_up") == []

    def test_reporting_an_overdue_safety_report_stops_it(self) -> None:
        pw = Tracked.reach(Therapy.MSC, "short_term")
        pw.send("record_adverse_event", kind="infection", grade=3, serious=True)
        d = pw.one("sae-1:sponsor")
        pw.escalate(d.due_at)
        pw.send("report_adverse_event", report="sponsor")
        assert_closed(d, DeadlineStatus.MET, at=pw.now)
        assert pw.escalate(d.due_at + timedelta(days=30), d.key) == []


def rule_or_visit_ladder(proto: Protocol, key: str) -> str:
    if key.startswith("visit:"):
        return "follow_up"
    return rule(proto, key).ladder
