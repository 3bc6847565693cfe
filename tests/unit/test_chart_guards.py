"""Every guard of the pathway charts, passing and refusing, without Temporal.

A refusal must raise the rule's ``PathwayError`` subclass with a sentence a nurse can read,
and leave the record and the configuration exactly as they were, whether the action was only
checked (an Update validator) or applied (an Update handler).
"""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Any

import pytest
from pydantic import ValidationError

from models.roles import Role, roles_allowed
from states import errors as e
from states.guards import days_text
from tests.support.chart_factory import (
    ARD,
    CART,
    COI,
    CTS,
    MSC_LUPUS,
    MSC_SSC,
    NURSES,
    WASHOUT_DRUG,
    WRONG_COI,
    Pathway,
    protocol,
)

# Leftovers of formatting that a person should never read in a refusal.
_NOT_FOR_PEOPLE = re.compile(r"datetime\.|timedelta\(|State\(|<[a-z]|\{|\}|\bNone\b|Traceback")


def assert_sentence(message: str) -> None:
    assert message == message.strip() and "\n" not in message, message
    assert message.endswith("."), message
    assert len(message.split()) >= 4, message
    assert not _NOT_FOR_PEOPLE.search(message), message


def assert_refused(
    pw: Pathway, event: str, error: type[e.PathwayError], **data: Any
) -> e.PathwayError:
    """``event`` is refused with ``error`` by check and by apply, and changes nothing."""
    before = pw.snapshot()
    leaf = pw.leaf
    action = pw.action(event, **data)
    with pytest.raises(error) as checked:
        pw.chart.check(event, action, pw.now)
    assert pw.snapshot() == before
    with pytest.raises(error) as applied:
        pw.chart.apply(event, action, pw.now)
    assert pw.snapshot() == before
    err = applied.value
    assert type(err) is error and type(checked.value) is error
    assert str(err) == err.message == str(checked.value)
    assert_sentence(err.message)
    assert err.rule == error.__name__
    assert err.event == event
    assert err.state == leaf
    return err


def assert_accepted(pw: Pathway, event: str, to: str, **data: Any) -> None:
    pw.chart.check(event, pw.action(event, **data), pw.now)
    pw.send(event, **data)
    assert pw.leaf == to


def days(delta: timedelta) -> str:
    return f"{delta.days} days"


def minutes_or_hours(delta: timedelta) -> str:
    """A short window as staff should read it: "90 minutes", "1 hour", "2 hours"."""
    minutes = round(delta.total_seconds() / 60)
    if minutes % 60:
        return f"{minutes} minutes"
    return "1 hour" if minutes == 60 else f"{minutes // 60} hours"


# ----- the dispatcher itself ------------------------------------------------------------------
class TestEventsTheChartDoesNotTake:
    """Unknown and out-of-order events are refused with what is possible now."""

    def test_unknown_event(self) -> None:
        pw = Pathway.new(CART)
        action = pw.action("hold")
        before = pw.snapshot()
        with pytest.raises(e.UnknownEvent) as info:
            pw.chart.check("teleport", action, pw.now)
        assert_sentence(info.value.message)
        with pytest.raises(e.UnknownEvent):
            pw.chart.apply("teleport", action, pw.now)
        assert pw.snapshot() == before

    def test_out_of_order_event_lists_what_is_possible(self) -> None:
        pw = Pathway.new(CART)
        err = assert_refused(pw, "infuse", e.ActionNotAllowedNow)
        assert "record_work_up" in err.message and "referred" in err.message

    def test_event_of_the_other_therapy(self) -> None:
        assert_refused(Pathway.at(MSC_SSC, "to_order"), "record_washout", e.ActionNotAllowedNow)
        assert_refused(Pathway.at(CART, "washout"), "order_product", e.ActionNotAllowedNow)


# ----- selection ------------------------------------------------------------------------------
class TestWorkUpDate:
    """A work-up cannot be dated in the future."""

    def test_future_date_refused(self) -> None:
        pw = Pathway.new(CART)
        err = assert_refused(
            pw, "record_work_up", e.DateInFuture, completed_at=pw.now + timedelta(days=1)
        )
        assert "future" in err.message

    def test_today_accepted(self) -> None:
        pw = Pathway.new(CART)
        assert_accepted(pw, "record_work_up", "awaiting_mdtm", completed_at=pw.now)


