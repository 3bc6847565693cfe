"""Whole pathways through the pure charts: happy paths, every exit, hold and resume, and the
scenarios of the synthetic cases (shared/samples/cases.csv) that a chart alone can play."""

from __future__ import annotations

from datetime import timedelta

import pytest
from pydantic import ValidationError

from models.actions import EVENT_PAYLOADS, Exit
from states import errors as e
from states.base import EXITS
from tests.support.chart_factory import (
    CART,
    COI,
    MSC_LUPUS,
    MSC_OTHER,
    MSC_SSC,
    WASHOUT_DRUG,
    WRONG_COI,
    Pathway,
    configuration_problems,
    next_step,
    protocol,
)

CART_LEAVES = [
    "referred",
    "awaiting_mdtm",
    "awaiting_consent",
    "washout",
    "apheresis_booked",
    "collected",
    "manufacturing",
    "released",
    "in_transit",
    "stored",
    "cleared",
    "lymphodepletion",
    "awaiting_infusion",
    "thawed",
    "inpatient",
    "short_term",
    "long_term",
    "completed",
]


def leaves_along(pw: Pathway) -> list[str]:
    """Play the happy path, returning each distinct leaf in the order it is reached."""
    seen = [pw.leaf]
    while not pw.chart.finished:
        pw.step()
        assert not list(configuration_problems(pw.chart))
        if pw.leaf != seen[-1]:
            seen.append(pw.leaf)
    return seen


def assert_terminal(pw: Pathway, final: str) -> None:
    """A final state: recorded outcome, nothing allowed, the same after a rebuild."""
    assert pw.chart.state_ids == [final]
    assert pw.record.configuration == [final]
    assert pw.record.outcome == EXITS[final]
    for chart in (pw.chart, pw.rebuild()):
        assert chart.state_ids == [final]
        assert chart.finished
        assert chart.allowed_now() == []
    for event in EVENT_PAYLOADS:
        with pytest.raises(e.ActionNotAllowedNow, match="ended"):
            pw.check(event)


# ----- happy paths -----------------------------------------------------------------------------
class TestCarTHappyPath:
    """LUP-001: referral to the end of long-term follow-up, every phase in order."""

    def test_every_phase_in_order(self) -> None:
        pw = Pathway.new(CART)
        assert leaves_along(pw) == CART_LEAVES
        assert_terminal(pw, "completed")

    def test_facts_recorded_on_the_way(self) -> None:
        pw = Pathway.new(CART)
        pw.run_until("completed")
        r = pw.record
        assert r.mdtm_approved_at is not None and r.consent_at is not None
        assert r.washout_recorded and r.apheresis_slot_at is not None
        assert r.product.coi_id == COI and r.product.collections == 1
        assert r.product.released_at is not None and r.product.received_at is not None
        assert r.cleared_at is not None and r.lymphodepletion_ended_at is not None
        assert len(r.infusions) == 1 and r.discharged_at is not None
        assert r.lymphodepletion_ended_at < r.infusions[0]
        assert r.product.thawed_at is None
        assert r.adverse_events == []
        assert list(r.visits) == [v.label for v in pw.protocol.visits]
        assert r.held_from is None


class TestMscHappyPath:
    """MSC: order, receive, thaw and infuse as many times as the protocol says."""

    def test_two_infusions_seven_days_apart(self) -> None:
        """LUP-004: msc-lupus-repeated gives two infusions, D0 and D7, each followed by an
        observation, the second after fitness is checked again."""
        pw = Pathway.new(MSC_LUPUS)
        leaves = leaves_along(pw)
        assert leaves == [
            "referred",
            "awaiting_mdtm",
            "awaiting_consent",
            "to_order",
            "ordered",
            "stored",
            "cleared",
            "thawed",
            "observation",
            "between_infusions",
            "thawed",
            "observation",
            "short_term",
            "long_term",
            "completed",
        ]
        schedule = pw.protocol.infusions
        assert schedule.count == 2
        d0, d7 = pw.record.infusions
        assert d7 - d0 == schedule.interval
        assert pw.record.product.doses_ordered == schedule.count
        assert_terminal(pw, "completed")

    def test_single_infusion(self) -> None:
        """SSC-002: a single infusion, its observation, then follow-up."""
        pw = Pathway.at(MSC_SSC, "thawed")
        assert pw.protocol.infusions.count == 1
        pw.advance(minutes=10)
        pw.send("infuse")
        assert pw.leaf == "observation"
        observation = pw.protocol.infusions.observation
        assert observation is not None
        pw.advance(observation)
        pw.send("end_observation")
        assert pw.chart.state_ids == ["pathway", "follow_up", "short_term"]
        assert len(pw.record.infusions) == 1
        pw.run_until("completed")
        assert_terminal(pw, "completed")


