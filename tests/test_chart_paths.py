"""Whole pathways through the pure charts: happy paths, every exit, hold and resume, and the
scenarios of the synthetic cases (shared/samples/cases.csv) that a chart alone can play."""

from __future__ import annotations

from datetime import timedelta

import pytest

from models.actions import EVENT_PAYLOADS
from states import errors as e
from states.base import EXITS
from tests.chart_factory import (
    CART,
    COI,
    MSC_LUPUS,
    MSC_SSC,
    WASHOUT_DRUG,
    WRONG_COI,
    Pathway,
    configuration_problems,
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
        assert r.product.thawed_at is None
        assert list(r.visits) == [v.label for v in pw.protocol.visits]
        assert r.held_from is None


class TestMscHappyPath:
    """MSC: order, receive, thaw and infuse as many times as the protocol says."""

    def test_two_infusions_seven_days_apart(self) -> None:
        """LUP-004: msc-lupus-repeated gives two infusions, D0 and D7."""
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
            "between_infusions",
            "thawed",
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
        """SSC-002: a single infusion goes straight to follow-up."""
        pw = Pathway.at(MSC_SSC, "thawed")
        assert pw.protocol.infusions.count == 1
        pw.advance(minutes=10)
        pw.send("infuse")
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
    (CART, "inpatient"),
    (CART, "icu"),
    (CART, "short_term"),
    (CART, "long_term"),
    (MSC_SSC, "referred"),
    (MSC_SSC, "to_order"),
    (MSC_SSC, "cleared"),
    (MSC_LUPUS, "between_infusions"),
    (MSC_SSC, "short_term"),
]


def drive(protocol_id: str, leaf: str) -> Pathway:
    if leaf == "icu":
        pw = Pathway.at(protocol_id, "inpatient")
        pw.send("record_adverse_event", kind="ICANS", grade=3, serious=True)
        pw.send("transfer_to_icu")
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
        assert sorted(pw.chart.allowed_now()) == ["record_death", "resume", "withdraw"]

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

    def test_nothing_but_resume_and_exits_while_held(self) -> None:
        pw = drive(CART, "awaiting_mdtm")
        pw.send("hold")
        for event in ("approve_at_mdtm", "hold", "record_work_up"):
            with pytest.raises(e.ActionNotAllowedNow):
                pw.check(event)


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
        assert timedelta(days=88) <= pw.protocol.windows.work_up_validity
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
        pw = Pathway.new(MSC_SSC, pseudonym="MYO-003")
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
            pw.check("infuse")
        pw.advance(hours=6)
        pw.send("infuse")
        assert pw.leaf == "inpatient"

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
        pw.send("thaw_product").send("infuse")
        assert pw.leaf == "short_term" and len(pw.record.infusions) == 2