class TestWorkUpFreshAtMdtm:
    """Approval needs a complete work-up less than the protocol's validity window old
    ("less than 3 months"): a work-up exactly as old as the window is too old."""

    @pytest.mark.parametrize("protocol_id", [CART, MSC_SSC])
    def test_exactly_at_the_window_is_stale(self, protocol_id: str) -> None:
        pw = Pathway.new(protocol_id)
        window = pw.protocol.windows.work_up_validity
        pw.send("record_work_up", completed_at=pw.now)
        pw.advance(window)
        err = assert_refused(pw, "approve_at_mdtm", e.StaleWorkUp)
        assert f"must be less than {days(window)} old" in err.message

    @pytest.mark.parametrize("protocol_id", [CART, MSC_SSC])
    def test_one_second_inside_the_window_is_accepted(self, protocol_id: str) -> None:
        pw = Pathway.new(protocol_id)
        window = pw.protocol.windows.work_up_validity
        pw.send("record_work_up", completed_at=pw.now)
        pw.advance(window - timedelta(seconds=1))
        assert_accepted(pw, "approve_at_mdtm", "awaiting_consent")

    @pytest.mark.parametrize("protocol_id", [CART, MSC_SSC])
    def test_one_second_past_the_window_is_stale(self, protocol_id: str) -> None:
        pw = Pathway.new(protocol_id)
        window = pw.protocol.windows.work_up_validity
        pw.send("record_work_up", completed_at=pw.now)
        pw.advance(window + timedelta(seconds=1))
        assert_refused(pw, "approve_at_mdtm", e.StaleWorkUp)

    def test_stale_message_gives_age_and_window(self) -> None:
        pw = Pathway.new(CART)
        window = pw.protocol.windows.work_up_validity
        pw.send("record_work_up", completed_at=pw.now)
        pw.advance(window + timedelta(days=5))
        err = assert_refused(pw, "approve_at_mdtm", e.StaleWorkUp)
        assert f"is {days(window + timedelta(days=5))} old" in err.message
        assert f"must be less than {days(window)} old" in err.message

    def test_missing_items_refused_and_listed(self) -> None:
        pw = Pathway.new(CART)
        pw.send("record_work_up", missing=["echocardiography", "DLCO"])
        err = assert_refused(pw, "approve_at_mdtm", e.WorkUpIncomplete)
        assert "echocardiography" in err.message and "DLCO" in err.message

    def test_no_work_up_on_record_refused(self) -> None:
        pw = Pathway.at(CART, "awaiting_mdtm")
        # A record restored without a work-up date (e.g. migrated from another system).
        pw.record.work_up_completed_at = None
        pw.rebuild()
        assert_refused(pw, "approve_at_mdtm", e.WorkUpIncomplete)

    def test_stale_work_up_does_not_block_defer_or_reject(self) -> None:
        pw = Pathway.new(CART)
        pw.send("record_work_up", completed_at=pw.now)
        pw.advance(pw.protocol.windows.work_up_validity * 2)
        pw.chart.check("reject_at_mdtm", pw.action("reject_at_mdtm"), pw.now)
        assert_accepted(pw, "defer_at_mdtm", "referred")


class TestBinome:
    """MDTM decisions carry two different people, and the sender is one of them."""

    @pytest.mark.parametrize("event", ["approve_at_mdtm", "defer_at_mdtm", "reject_at_mdtm"])
    @pytest.mark.parametrize(
        "spelling", [ARD.upper(), ARD.replace(".", ". ").title()], ids=["upper", "spaced"]
    )
    def test_same_person_twice_refused(self, event: str, spelling: str) -> None:
        pw = Pathway.at(CART, "awaiting_mdtm")
        err = assert_refused(
            pw,
            event,
            e.BinomeIncomplete,
            ard_specialist=ARD,
            cell_therapy_specialist=spelling,
        )
        assert "two different people" in err.message

    @pytest.mark.parametrize("event", ["approve_at_mdtm", "defer_at_mdtm", "reject_at_mdtm"])
    def test_actor_not_a_signatory_refused(self, event: str) -> None:
        pw = Pathway.at(CART, "awaiting_mdtm")
        err = assert_refused(pw, event, e.BinomeIncomplete, actor="dr.dupont")
        assert "dr.dupont" in err.message

    def test_either_signatory_may_send_it(self) -> None:
        pw = Pathway.at(MSC_SSC, "awaiting_mdtm")
        assert_accepted(
            pw, "approve_at_mdtm", "awaiting_consent", actor=CTS, role="cell_therapy_specialist"
        )


# ----- washout and leukapheresis (CAR-T) -----------------------------------------------------
def stop(drug: str, pw: Pathway, ago: timedelta) -> dict[str, Any]:
    return {"drug": drug, "stopped_at": pw.now - ago}


def at_washout_point(leaf: str) -> Pathway:
    """Where a washout is recorded: before the first leukapheresis, or after an
    out-of-specification product, before the next."""
    if leaf == "out_of_specification":
        pw = Pathway.at(CART, "manufacturing")
        pw.send("report_out_of_specification")
        return pw
    return Pathway.at(CART, leaf)


WASHOUT_POINTS = ["washout", "out_of_specification"]


class TestWashoutRecord:
    """Only drugs of the protocol's washout table, stopped in the past; recorded before the
    first leukapheresis or again after an out-of-specification product."""

    @pytest.mark.parametrize("leaf", WASHOUT_POINTS)
    def test_unknown_drug_refused_and_known_ones_listed(self, leaf: str) -> None:
        pw = at_washout_point(leaf)
        err = assert_refused(
            pw,
            "record_washout",
            e.WashoutIncomplete,
            stopped=[stop("voclosporin", pw, timedelta(days=30))],
        )
        assert "voclosporin" in err.message and WASHOUT_DRUG in err.message

    @pytest.mark.parametrize("leaf", WASHOUT_POINTS)
    def test_stop_date_in_future_refused(self, leaf: str) -> None:
        pw = at_washout_point(leaf)
        assert_refused(
            pw,
            "record_washout",
            e.DateInFuture,
            stopped=[stop(WASHOUT_DRUG, pw, -timedelta(days=1))],
        )

    @pytest.mark.parametrize("leaf", WASHOUT_POINTS)
    def test_known_drug_any_case_accepted(self, leaf: str) -> None:
        pw = at_washout_point(leaf)
        assert_accepted(
            pw, "record_washout", leaf, stopped=[stop("Azathioprine", pw, timedelta(days=1))]
        )
        assert pw.record.washout_recorded
        assert [d.drug for d in pw.record.washout] == ["Azathioprine"]