# ----- exits -----------------------------------------------------------------------------------
EXIT_CASES = [
    (CART, "awaiting_mdtm", "reject_at_mdtm", "ineligible"),
    (MSC_SSC, "awaiting_mdtm", "reject_at_mdtm", "ineligible"),
    (CART, "awaiting_consent", "withdraw", "withdrawn"),
    (CART, "manufacturing", "withdraw", "withdrawn"),
    (MSC_SSC, "ordered", "withdraw", "withdrawn"),
    (CART, "inpatient", "record_death", "deceased"),
    (CART, "long_term", "record_death", "deceased"),
    (MSC_SSC, "short_term", "record_death", "deceased"),
    (MSC_LUPUS, "between_infusions", "record_death", "deceased"),
    (CART, "short_term", "declare_lost_to_follow_up", "lost_to_follow_up"),
    (CART, "long_term", "declare_lost_to_follow_up", "lost_to_follow_up"),
    (MSC_SSC, "long_term", "declare_lost_to_follow_up", "lost_to_follow_up"),
]


class TestExits:
    """Each exit ends the pathway with its outcome, from where the pathway allows it."""

    @pytest.mark.parametrize("protocol_id,leaf,event,final", EXIT_CASES)
    def test_exit(self, protocol_id: str, leaf: str, event: str, final: str) -> None:
        pw = Pathway.at(protocol_id, leaf)
        pw.send(event)
        assert_terminal(pw, final)

    @pytest.mark.parametrize(
        "event,final", [("withdraw", "withdrawn"), ("record_death", "deceased")]
    )
    def test_exit_while_held(self, event: str, final: str) -> None:
        pw = Pathway.at(CART, "stored")
        pw.send("hold")
        pw.rebuild()
        pw.send(event)
        assert_terminal(pw, final)

    def test_manufacturing_failure_after_out_of_specification(self) -> None:
        pw = Pathway.at(CART, "manufacturing")
        pw.send("report_out_of_specification")
        assert pw.leaf == "out_of_specification"
        assert {"book_apheresis", "declare_manufacturing_failure"} <= set(pw.chart.allowed_now())
        pw.send("declare_manufacturing_failure")
        assert_terminal(pw, "manufacturing_failed")

    def test_lost_to_follow_up_only_in_follow_up(self) -> None:
        pw = Pathway.at(CART, "inpatient")
        with pytest.raises(e.ActionNotAllowedNow):
            pw.check("declare_lost_to_follow_up")

    def test_msc_has_no_manufacturing_failure(self) -> None:
        pw = Pathway.at(MSC_SSC, "ordered")
        assert "manufacturing_failed" not in pw.chart.states_map
        with pytest.raises(e.ActionNotAllowedNow):
            pw.check("declare_manufacturing_failure")


