"""Long-term follow-up outlives withdrawal from the study (states/withdrawal.py): a CAR-T
patient who withdraws after infusion stays in safety follow-up (visits still recorded and
due) unless they refuse it explicitly, which is recorded with who, when and why; before
infusion, under the MSC protocols, or on a chart without the rule set, withdrawal ends the
pathway as before."""

from __future__ import annotations

import pytest

from models.record import DeadlineStatus
from states import errors as e
from states.deadlines import reconcile
from states.withdrawal import SAFETY_FOLLOW_UP, STATE, safety_follow_up_deadlines
from tests.support.chart_factory import CART, MSC_SSC, Pathway, build_chart


def with_rules(pw: Pathway) -> Pathway:
    pw.chart = type(build_chart(pw.record, pw.protocol))(
        pw.record, pw.protocol, rules={SAFETY_FOLLOW_UP}
    )
    return pw


def withdraw(pw: Pathway, reason: str = "the patient leaves the study") -> list[str]:
    before = list(pw.record.configuration)
    pw.send("withdraw", reason=reason)
    reconcile(pw.record, pw.protocol, before, pw.now)
    armed = safety_follow_up_deadlines(pw.record, pw.protocol, before, pw.now)
    return [d.key for d in armed]


class TestSafetyFollowUp:
    def test_withdrawal_after_infusion_keeps_safety_follow_up(self) -> None:
        pw = with_rules(Pathway.at(CART, "short_term"))
        reconcile(pw.record, pw.protocol, [], pw.now)  # the study's visit deadlines, armed
        pw.send("record_visit", visit="D7")
        armed = withdraw(pw)
        assert pw.record.state == STATE and not pw.chart.finished
        assert pw.record.outcome is None
        note = pw.record.study_withdrawal
        assert note is not None and note.reason == "the patient leaves the study"
        assert note.at == pw.now and note.by and note.role
        # Every visit not yet recorded is due again, for the safety follow-up.
        assert "visit:D7" not in armed and "visit:Y15" in armed
        study = [d for d in pw.record.deadlines if d.state == "follow_up" and d.key == "visit:D14"]
        assert study and study[0].status is DeadlineStatus.SUSPENDED

    def test_visits_and_safety_events_go_on_then_it_completes(self) -> None:
        pw = with_rules(Pathway.at(CART, "short_term"))
        withdraw(pw)
        pw.send("record_visit", visit="Y2")
        pw.send("record_adverse_event", kind="malignancy", grade=3, serious=True)
        with pytest.raises(e.VisitsOutstanding, match="Long-term safety follow-up visits"):
            pw.check("complete_follow_up")
        for visit in pw.protocol.visits:
            if visit.long_term and visit.label not in pw.record.visits:
                pw.send("record_visit", visit=visit.label)
        pw.send("complete_follow_up")
        assert pw.record.outcome == "follow-up completed"

    def test_an_explicit_refusal_ends_it_and_is_recorded(self) -> None:
        pw = with_rules(Pathway.at(CART, "inpatient"))
        withdraw(pw)
        assert pw.record.state == STATE
        pw.advance(days=3)
        with pytest.raises(ValueError, match="reason"):
            pw.action("refuse_long_term_follow_up", reason="")
        pw.send("refuse_long_term_follow_up", reason="refuses any further follow-up, in writing")
        refusal = pw.record.follow_up_refusal
        assert refusal is not None and refusal.at == pw.now
        assert refusal.reason == "refuses any further follow-up, in writing"
        assert pw.record.state == "withdrawn" and pw.chart.finished

    def test_before_infusion_withdrawal_ends_the_pathway(self) -> None:
        pw = with_rules(Pathway.at(CART, "awaiting_consent"))
        withdraw(pw)
        assert pw.record.state == "withdrawn" and pw.record.outcome == "consent withdrawn"

    def test_held_after_infusion_also_stays(self) -> None:
        pw = with_rules(Pathway.at(CART, "short_term"))
        pw.send("hold", reason="travelling")
        withdraw(pw)
        assert pw.record.state == STATE

    def test_without_the_rule_set_or_the_protocol_rule_it_ends(self) -> None:
        old = Pathway.at(CART, "short_term")
        withdraw(old)
        assert old.record.state == "withdrawn"
        msc = with_rules(Pathway.at(MSC_SSC, "short_term"))
        assert msc.protocol.withdrawal is None
        withdraw(msc)
        assert msc.record.state == "withdrawn"

    def test_refusal_is_only_possible_in_safety_follow_up(self) -> None:
        pw = with_rules(Pathway.at(CART, "short_term"))
        with pytest.raises(e.ActionNotAllowedNow):
            pw.check("refuse_long_term_follow_up", reason="no")