class TestWashoutBySlot:
    """A leukapheresis slot is booked only where every drug will have been stopped long enough."""

    def setup_pathway(self, **washout: Any) -> Pathway:
        pw = Pathway.at(CART, "washout")
        pw.send("record_washout", **washout)
        return pw

    def test_booking_before_washout_recorded_refused(self) -> None:
        pw = Pathway.at(CART, "washout")
        err = assert_refused(pw, "book_apheresis", e.WashoutIncomplete)
        assert "Record the washout" in err.message

    def test_slot_too_early_refused(self) -> None:
        pw = Pathway.at(CART, "washout")
        rule = pw.protocol.washout_rule(WASHOUT_DRUG)
        assert rule is not None
        stopped = pw.now
        pw.send("record_washout", stopped=[{"drug": WASHOUT_DRUG, "stopped_at": stopped}])
        slot = stopped + rule.stop_before - timedelta(seconds=1)
        err = assert_refused(pw, "book_apheresis", e.WashoutIncomplete, slot_at=slot)
        assert WASHOUT_DRUG in err.message and days(rule.stop_before) in err.message

    def test_slot_exactly_at_the_end_of_washout_accepted(self) -> None:
        pw = Pathway.at(CART, "washout")
        rule = pw.protocol.washout_rule(WASHOUT_DRUG)
        assert rule is not None
        stopped = pw.now
        pw.send("record_washout", stopped=[{"drug": WASHOUT_DRUG, "stopped_at": stopped}])
        assert_accepted(
            pw, "book_apheresis", "apheresis_booked", slot_at=stopped + rule.stop_before
        )

    def test_prednisone_above_protocol_maximum_refused(self) -> None:
        pw = Pathway.at(CART, "washout")
        limit = pw.protocol.prednisone_max_mg_per_day
        pw.send("record_washout", prednisone_mg_per_day=limit + 2.5)
        err = assert_refused(pw, "book_apheresis", e.WashoutIncomplete)
        assert "prednisone" in err.message and f"{limit:g} mg/day" in err.message

    def test_prednisone_at_protocol_maximum_accepted(self) -> None:
        pw = Pathway.at(CART, "washout")
        pw.send("record_washout", prednisone_mg_per_day=pw.protocol.prednisone_max_mg_per_day)
        assert_accepted(pw, "book_apheresis", "apheresis_booked")

    def test_drug_without_washout_needs_no_delay(self) -> None:
        pw = Pathway.at(CART, "washout")
        rule = pw.protocol.washout_rule("hydroxychloroquine")
        assert rule is not None and rule.stop_before == timedelta(0)
        pw.send("record_washout", stopped=[{"drug": "hydroxychloroquine", "stopped_at": pw.now}])
        assert_accepted(pw, "book_apheresis", "apheresis_booked", slot_at=pw.now)


class TestWashoutAtApheresis:
    """Leukapheresis waits for the washout, whatever the slot said."""

    def booked(self) -> tuple[Pathway, timedelta]:
        pw = Pathway.at(CART, "washout")
        rule = pw.protocol.washout_rule(WASHOUT_DRUG)
        assert rule is not None
        pw.send("record_washout", stopped=[{"drug": WASHOUT_DRUG, "stopped_at": pw.now}])
        pw.send("book_apheresis", slot_at=pw.now + rule.stop_before)
        return pw, rule.stop_before

    def test_collection_before_washout_complete_refused(self) -> None:
        pw, needed = self.booked()
        pw.advance(needed - timedelta(days=1))
        err = assert_refused(pw, "record_apheresis", e.WashoutIncomplete)
        assert WASHOUT_DRUG in err.message

    def test_collection_once_washout_complete_accepted(self) -> None:
        pw, needed = self.booked()
        pw.advance(needed)
        assert_accepted(pw, "record_apheresis", "collected")
        assert pw.record.product.coi_id == COI

    def test_prednisone_too_high_at_collection_refused(self) -> None:
        pw, needed = self.booked()
        pw.advance(needed)
        # A dose raised after booking (e.g. a flare), as restored from the record.
        pw.record.prednisone_mg_per_day = pw.protocol.prednisone_max_mg_per_day + 5
        pw.rebuild()
        assert_refused(pw, "record_apheresis", e.WashoutIncomplete)