class TestReApheresis:
    """MYO-001: an out-of-specification product leads to a new leukapheresis, then infusion."""

    def test_re_apheresis_then_infusion(self) -> None:
        pw = Pathway.at(CART, "manufacturing")
        pw.advance(days=20)
        pw.send("report_out_of_specification")
        rule = pw.protocol.washout_rule(WASHOUT_DRUG)
        assert rule is not None
        pw.advance(days=2)
        pw.send("book_apheresis", slot_at=pw.now + timedelta(days=3))
        pw.advance(days=3)
        pw.send("record_apheresis", coi_id="COI-0043-LUP")
        assert pw.record.product.collections == 2
        assert pw.record.product.coi_id == "COI-0043-LUP"
        pw.run_until("inpatient")
        assert len(pw.record.infusions) == 1

    def test_washout_recorded_again_then_re_apheresis(self) -> None:
        """Treatment restarted while the first product was made: the new washout is recorded
        in out_of_specification and the new slot must respect it."""
        pw = Pathway.at(CART, "manufacturing")
        pw.advance(days=20)
        pw.send("report_out_of_specification")
        drug = "cyclophosphamide"
        rule = pw.protocol.washout_rule(drug)
        assert rule is not None
        stopped = pw.now - timedelta(days=2)
        pw.send(
            "record_washout",
            stopped=[{"drug": drug, "stopped_at": stopped}],
            prednisone_mg_per_day=5,
        )
        assert pw.leaf == "out_of_specification"
        assert [(d.drug, d.stopped_at) for d in pw.record.washout] == [(drug, stopped)]
        assert pw.record.prednisone_mg_per_day == 5
        assert {"book_apheresis", "record_washout"} <= set(pw.chart.allowed_now())
        with pytest.raises(e.WashoutIncomplete, match=drug):
            pw.check("book_apheresis", slot_at=stopped + rule.stop_before - timedelta(seconds=1))
        pw.send("book_apheresis", slot_at=stopped + rule.stop_before)
        assert pw.leaf == "apheresis_booked"
        pw.now = stopped + rule.stop_before - timedelta(hours=1)
        with pytest.raises(e.WashoutIncomplete, match=drug):
            pw.check("record_apheresis")
        pw.advance(hours=1)
        pw.send("record_apheresis", coi_id="COI-0043-LUP")
        assert pw.record.product.collections == 2
        pw.run_until("inpatient")
        assert len(pw.record.infusions) == 1

    def test_washout_only_before_a_collection(self) -> None:
        pw = Pathway.at(CART, "manufacturing")
        pw.send("report_out_of_specification")
        pw.send("book_apheresis")
        with pytest.raises(e.ActionNotAllowedNow):
            pw.check("record_washout")

    def test_old_bag_refused_after_re_apheresis(self) -> None:
        pw = Pathway.at(CART, "manufacturing")
        pw.send("report_out_of_specification")
        pw.send("book_apheresis", slot_at=pw.now)
        pw.send("record_apheresis", coi_id="COI-0043-LUP")
        for event in ("ship_to_manufacturer", "release_product", "ship_to_centre"):
            pw.send(event)
        with pytest.raises(e.IdentityMismatch):
            pw.check("receive_product", bag_coi_id=COI)


# ----- hold and resume -------------------------------------------------------------------------
HOLD_POINTS = [
    (CART, "referred"),
    (CART, "awaiting_mdtm"),
    (CART, "washout"),
    (CART, "manufacturing"),
    (CART, "stored"),
    (CART, "lymphodepletion"),
    (CART, "awaiting_infusion"),
    (CART, "thawed"),
    (CART, "out_of_specification"),
    (CART, "inpatient"),
    (CART, "icu"),
    (CART, "short_term"),
    (CART, "long_term"),
    (MSC_SSC, "referred"),
    (MSC_SSC, "to_order"),
    (MSC_SSC, "cleared"),
    (MSC_SSC, "thawed"),
    (MSC_LUPUS, "between_infusions"),
    (MSC_SSC, "short_term"),
]


HELD_ALLOWS = [
    "record_adverse_event",
    "record_death",
    "record_task",
    "report_adverse_event",
    "resume",
    "submit_registry_form",
    "withdraw",
]


def drive(protocol_id: str, leaf: str) -> Pathway:
    if leaf == "icu":
        pw = Pathway.at(protocol_id, "inpatient")
        pw.send("record_adverse_event", kind="ICANS", grade=3, serious=True)
        pw.send("transfer_to_icu")
        return pw
    if leaf == "out_of_specification":
        pw = Pathway.at(protocol_id, "manufacturing")
        pw.send("report_out_of_specification")
        return pw
    return Pathway.at(protocol_id, leaf)


