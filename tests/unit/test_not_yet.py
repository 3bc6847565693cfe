"""Refusals of premature steps say what stands in the way (states/not_yet.py), under the
unchanged rule ``ActionNotAllowedNow``: the product not on site and where it is, consent
missing, the patient not cleared; other combinations keep the general sentence."""

from __future__ import annotations

import pytest

from models.actions import EVENT_PAYLOADS
from states import errors as e
from states.not_yet import ANY_EVENT, NOT_YET, why_not_yet
from states.registry import CHARTS
from tests.support.chart_factory import CART, MSC_SSC, Pathway
from tests.unit.test_chart_guards import assert_refused

THERAPIES = {chart.therapy for chart in CHARTS.values()}
STATES = {state for chart in CHARTS.values() for state in chart.states_map}


class TestTheTableIsAboutRealStepsAndStates:
    """A typo in the table would silently never match."""

    @pytest.mark.parametrize(("event", "state"), sorted(NOT_YET))
    def test_event_and_state_exist(self, event: str, state: str) -> None:
        assert event == ANY_EVENT or event in EVENT_PAYLOADS
        therapy, _, bare = state.rpartition(":")
        assert not therapy or therapy in THERAPIES
        assert bare in STATES

    def test_sentences_are_for_people(self) -> None:
        for why in NOT_YET.values():
            text = why.format(where="Manufacturing")
            assert text.endswith(".") and "{" not in text and "}" not in text, text


class TestProductNotOnSite:
    """Treatment asked for before the product is on site says where the product is."""

    def test_lymphodepletion_while_in_transit(self) -> None:
        pw = Pathway.at(CART, "in_transit")
        err = assert_refused(pw, "start_lymphodepletion", e.ActionNotAllowedNow)
        assert "not on site" in err.message and "in transit" in err.message
        assert "receive_product" in err.message and "clear_for_treatment" in err.message
        assert "'in_transit'" in err.message and "Possible now: " in err.message
        assert "cannot be done while" not in err.message

    def test_clearance_while_manufacturing_names_where_the_product_is(self) -> None:
        pw = Pathway.at(CART, "manufacturing")
        err = assert_refused(pw, "clear_for_treatment", e.ActionNotAllowedNow)
        assert "not on site" in err.message and "Manufacturing" in err.message
        assert "cleared for treatment (clear_for_treatment)" not in err.message

    def test_infusion_with_the_product_stored_but_not_cleared(self) -> None:
        err = assert_refused(Pathway.at(CART, "stored"), "infuse", e.ActionNotAllowedNow)
        assert "not cleared" in err.message and "clear_for_treatment" in err.message

    def test_msc_thaw_before_receipt(self) -> None:
        err = assert_refused(Pathway.at(MSC_SSC, "ordered"), "thaw_product", e.ActionNotAllowedNow)
        assert "ordered" in err.message and "receive_product" in err.message


class TestConsentAndOrder:
    def test_product_step_before_consent(self) -> None:
        pw = Pathway.at(CART, "awaiting_mdtm")
        err = assert_refused(pw, "book_apheresis", e.ActionNotAllowedNow)
        assert "Consent is missing" in err.message and "record_consent" in err.message

    def test_consent_before_the_mdtm(self) -> None:
        pw = Pathway.at(CART, "awaiting_mdtm")
        err = assert_refused(pw, "record_consent", e.ActionNotAllowedNow)
        assert "approve_at_mdtm" in err.message

    def test_msc_infusion_before_thaw_does_not_speak_of_lymphodepletion(self) -> None:
        err = assert_refused(Pathway.at(MSC_SSC, "cleared"), "infuse", e.ActionNotAllowedNow)
        assert "thaw_product" in err.message and "lymphodepletion" not in err.message

    def test_cart_infusion_before_lymphodepletion(self) -> None:
        err = assert_refused(Pathway.at(CART, "cleared"), "infuse", e.ActionNotAllowedNow)
        assert "start_lymphodepletion" in err.message


class TestOtherRefusalsKeepTheGeneralSentence:
    def test_a_step_already_past(self) -> None:
        pw = Pathway.at(CART, "stored")
        err = assert_refused(pw, "record_work_up", e.ActionNotAllowedNow)
        assert err.message.startswith("'record_work_up' cannot be done while the pathway is at")

    def test_unlisted_lookup_is_none(self) -> None:
        assert why_not_yet("record_work_up", ["pathway", "product", "stored"]) is None

    def test_innermost_state_wins(self) -> None:
        why = why_not_yet("infuse", ["pathway", "product", "in_transit"], therapy="car-t")
        assert why is not None and "in transit" in why


class TestHeld:
    def test_a_held_pathway_says_resume_first(self) -> None:
        pw = Pathway.at(CART, "stored")
        pw.send("hold")
        err = assert_refused(pw, "clear_for_treatment", e.ActionNotAllowedNow)
        assert "on hold" in err.message and "resume" in err.message