# ----- product ---------------------------------------------------------------------------------
class TestChainOfIdentity:
    """Bag identifiers must match the patient's chain-of-identity identifier."""

    @pytest.mark.parametrize("protocol_id,leaf", [(CART, "in_transit"), (MSC_SSC, "ordered")])
    def test_mismatch_at_receipt_refused(self, protocol_id: str, leaf: str) -> None:
        pw = Pathway.at(protocol_id, leaf)
        err = assert_refused(pw, "receive_product", e.IdentityMismatch, bag_coi_id=WRONG_COI)
        assert WRONG_COI in err.message and "quarantine" in err.message

    @pytest.mark.parametrize("protocol_id,leaf", [(CART, "in_transit"), (MSC_SSC, "ordered")])
    def test_match_ignores_case(self, protocol_id: str, leaf: str) -> None:
        pw = Pathway.at(protocol_id, leaf)
        assert_accepted(pw, "receive_product", "stored", bag_coi_id=COI.lower())
        assert pw.record.product.received_at == pw.now

    @pytest.mark.parametrize("protocol_id,leaf", [(CART, "in_transit"), (MSC_SSC, "ordered")])
    def test_release_from_quarantine(self, protocol_id: str, leaf: str) -> None:
        pw = Pathway.at(protocol_id, leaf)
        pw.send("quarantine_product")
        assert pw.record.product.quarantined
        assert_refused(pw, "release_from_quarantine", e.IdentityMismatch, bag_coi_id=WRONG_COI)
        assert_accepted(pw, "release_from_quarantine", "stored", bag_coi_id=COI)
        assert not pw.record.product.quarantined

    def test_no_identifier_on_record_refused(self) -> None:
        pw = Pathway.at(MSC_SSC, "ordered")
        pw.record.product.coi_id = None
        pw.rebuild()
        assert_refused(pw, "receive_product", e.IdentityMismatch, bag_coi_id=COI)

    def test_mismatch_at_cart_thaw_and_infusion_refused(self) -> None:
        pw = Pathway.at(CART, "awaiting_infusion")
        pw.advance(pw.protocol.windows.infusion_after_lymphodepletion_min)
        err = assert_refused(pw, "thaw_product", e.IdentityMismatch, bag_coi_id=WRONG_COI)
        assert WRONG_COI in err.message
        pw.send("thaw_product")
        assert_refused(pw, "infuse", e.IdentityMismatch, bag_coi_id=WRONG_COI)

    def test_mismatch_at_msc_thaw_and_infusion_refused(self) -> None:
        pw = Pathway.at(MSC_SSC, "cleared")
        assert_refused(pw, "thaw_product", e.IdentityMismatch, bag_coi_id=WRONG_COI)
        pw.send("thaw_product")
        assert_refused(pw, "infuse", e.IdentityMismatch, bag_coi_id=WRONG_COI)


# ----- treatment -------------------------------------------------------------------------------
class TestFitForTreatment:
    """The pre-infusion check clears treatment only without infection, with a good heart and
    the protocol's tocilizumab on site."""

    def test_active_infection_refused(self) -> None:
        pw = Pathway.at(CART, "stored")
        assert_refused(pw, "clear_for_treatment", e.ActiveInfection, active_infection=True)

    def test_cardiac_not_ok_refused(self) -> None:
        pw = Pathway.at(CART, "stored")
        err = assert_refused(
            pw, "clear_for_treatment", e.NotClearedForTreatment, cardiac_check_ok=False
        )
        assert "cardiac" in err.message

    def test_tocilizumab_below_protocol_minimum_refused(self) -> None:
        pw = Pathway.at(CART, "stored")
        minimum = pw.protocol.tocilizumab_min_doses
        assert minimum >= 1
        err = assert_refused(
            pw,
            "clear_for_treatment",
            e.NotClearedForTreatment,
            tocilizumab_doses_on_site=minimum - 1,
        )
        assert f"at least {minimum}" in err.message

    def test_tocilizumab_at_protocol_minimum_accepted(self) -> None:
        pw = Pathway.at(CART, "stored")
        assert_accepted(
            pw,
            "clear_for_treatment",
            "cleared",
            tocilizumab_doses_on_site=pw.protocol.tocilizumab_min_doses,
        )

    def test_msc_protocol_needs_no_tocilizumab(self) -> None:
        pw = Pathway.at(MSC_SSC, "stored")
        assert pw.protocol.tocilizumab_min_doses == 0
        assert_accepted(pw, "clear_for_treatment", "cleared", tocilizumab_doses_on_site=0)

    def test_msc_active_infection_refused(self) -> None:
        pw = Pathway.at(MSC_SSC, "stored")
        assert_refused(pw, "clear_for_treatment", e.ActiveInfection, active_infection=True)


class TestProductOnSite:
    """Lymphodepletion (CAR-T) and thaw (MSC) need the product received and out of
    quarantine; the refusal reads right for both therapies."""

    @pytest.mark.parametrize(
        "protocol_id,event", [(CART, "start_lymphodepletion"), (MSC_SSC, "thaw_product")]
    )
    def test_quarantined_product_refused(self, protocol_id: str, event: str) -> None:
        pw = Pathway.at(protocol_id, "cleared")
        # Quarantined after clearance (e.g. a storage alarm), as restored from the record.
        pw.record.product.quarantined = True
        pw.rebuild()
        err = assert_refused(pw, event, e.ProductNotOnSite)
        # Therapy-neutral: an MSC nurse is not told about lymphodepletion.
        assert "treatment starts only once it is" in err.message
        assert "lymphodepletion" not in err.message.lower()

    @pytest.mark.parametrize(
        "protocol_id,event", [(CART, "start_lymphodepletion"), (MSC_SSC, "thaw_product")]
    )
    def test_product_never_received_refused(self, protocol_id: str, event: str) -> None:
        pw = Pathway.at(protocol_id, "cleared")
        pw.record.product.received_at = None
        pw.rebuild()
        assert_refused(pw, event, e.ProductNotOnSite)

    def test_product_on_site_accepted(self) -> None:
        pw = Pathway.at(CART, "cleared")
        assert_accepted(pw, "start_lymphodepletion", "lymphodepletion")