class TestHoldAndResume:
    """A held pathway resumes exactly where it stopped, even in a new chart built from the
    record (a new workflow run): the deep history lives in ``record.history``."""

    @pytest.mark.parametrize("protocol_id,leaf", HOLD_POINTS)
    def test_rebuild_then_resume_returns_to_the_exact_state(
        self, protocol_id: str, leaf: str
    ) -> None:
        pw = drive(protocol_id, leaf)
        held_config = pw.chart.state_ids
        held_allowed = sorted(pw.chart.allowed_now())
        pw.send("hold")
        assert pw.chart.state_ids == ["held"]
        assert pw.record.held_from == leaf
        assert pw.record.history
        assert sorted(pw.chart.allowed_now()) == HELD_ALLOWS

        pw.rebuild()
        assert pw.chart.state_ids == ["held"]
        pw.advance(days=10)
        pw.send("resume")
        assert pw.chart.state_ids == held_config
        assert pw.record.configuration == held_config
        assert sorted(pw.chart.allowed_now()) == held_allowed
        assert pw.record.held_from is None
        assert not list(configuration_problems(pw.chart))

    def test_resume_in_the_same_chart(self) -> None:
        pw = drive(CART, "icu")
        held_config = pw.chart.state_ids
        pw.send("hold").send("resume")
        assert pw.chart.state_ids == held_config == ["pathway", "treatment", "monitoring", "icu"]

    def test_pathway_continues_after_resume(self) -> None:
        pw = drive(CART, "icu")
        pw.send("hold")
        pw.rebuild()
        pw.send("resume")
        pw.send("return_from_icu")
        pw.send("report_adverse_event", adverse_event=1, report="sponsor")
        pw.run_until("completed")
        assert pw.record.icu_transfers == 1
        assert_terminal(pw, "completed")

    def test_second_hold_remembers_the_new_place(self) -> None:
        pw = drive(CART, "stored")
        pw.send("hold")
        pw.rebuild()
        pw.send("resume")
        pw.run_until("awaiting_infusion")
        pw.send("hold")
        pw.rebuild()
        pw.send("resume")
        assert pw.leaf == "awaiting_infusion"

    def test_nothing_but_resume_exits_and_safety_events_while_held(self) -> None:
        pw = drive(CART, "awaiting_mdtm")
        pw.send("hold")
        for event in ("approve_at_mdtm", "hold", "record_work_up"):
            with pytest.raises(e.ActionNotAllowedNow):
                pw.check(event)
        pw.send("record_adverse_event", kind="infection", grade=3, serious=True)
        pw.send("report_adverse_event", report="sponsor")
        assert pw.chart.state_ids == ["held"]
        pw.send("resume")
        assert pw.leaf == "awaiting_mdtm"

    def test_adverse_event_while_held_then_resume_exactly(self) -> None:
        pw = drive(CART, "icu")
        held_config = pw.chart.state_ids
        pw.send("hold")
        history = dict(pw.record.history)
        pw.send("record_adverse_event", kind="infection", grade=3, serious=True)
        assert pw.chart.state_ids == ["held"]
        assert pw.record.history == history and pw.record.held_from == "icu"
        pw.rebuild()
        pw.send("resume")
        assert pw.chart.state_ids == held_config


# ----- safety events anywhere ------------------------------------------------------------------
AE_POINTS = [
    (CART, "referred"),
    (CART, "awaiting_consent"),
    (CART, "washout"),
    (CART, "out_of_specification"),
    (CART, "quarantined"),
    (CART, "stored"),
    (CART, "lymphodepletion"),
    (CART, "awaiting_infusion"),
    (CART, "thawed"),
    (CART, "inpatient"),
    (CART, "icu"),
    (CART, "short_term"),
    (CART, "long_term"),
    (CART, "held"),
    (MSC_SSC, "referred"),
    (MSC_SSC, "ordered"),
    (MSC_SSC, "cleared"),
    (MSC_SSC, "thawed"),
    (MSC_LUPUS, "between_infusions"),
    (MSC_SSC, "long_term"),
    (MSC_SSC, "held"),
]


def drive_for_events(protocol_id: str, leaf: str) -> Pathway:
    if leaf == "held":
        pw = drive(protocol_id, "cleared")
        pw.send("hold")
        return pw
    if leaf == "quarantined":
        pw = Pathway.at(protocol_id, "in_transit")
        pw.send("quarantine_product")
        return pw
    return drive(protocol_id, leaf)