class TestCarTThaw:
    """Thawing at the bedside: the patient's bag, afebrile long enough, inside the
    lymphodepletion window. Infusion follows the thaw, never replaces it."""

    def ready(self) -> Pathway:
        pw = Pathway.at(CART, "awaiting_infusion")
        pw.advance(pw.protocol.windows.infusion_after_lymphodepletion_min)
        return pw

    def test_accepted_when_everything_holds(self) -> None:
        pw = self.ready()
        assert_accepted(pw, "thaw_product", "thawed")
        assert pw.chart.state_ids == ["pathway", "treatment", "thawed"]
        assert pw.record.product.thawed_at == pw.now
        assert pw.record.infusions == []

    def test_infusion_without_thaw_refused(self) -> None:
        pw = self.ready()
        err = assert_refused(pw, "infuse", e.ActionNotAllowedNow)
        assert "thaw_product" in err.message and "awaiting_infusion" in err.message

    def test_thaw_only_once(self) -> None:
        pw = self.ready()
        pw.send("thaw_product")
        err = assert_refused(pw, "thaw_product", e.ActionNotAllowedNow)
        assert "infuse" in err.message

    def test_coi_match_ignores_case(self) -> None:
        pw = self.ready()
        assert_accepted(pw, "thaw_product", "thawed", bag_coi_id=COI.lower())

    def test_fever_within_afebrile_window_refused(self) -> None:
        pw = Pathway.at(CART, "awaiting_infusion")
        pw.send("record_fever")
        fever_at = pw.now
        afebrile = pw.protocol.windows.afebrile_before_infusion
        assert afebrile >= pw.protocol.windows.infusion_after_lymphodepletion_min
        pw.now = fever_at + afebrile - timedelta(hours=1)
        err = assert_refused(pw, "thaw_product", e.NotAfebrile)
        assert "1 hour to go" in err.message

    def test_afebrile_for_exactly_the_window_accepted(self) -> None:
        pw = Pathway.at(CART, "awaiting_infusion")
        pw.send("record_fever")
        pw.advance(pw.protocol.windows.afebrile_before_infusion)
        assert_accepted(pw, "thaw_product", "thawed")

    def test_fever_during_lymphodepletion_counts(self) -> None:
        pw = Pathway.at(CART, "lymphodepletion")
        pw.send("record_fever")
        pw.send("complete_lymphodepletion")
        afebrile = pw.protocol.windows.afebrile_before_infusion
        pw.advance(afebrile - timedelta(minutes=30))
        err = assert_refused(pw, "thaw_product", e.NotAfebrile)
        assert "30 minutes to go" in err.message

    def test_too_soon_after_lymphodepletion_refused(self) -> None:
        pw = Pathway.at(CART, "awaiting_infusion")
        ended = pw.record.lymphodepletion_ended_at
        assert ended is not None
        w = pw.protocol.windows
        pw.now = ended + w.infusion_after_lymphodepletion_min - timedelta(seconds=1)
        err = assert_refused(pw, "thaw_product", e.OutsideWindow)
        assert days(w.infusion_after_lymphodepletion_min) in err.message

    def test_too_late_after_lymphodepletion_refused(self) -> None:
        pw = Pathway.at(CART, "awaiting_infusion")
        ended = pw.record.lymphodepletion_ended_at
        assert ended is not None
        w = pw.protocol.windows
        pw.now = ended + w.infusion_after_lymphodepletion_max + timedelta(seconds=1)
        err = assert_refused(pw, "thaw_product", e.OutsideWindow)
        assert days(w.infusion_after_lymphodepletion_max) in err.message
        assert "repeat_lymphodepletion" in err.message
        assert "repeat_lymphodepletion" in pw.chart.allowed_now()

    @pytest.mark.parametrize("edge", ["min", "max"])
    def test_lymphodepletion_window_edges_accepted(self, edge: str) -> None:
        pw = Pathway.at(CART, "awaiting_infusion")
        ended = pw.record.lymphodepletion_ended_at
        assert ended is not None
        pw.now = ended + getattr(pw.protocol.windows, f"infusion_after_lymphodepletion_{edge}")
        assert_accepted(pw, "thaw_product", "thawed")
        # The lymphodepletion window is checked at the thaw: infusion follows within the
        # thaw window even when that falls just past the edge.
        pw.advance(minutes=10)
        assert_accepted(pw, "infuse", "inpatient")


class TestCarTInfusion:
    """Infusion of the thawed bag: two people at the bedside, the patient's bag, inside the
    thaw-to-infusion window counted from the thaw recorded by thaw_product (or the thaw
    time the payload gives)."""

    def thawed(self) -> Pathway:
        pw = Pathway.at(CART, "awaiting_infusion")
        pw.advance(pw.protocol.windows.infusion_after_lymphodepletion_min)
        pw.send("thaw_product")
        return pw

    def test_accepted_when_everything_holds(self) -> None:
        pw = self.thawed()
        pw.advance(minutes=10)
        assert_accepted(pw, "infuse", "inpatient")
        assert pw.chart.state_ids == ["pathway", "treatment", "monitoring", "inpatient"]
        assert pw.record.infusions == [pw.now]
        assert pw.record.d0 == pw.now
        assert pw.record.product.thawed_at is None

    @pytest.mark.parametrize(
        "checked_by",
        [[NURSES[0]], [NURSES[0], NURSES[0].upper()], [NURSES[0], NURSES[0].replace(".", ". ")]],
        ids=["one", "same-twice", "same-spaced"],
    )
    def test_two_person_check_missing(self, checked_by: list[str]) -> None:
        pw = self.thawed()
        err = assert_refused(pw, "infuse", e.TwoPersonCheckMissing, checked_by=checked_by)
        assert "two different people" in err.message

    def test_window_from_thaw_product_exceeded_refused(self) -> None:
        pw = self.thawed()
        thawed_at = pw.record.product.thawed_at
        assert thawed_at is not None
        window = pw.protocol.windows.thaw_to_infusion
        pw.now = thawed_at + window + timedelta(seconds=1)
        err = assert_refused(pw, "infuse", e.OutsideWindow)
        assert f"within {minutes_or_hours(window)} of thawing" in err.message
        assert pw.record.product.thawed_at == thawed_at

    def test_window_from_thaw_product_exactly_at_window_accepted(self) -> None:
        pw = self.thawed()
        thawed_at = pw.record.product.thawed_at
        assert thawed_at is not None
        pw.now = thawed_at + pw.protocol.windows.thaw_to_infusion
        assert_accepted(pw, "infuse", "inpatient")

    def test_thaw_window_from_payload_exceeded_refused(self) -> None:
        pw = self.thawed()
        window = pw.protocol.windows.thaw_to_infusion
        err = assert_refused(
            pw, "infuse", e.OutsideWindow, thawed_at=pw.now - window - timedelta(seconds=1)
        )
        assert f"within {minutes_or_hours(window)} of thawing" in err.message

    def test_thaw_from_payload_exactly_at_window_accepted(self) -> None:
        pw = self.thawed()
        pw.advance(minutes=5)
        window = pw.protocol.windows.thaw_to_infusion
        assert_accepted(pw, "infuse", "inpatient", thawed_at=pw.now - window)

    def test_thaw_time_in_future_refused(self) -> None:
        pw = self.thawed()
        err = assert_refused(pw, "infuse", e.DateInFuture, thawed_at=pw.now + timedelta(minutes=5))
        assert "thaw date is in the future" in err.message