class TestAdverseEventsAnywhere:
    """record_adverse_event and report_adverse_event are targetless: accepted in every
    non-final state, held included, they record without leaving or re-entering any state."""

    @pytest.mark.parametrize("protocol_id,leaf", AE_POINTS)
    def test_recorded_without_moving_the_pathway(self, protocol_id: str, leaf: str) -> None:
        pw = drive_for_events(protocol_id, leaf)
        assert pw.leaf == leaf
        config = pw.chart.state_ids
        allowed = sorted(pw.chart.allowed_now())
        assert {"record_adverse_event", "report_adverse_event"} <= set(allowed)
        history, held_from = dict(pw.record.history), pw.record.held_from
        before = len(pw.record.adverse_events)
        pw.advance(hours=1)
        pw.send(
            "record_adverse_event",
            kind="flare",
            grade=3,
            serious=True,
            suspected_unexpected=True,
        )
        pw.send("record_adverse_event", kind="infection", grade=2)
        pw.send("report_adverse_event", adverse_event=before + 1, report="susar")

        # Nothing moved: no state left or entered (a pathway never held has no history).
        assert pw.chart.state_ids == config == pw.record.configuration
        assert sorted(pw.chart.allowed_now()) == allowed
        assert pw.record.history == history
        assert pw.record.held_from == held_from
        assert not list(configuration_problems(pw.chart))
        assert pw.rebuild().state_ids == config

        new = pw.record.adverse_events[before:]
        assert [(a.seq, a.kind, a.grade, a.serious, a.suspected_unexpected) for a in new] == [
            (before + 1, "flare", 3, True, True),
            (before + 2, "infection", 2, False, False),
        ]
        assert all(a.at == pw.now for a in new)
        assert new[0].reports == {"susar": pw.now} and new[1].reports == {}
        seqs = [a.seq for a in pw.record.adverse_events]
        assert seqs == list(range(1, len(seqs) + 1))

    def test_happy_path_continues_after_events(self) -> None:
        pw = Pathway.at(CART, "thawed")
        pw.send("record_adverse_event", kind="other", grade=1)
        pw.run_until("completed")
        assert_terminal(pw, "completed")
        assert len(pw.record.adverse_events) == 1


# ----- MSC: a thawed bag discarded -------------------------------------------------------------
class TestMscDiscardThawedProduct:
    """A thawed MSC bag that cannot be infused in time is discarded, with a reason; the
    pathway returns to cleared and a new bag is thawed."""

    def test_discard_then_thaw_again(self) -> None:
        pw = Pathway.at(MSC_SSC, "thawed")
        first_thaw = pw.record.product.thawed_at
        window = pw.protocol.windows.thaw_to_infusion
        pw.advance(window + timedelta(minutes=1))
        with pytest.raises(e.OutsideWindow):
            pw.check("infuse")
        assert next_step(pw).event == "discard_thawed_product"
        pw.send("discard_thawed_product", reason="not infused within the thaw window")
        assert pw.chart.state_ids == ["pathway", "treatment", "cleared"]
        assert pw.record.infusions == []
        with pytest.raises(e.ActionNotAllowedNow):
            pw.check("infuse")
        pw.advance(hours=2)
        pw.send("thaw_product")
        assert pw.leaf == "thawed"
        assert pw.record.product.thawed_at == pw.now != first_thaw
        pw.advance(minutes=15)
        pw.send("infuse")
        assert pw.leaf == "observation" and len(pw.record.infusions) == 1

    def test_second_dose_discarded_then_given(self) -> None:
        pw = Pathway.at(MSC_LUPUS, "between_infusions")
        pw.run_until("thawed")
        pw.send("discard_thawed_product")
        # Back to between infusions (not "cleared"): the next-dose rule still applies.
        assert pw.leaf == "between_infusions" and len(pw.record.infusions) == 1
        assert pw.record.product.thawed_at is None and pw.record.product.discarded == 1
        pw.advance(hours=1)
        pw.send("thaw_product")
        pw.advance(minutes=10)
        pw.send("infuse")
        assert pw.leaf == "observation" and len(pw.record.infusions) == 2

    def test_reason_required(self) -> None:
        pw = Pathway.at(MSC_SSC, "thawed")
        assert EVENT_PAYLOADS["discard_thawed_product"] is Exit
        assert Exit.model_fields["reason"].is_required()
        with pytest.raises(ValidationError):
            pw.action("discard_thawed_product", reason=None)

    @pytest.mark.parametrize(
        "protocol_id,leaf", [(MSC_SSC, "cleared"), (MSC_LUPUS, "between_infusions")]
    )
    def test_only_a_thawed_bag_is_discarded(self, protocol_id: str, leaf: str) -> None:
        pw = Pathway.at(protocol_id, leaf)
        with pytest.raises(e.ActionNotAllowedNow):
            pw.check("discard_thawed_product")


# ----- scenarios from the synthetic cases ------------------------------------------------------
class TestSelectionScenarios:
    """Work-up age, deferral and rejection at the MDTM."""

    def test_lup_002_stale_work_up_refused_until_a_new_one(self) -> None:
        pw = Pathway.new(CART, pseudonym="LUP-002")
        pw.send("record_work_up", completed_at=pw.now - timedelta(days=104))
        assert timedelta(days=104) > pw.protocol.windows.work_up_validity
        with pytest.raises(e.StaleWorkUp):
            pw.check("approve_at_mdtm")
        pw.send("defer_at_mdtm", reason="work-up older than the protocol window")
        pw.advance(days=7)
        pw.send("record_work_up", completed_at=pw.now - timedelta(days=1))
        pw.advance(days=7)
        pw.send("approve_at_mdtm")
        assert pw.leaf == "awaiting_consent"

    def test_lup_003_deferred_for_missing_echocardiography_then_approved(self) -> None:
        pw = Pathway.new(CART, pseudonym="LUP-003")
        pw.send(
            "record_work_up", completed_at=pw.now - timedelta(days=35), missing=["echocardiography"]
        )
        with pytest.raises(e.WorkUpIncomplete, match="echocardiography"):
            pw.check("approve_at_mdtm")
        pw.send("defer_at_mdtm")
        assert pw.leaf == "referred" and pw.record.mdtm_deferrals == 1
        pw.advance(days=10)
        pw.send("record_work_up", completed_at=pw.now)
        pw.send("approve_at_mdtm")
        assert pw.leaf == "awaiting_consent" and pw.record.work_up_missing == []

    def test_ssc_005_day_88_approved_just_in_time(self) -> None:
        pw = Pathway.new(MSC_SSC, pseudonym="SSC-005")
        pw.send("record_work_up", completed_at=pw.now - timedelta(days=88))
        assert timedelta(days=88) < pw.protocol.windows.work_up_validity
        pw.send("approve_at_mdtm")
        assert pw.leaf == "awaiting_consent"

    def test_myo_004_ineligible_at_mdtm(self) -> None:
        pw = Pathway.new(CART, pseudonym="MYO-004")
        pw.send("record_work_up", completed_at=pw.now - timedelta(days=10), lvef_percent=35)
        pw.send("reject_at_mdtm", reason="LVEF 35 % below the protocol threshold")
        assert_terminal(pw, "ineligible")

    def test_vas_002_consent_withdrawn_after_approval(self) -> None:
        pw = Pathway.at(CART, "awaiting_consent", pseudonym="VAS-002")
        assert pw.record.mdtm_approved_at is not None
        pw.send("withdraw")
        assert_terminal(pw, "withdrawn")
        assert pw.record.consent_at is None

    def test_myo_003_msc_hold_for_infection_during_work_up_then_resumed(self) -> None:
        pw = Pathway.new(MSC_OTHER, pseudonym="MYO-003")
        pw.send("hold", reason="intercurrent pneumonia")
        assert pw.record.held_from == "referred"
        pw.advance(days=21)
        pw.rebuild()
        pw.send("resume")
        assert pw.chart.state_ids == ["pathway", "selection", "referred"]
        pw.send("record_work_up", completed_at=pw.now - timedelta(days=25))
        pw.send("approve_at_mdtm")
        pw.run_until("completed")
        assert_terminal(pw, "completed")

    def test_vas_004_msc_deceased_during_follow_up(self) -> None:
        pw = Pathway.at(MSC_OTHER, "short_term", pseudonym="VAS-004")
        assert pw.protocol.infusions.count == 1
        pw.send("record_death", reason="unrelated cause")
        assert_terminal(pw, "deceased")