class TestRepeatLymphodepletion:
    """Beyond the lymphodepletion window the binôme repeats it: awaiting_infusion goes back
    to lymphodepletion, and the infusion window counts from the new end."""

    def test_binome_roles(self) -> None:
        assert roles_allowed("repeat_lymphodepletion") == {
            Role.ARD_SPECIALIST,
            Role.CELL_THERAPY_SPECIALIST,
        }

    def test_only_while_awaiting_infusion(self) -> None:
        pw = Pathway.at(CART, "lymphodepletion")
        assert_refused(pw, "repeat_lymphodepletion", e.ActionNotAllowedNow)
        pw.send("complete_lymphodepletion")
        pw.advance(pw.protocol.windows.infusion_after_lymphodepletion_min)
        pw.send("thaw_product")
        assert_refused(pw, "repeat_lymphodepletion", e.ActionNotAllowedNow)

    def test_repeat_then_thaw_in_the_new_window(self) -> None:
        pw = Pathway.at(CART, "awaiting_infusion")
        first_end = pw.record.lymphodepletion_ended_at
        assert first_end is not None
        w = pw.protocol.windows
        pw.now = first_end + w.infusion_after_lymphodepletion_max + timedelta(days=1)
        assert_refused(pw, "thaw_product", e.OutsideWindow)
        assert_accepted(pw, "repeat_lymphodepletion", "lymphodepletion")
        assert pw.chart.state_ids == ["pathway", "treatment", "lymphodepletion"]
        assert_refused(pw, "thaw_product", e.ActionNotAllowedNow)
        pw.advance(days=3)
        assert_accepted(pw, "complete_lymphodepletion", "awaiting_infusion")
        assert pw.record.lymphodepletion_ended_at == pw.now
        # The new window: not before its minimum, then open.
        pw.advance(w.infusion_after_lymphodepletion_min - timedelta(seconds=1))
        assert_refused(pw, "thaw_product", e.OutsideWindow)
        pw.advance(seconds=1)
        assert_accepted(pw, "thaw_product", "thawed")
        pw.advance(minutes=15)
        assert_accepted(pw, "infuse", "inpatient")
        assert len(pw.record.infusions) == 1


class TestMscThawAndInfusion:
    """MSC: infuse within the thaw window; a next dose is thawed no earlier than the
    protocol's interval minus its tolerance."""

    def test_thaw_window_exceeded_refused(self) -> None:
        pw = Pathway.at(MSC_SSC, "cleared")
        pw.send("thaw_product")
        window = pw.protocol.windows.thaw_to_infusion
        pw.advance(window + timedelta(minutes=1))
        err = assert_refused(pw, "infuse", e.OutsideWindow)
        assert f"within {minutes_or_hours(window)} of thawing" in err.message

    def test_thaw_exactly_at_window_accepted(self) -> None:
        pw = Pathway.at(MSC_SSC, "cleared")
        pw.send("thaw_product")
        pw.advance(pw.protocol.windows.thaw_to_infusion)
        assert_accepted(pw, "infuse", "observation")

    def test_two_person_check_missing(self) -> None:
        pw = Pathway.at(MSC_SSC, "thawed")
        assert_refused(pw, "infuse", e.TwoPersonCheckMissing, checked_by=[NURSES[1]])

    def test_next_dose_too_early_refused(self) -> None:
        pw = Pathway.at(MSC_LUPUS, "between_infusions")
        schedule = pw.protocol.infusions
        last = pw.record.infusions[-1]
        pw.now = last + schedule.interval - schedule.interval_tolerance - timedelta(seconds=1)
        err = assert_refused(pw, "thaw_product", e.OutsideWindow)
        assert days(schedule.interval) in err.message

    def test_next_dose_at_earliest_accepted(self) -> None:
        pw = Pathway.at(MSC_LUPUS, "between_infusions")
        schedule = pw.protocol.infusions
        pw.now = pw.record.infusions[-1] + schedule.interval - schedule.interval_tolerance
        assert_accepted(pw, "clear_for_treatment", "between_infusions")
        assert_accepted(pw, "thaw_product", "thawed")