class TestProductScenarios:
    """Washout and chain of identity on the product's way to the bedside."""

    def test_lup_005_washout_incomplete_apheresis_refused(self) -> None:
        pw = Pathway.at(CART, "washout", pseudonym="LUP-005")
        rule = pw.protocol.washout_rule(WASHOUT_DRUG)
        assert rule is not None and rule.stop_before > timedelta(days=9)
        stopped = pw.now - timedelta(days=9)
        pw.send("record_washout", stopped=[{"drug": WASHOUT_DRUG, "stopped_at": stopped}])
        with pytest.raises(e.WashoutIncomplete, match="9 days"):
            pw.check("book_apheresis", slot_at=pw.now)
        pw.send("book_apheresis", slot_at=stopped + rule.stop_before)
        with pytest.raises(e.WashoutIncomplete, match="9 days before"):
            pw.check("record_apheresis")
        pw.now = stopped + rule.stop_before
        pw.send("record_apheresis")
        assert pw.leaf == "collected"

    def test_ssc_004_bag_mismatch_quarantined_then_rechecked(self) -> None:
        pw = Pathway.at(CART, "in_transit", pseudonym="SSC-004")
        with pytest.raises(e.IdentityMismatch):
            pw.check("receive_product", bag_coi_id=WRONG_COI)
        pw.send("quarantine_product", finding="bag label does not match the COI identifier")
        assert pw.leaf == "quarantined" and pw.record.product.received_at is None
        with pytest.raises(e.ActionNotAllowedNow):
            pw.check("clear_for_treatment")
        pw.advance(days=1)
        pw.send("release_from_quarantine", bag_coi_id=COI)
        assert pw.leaf == "stored" and not pw.record.product.quarantined
        pw.run_until("inpatient")


class TestTreatmentScenarios:
    """Fever, adverse events and ICU around D0."""

    def test_myo_002_fever_postpones_infusion_until_afebrile(self) -> None:
        pw = Pathway.at(CART, "awaiting_infusion", pseudonym="MYO-002")
        pw.advance(days=1)
        pw.send("record_fever", temperature_c=38.9)
        afebrile = pw.protocol.windows.afebrile_before_infusion
        pw.advance(afebrile - timedelta(hours=6))
        with pytest.raises(e.NotAfebrile):
            pw.check("thaw_product")
        pw.advance(hours=6)
        pw.send("thaw_product")
        pw.advance(minutes=30)
        pw.send("infuse")
        assert pw.leaf == "inpatient"

    def test_fever_past_the_window_lymphodepletion_repeated(self) -> None:
        """A fever late in the window pushes the thaw beyond it: the binôme repeats
        lymphodepletion and the patient is infused in the new window."""
        pw = Pathway.at(CART, "awaiting_infusion")
        first_end = pw.record.lymphodepletion_ended_at
        assert first_end is not None
        w = pw.protocol.windows
        pw.now = first_end + w.infusion_after_lymphodepletion_max - timedelta(hours=12)
        pw.send("record_fever", temperature_c=39.2)
        pw.advance(w.afebrile_before_infusion)
        with pytest.raises(e.OutsideWindow, match="repeat_lymphodepletion"):
            pw.check("thaw_product")
        assert next_step(pw).event == "repeat_lymphodepletion"
        pw.send("repeat_lymphodepletion", reason="infusion window passed during a fever")
        assert pw.leaf == "lymphodepletion"
        pw.run_until("inpatient")
        second_end = pw.record.lymphodepletion_ended_at
        assert second_end is not None and second_end > first_end
        (d0,) = pw.record.infusions
        assert second_end + w.infusion_after_lymphodepletion_min <= d0

    def test_ssc_001_crs_treated_then_discharged(self) -> None:
        pw = Pathway.at(CART, "inpatient", pseudonym="SSC-001")
        pw.advance(days=2)
        pw.send("record_adverse_event", kind="CRS", grade=2)
        pw.advance(days=8)
        pw.send("discharge")
        assert pw.leaf == "short_term"
        assert [(a.kind, a.grade) for a in pw.record.adverse_events] == [("CRS", 2)]

    def test_vas_001_icans_grade_3_icu_then_recovery(self) -> None:
        pw = Pathway.at(CART, "inpatient", pseudonym="VAS-001")
        pw.send("record_adverse_event", kind="ICANS", grade=3, serious=True)
        pw.send("transfer_to_icu")
        assert pw.chart.state_ids == ["pathway", "treatment", "monitoring", "icu"]
        pw.send("record_adverse_event", kind="ICANS", grade=2)
        with pytest.raises(e.ActionNotAllowedNow):
            pw.check("discharge")
        pw.advance(days=3)
        pw.send("return_from_icu")
        pw.advance(days=7)
        pw.send("discharge")
        assert pw.leaf == "short_term" and pw.record.icu_transfers == 1
        assert len(pw.record.adverse_events) == 2

    def test_lup_004_second_msc_dose_waits_for_the_interval(self) -> None:
        pw = Pathway.at(MSC_LUPUS, "between_infusions", pseudonym="LUP-004")
        schedule = protocol(MSC_LUPUS).infusions
        pw.advance(days=1)
        with pytest.raises(e.OutsideWindow):
            pw.check("thaw_product")
        pw.now = pw.record.infusions[0] + schedule.interval
        with pytest.raises(e.NotClearedForTreatment):
            pw.check("thaw_product")  # fitness is checked again before a further dose
        pw.send("clear_for_treatment").send("thaw_product").send("infuse")
        assert pw.leaf == "observation" and len(pw.record.infusions) == 2