class TestMscObservationAndRecheck:
    """Each MSC infusion is followed by an observation of the protocol's length; a further
    dose waits for fitness checked again after the last infusion."""

    def test_observation_lasts_the_protocol_period(self) -> None:
        pw = Pathway.at(MSC_SSC, "thawed")
        pw.send("infuse")
        assert pw.leaf == "observation"
        period = pw.protocol.infusions.observation
        assert period is not None and pw.protocol.infusions.source_of("observation")
        pw.advance(period - timedelta(minutes=1))
        err = assert_refused(pw, "end_observation", e.MonitoringPeriodNotOver)
        assert "observation" in err.message
        err = assert_refused(pw, "record_visit", e.ActionNotAllowedNow)
        assert "end_observation" in err.message
        pw.advance(minutes=1)
        assert_accepted(pw, "end_observation", "short_term")

    def test_further_dose_needs_a_recheck(self) -> None:
        pw = Pathway.at(MSC_LUPUS, "between_infusions")
        schedule = pw.protocol.infusions
        assert schedule.recheck_before_dose
        pw.now = pw.record.infusions[-1] + schedule.interval
        err = assert_refused(pw, "thaw_product", e.NotClearedForTreatment)
        assert "clear_for_treatment" in err.message
        assert_refused(pw, "clear_for_treatment", e.ActiveInfection, active_infection=True)
        assert_accepted(pw, "clear_for_treatment", "between_infusions")
        assert_accepted(pw, "thaw_product", "thawed")

    def test_a_protocol_without_them_goes_straight_on(self) -> None:
        """Protocols recorded before these rules (no observation, no re-check) decide as
        they did: their histories replay."""
        pw = Pathway.at(MSC_LUPUS, "between_infusions")
        infusions = pw.protocol.infusions.model_copy(
            update={"observation": None, "recheck_before_dose": False}
        )
        pw.protocol = pw.chart.protocol = pw.protocol.model_copy(update={"infusions": infusions})
        pw.now = pw.record.infusions[-1] + infusions.interval
        assert_accepted(pw, "thaw_product", "thawed")
        pw.advance(minutes=10)
        assert_accepted(pw, "infuse", "short_term")


# ----- safety reporting ------------------------------------------------------------------------
class TestSafetyReportDue:
    """report_adverse_event names a recorded adverse event (numbered from 1) and a report
    that event calls for (sponsor for a serious event, SUSAR when also suspected and
    unexpected), once. Accepted, it records the report's time and moves nothing."""

    def with_events(self, protocol_id: str, leaf: str, *events: dict[str, Any]) -> Pathway:
        pw = Pathway.at(protocol_id, leaf)
        for fields in events:
            pw.send("record_adverse_event", **fields)
        return pw

    @pytest.mark.parametrize("protocol_id,leaf", [(CART, "inpatient"), (MSC_SSC, "short_term")])
    def test_no_adverse_event_recorded_refused(self, protocol_id: str, leaf: str) -> None:
        pw = Pathway.at(protocol_id, leaf)
        err = assert_refused(pw, "report_adverse_event", e.MalformedAction, adverse_event=1)
        assert "no adverse event #1" in err.message and "0 recorded" in err.message

    def test_unknown_number_refused(self) -> None:
        pw = self.with_events(CART, "inpatient", {"kind": "CRS", "grade": 3, "serious": True})
        err = assert_refused(pw, "report_adverse_event", e.MalformedAction, adverse_event=2)
        assert "no adverse event #2" in err.message and "1 recorded" in err.message

    def test_numbers_start_at_one(self) -> None:
        pw = self.with_events(CART, "inpatient", {"kind": "CRS", "grade": 3, "serious": True})
        with pytest.raises(ValidationError):
            pw.action("report_adverse_event", adverse_event=0)

    @pytest.mark.parametrize("report", ["sponsor", "susar"])
    def test_not_serious_needs_no_report(self, report: str) -> None:
        pw = self.with_events(CART, "inpatient", {"kind": "CRS", "grade": 2, "serious": False})
        err = assert_refused(pw, "report_adverse_event", e.ActionNotAllowedNow, report=report)
        assert f"#1 needs no {report} report" in err.message
        assert "no report is due" in err.message

    def test_susar_not_due_for_an_expected_serious_event(self) -> None:
        pw = self.with_events(CART, "inpatient", {"kind": "ICANS", "grade": 3, "serious": True})
        err = assert_refused(pw, "report_adverse_event", e.ActionNotAllowedNow, report="susar")
        assert "needs no susar report" in err.message and "(due: sponsor)" in err.message

    def test_sponsor_report_accepted_once(self) -> None:
        pw = self.with_events(CART, "inpatient", {"kind": "ICANS", "grade": 3, "serious": True})
        config = pw.chart.state_ids
        pw.advance(hours=6)
        pw.send("report_adverse_event", report="sponsor")
        assert pw.chart.state_ids == config
        assert pw.record.adverse_events[0].reports == {"sponsor": pw.now}
        pw.advance(hours=1)
        err = assert_refused(pw, "report_adverse_event", e.ActionNotAllowedNow)
        assert "sponsor report of adverse event #1 is already recorded" in err.message

    def test_susar_both_reports_accepted_then_already_recorded(self) -> None:
        pw = self.with_events(
            MSC_SSC,
            "short_term",
            {"kind": "CRS", "grade": 1},
            {
                "kind": "malignancy",
                "grade": 4,
                "serious": True,
                "suspected_unexpected": True,
                "life_threatening_or_fatal": True,
            },
        )
        assert pw.record.adverse_events[1].reports_due() == ["sponsor", "susar"]
        assert_refused(pw, "report_adverse_event", e.ActionNotAllowedNow, adverse_event=1)
        pw.send("report_adverse_event", adverse_event=2, report="susar")
        sent_at = pw.now
        pw.advance(hours=2)
        pw.send("report_adverse_event", adverse_event=2, report="sponsor")
        assert pw.record.adverse_events[1].reports == {"susar": sent_at, "sponsor": pw.now}
        assert pw.record.adverse_events[0].reports == {}
        for report in ("sponsor", "susar"):
            err = assert_refused(
                pw, "report_adverse_event", e.ActionNotAllowedNow, adverse_event=2, report=report
            )
            assert "already recorded" in err.message

    def test_reported_while_held(self) -> None:
        pw = self.with_events(
            CART, "awaiting_infusion", {"kind": "infection", "grade": 3, "serious": True}
        )
        pw.send("hold")
        assert_refused(pw, "report_adverse_event", e.ActionNotAllowedNow, report="susar")
        pw.send("report_adverse_event", report="sponsor")
        assert pw.chart.state_ids == ["held"]
        assert pw.record.adverse_events[0].reports == {"sponsor": pw.now}
        assert_refused(pw, "report_adverse_event", e.ActionNotAllowedNow)


class TestAdverseEventPayload:
    """The adverse-event payload: kinds, grade 1-5, ICE score 0-10, SUSAR flags."""

    @pytest.mark.parametrize(
        "fields",
        [{"grade": 0}, {"grade": 6}, {"ice_score": 11}, {"ice_score": -1}, {"kind": "rash"}],
    )
    def test_out_of_range_refused(self, fields: dict[str, Any]) -> None:
        pw = Pathway.at(CART, "inpatient")
        with pytest.raises(ValidationError):
            pw.action("record_adverse_event", **fields)

    def test_flags_recorded(self) -> None:
        pw = Pathway.at(CART, "inpatient")
        pw.send(
            "record_adverse_event",
            kind="ICANS",
            grade=4,
            ice_score=2,
            serious=True,
            suspected_unexpected=True,
            life_threatening_or_fatal=True,
        )
        (ae,) = pw.record.adverse_events
        assert (ae.seq, ae.at, ae.kind, ae.grade) == (1, pw.now, "ICANS", 4)
        assert ae.serious and ae.suspected_unexpected and ae.life_threatening_or_fatal
        assert ae.reports == {}


# ----- follow-up -------------------------------------------------------------------------------
class TestVisits:
    """Visits come from the protocol, once each; follow-up phases end only when theirs are
    all recorded."""

    @pytest.mark.parametrize("protocol_id", [CART, MSC_SSC])
    def test_unknown_visit_refused(self, protocol_id: str) -> None:
        pw = Pathway.at(protocol_id, "short_term")
        err = assert_refused(pw, "record_visit", e.MalformedAction, visit="W3")
        assert "W3" in err.message and pw.protocol.visits[0].label in err.message

    @pytest.mark.parametrize("protocol_id", [CART, MSC_SSC])
    def test_duplicate_visit_refused(self, protocol_id: str) -> None:
        pw = Pathway.at(protocol_id, "short_term")
        first = pw.protocol.visits[0].label
        pw.send("record_visit", visit=first)
        assert_refused(pw, "record_visit", e.ActionNotAllowedNow, visit=first)

    @pytest.mark.parametrize("protocol_id", [CART, MSC_SSC])
    def test_short_term_visits_outstanding(self, protocol_id: str) -> None:
        pw = Pathway.at(protocol_id, "short_term")
        short = [v.label for v in pw.protocol.visits if not v.long_term]
        for label in short[:-1]:
            pw.send("record_visit", visit=label)
        err = assert_refused(pw, "start_long_term_follow_up", e.VisitsOutstanding)
        assert short[-1] in err.message
        pw.send("record_visit", visit=short[-1])
        assert_accepted(pw, "start_long_term_follow_up", "long_term")

    @pytest.mark.parametrize("protocol_id", [CART, MSC_SSC])
    def test_all_visits_outstanding(self, protocol_id: str) -> None:
        pw = Pathway.at(protocol_id, "long_term")
        long = [v.label for v in pw.protocol.visits if v.long_term]
        err = assert_refused(pw, "complete_follow_up", e.VisitsOutstanding)
        assert long[0] in err.message
        for label in long:
            pw.send("record_visit", visit=label)
        assert_accepted(pw, "complete_follow_up", "completed")


class TestDurationsInRefusals:
    """Refusals give windows in the protocol's own time, on a compressed demo clock too."""

    @pytest.mark.parametrize("seconds_per_day", [None, 2.0], ids=["real", "compressed"])
    def test_windows_read_as_the_protocol_writes_them(self, seconds_per_day: float | None) -> None:
        real = protocol(CART)
        proto = (
            real if seconds_per_day is None else real.compressed(seconds_per_day=seconds_per_day)
        )
        w, rw = proto.windows, real.windows
        assert days_text(w.work_up_validity, proto) == days(rw.work_up_validity)
        assert days_text(w.afebrile_before_infusion, proto) == days(rw.afebrile_before_infusion)
        assert days_text(w.thaw_to_infusion, proto) == minutes_or_hours(rw.thaw_to_infusion)
        assert days_text(timedelta(0), proto) == "0 hours"