class TestCarTDiscardThawedProduct:
    """A CAR-T bag thawed too long ago is discarded: the binôme then decides, as after an
    out-of-specification release, between re-apheresis and exit."""

    def test_discard_leads_to_re_apheresis_or_exit(self) -> None:
        pw = Pathway.at(CART, "thawed")
        pw.advance(hours=3)
        with pytest.raises(e.OutsideWindow):
            pw.check("infuse")
        pw.send("discard_thawed_product", reason="thaw window exceeded")
        assert pw.leaf == "out_of_specification"
        assert pw.record.product.thawed_at is None and pw.record.product.discarded == 1
        assert {"book_apheresis", "declare_manufacturing_failure"} <= set(pw.chart.allowed_now())

    def test_a_later_thaw_time_in_the_payload_cannot_make_the_bag_younger(self) -> None:
        pw = Pathway.at(CART, "thawed")
        pw.advance(hours=3)
        with pytest.raises(e.OutsideWindow):
            pw.check("infuse", thawed_at=pw.now - timedelta(minutes=10))


class TestSafetyReportsOutliveThePathway:
    """A serious adverse event recorded before death or withdrawal must still be reported:
    after the end, ``report_adverse_event`` is the only event accepted, while a report is due."""

    @pytest.mark.parametrize(
        ("event", "final"), [("record_death", "deceased"), ("withdraw", "withdrawn")]
    )
    def test_only_due_reports_are_accepted_after_the_end(self, event: str, final: str) -> None:
        pw = drive(CART, "inpatient")
        pw.send(
            "record_adverse_event", kind="CRS", grade=4, serious=True, suspected_unexpected=True
        )
        pw.send(event, reason="end")
        assert pw.leaf == final and pw.chart.finished
        assert pw.chart.allowed_now() == ["report_adverse_event"]
        for other in ("record_adverse_event", "resume", "record_visit"):
            with pytest.raises(e.ActionNotAllowedNow):
                pw.check(other)
        pw.send("report_adverse_event", adverse_event=1, report="sponsor")
        with pytest.raises(e.ActionNotAllowedNow):
            pw.check("report_adverse_event", adverse_event=1, report="sponsor")
        assert pw.chart.allowed_now() == ["report_adverse_event"]
        pw.send("report_adverse_event", adverse_event=1, report="susar")
        assert pw.chart.state_ids == [final]
        assert_terminal(pw, final)
