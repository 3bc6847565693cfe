"""Product integrity (issue 12, item 3): a temperature excursion at receipt quarantines the
bag (never stored) with the binôme's two ways out; the release lot and the temperature-log
answer are required; past the usual lymphodepletion-to-infusion window the protocol says
whether the binôme may proceed on a recorded justification, up to the outer limit.
"""

from __future__ import annotations

from datetime import timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from models.safety_rules import LEGACY
from states import errors as e
from states import safety_refusals as s
from states.product_guards import TEMPERATURE_EXCURSION
from tests.support.chart_factory import CART, MSC_SSC, Pathway
from tests.unit.test_chart_guards import assert_accepted, assert_refused

RECEIPT = {CART: "in_transit", MSC_SSC: "ordered"}


class TestTemperatureExcursion:
    @pytest.mark.parametrize("protocol_id", [CART, MSC_SSC])
    def test_an_excursion_quarantines_the_bag(self, protocol_id: str) -> None:
        pw = Pathway.at(protocol_id, RECEIPT[protocol_id])
        assert_accepted(pw, "receive_product", "quarantined", temperature_log_ok=False)
        product = pw.record.product
        assert product.quarantined and product.quarantine_finding == TEMPERATURE_EXCURSION
        assert product.storage_location is None
        assert "clear_for_treatment" not in pw.chart.allowed_now()
        assert {"release_from_quarantine", "discard_quarantined_product"} <= set(
            pw.chart.allowed_now()
        )

    @pytest.mark.parametrize("protocol_id", [CART, MSC_SSC])
    def test_the_temperature_log_must_be_answered(self, protocol_id: str) -> None:
        pw = Pathway.at(protocol_id, RECEIPT[protocol_id])
        err = assert_refused(pw, "receive_product", s.AnswerMissing, temperature_log_ok=None)
        assert "temperature_log_ok" in err.message

    def test_release_from_quarantine_needs_the_assessment(self) -> None:
        pw = Pathway.at(CART, "in_transit")
        pw.send("receive_product", temperature_log_ok=False)
        err = assert_refused(pw, "release_from_quarantine", s.AnswerMissing, reason=None)
        assert TEMPERATURE_EXCURSION in err.message
        assert_accepted(pw, "release_from_quarantine", "stored")
        assert not pw.record.product.quarantined

    @pytest.mark.parametrize(
        ("protocol_id", "to"), [(CART, "out_of_specification"), (MSC_SSC, "to_order")]
    )
    def test_discarding_the_bag(self, protocol_id: str, to: str) -> None:
        pw = Pathway.at(protocol_id, RECEIPT[protocol_id])
        pw.send("receive_product", temperature_log_ok=False)
        assert_accepted(pw, "discard_quarantined_product", to)
        assert pw.record.product.discarded == 1 and pw.record.product.received_at is None

    def test_legacy_pathways_store_the_bag_as_before(self) -> None:
        pw = Pathway.at(CART, "in_transit")
        pw.record.safety_rules = LEGACY
        assert_accepted(pw, "receive_product", "stored", temperature_log_ok=False)


def test_the_release_lot_is_required() -> None:
    pw = Pathway.at(CART, "manufacturing")
    err = assert_refused(pw, "release_product", s.AnswerMissing, lot=None)
    assert "lot" in err.message
    pw.send("release_product")
    assert pw.record.product.lot == "LOT-2025-0042"


class TestBeyondTheUsualWindow:
    """CAR-T protocol: 2-14 days; up to 4 weeks on a recorded justification; then repeat."""

    def at(self, after: timedelta) -> Pathway:
        pw = Pathway.at(CART, "awaiting_infusion")
        ended = pw.record.lymphodepletion_ended_at
        assert ended is not None
        pw.now = ended + after
        return pw

    def test_the_protocol_says_justify_up_to_four_weeks(self) -> None:
        w = Pathway.new(CART).protocol.windows
        assert w.infusion_after_lymphodepletion_max == timedelta(days=14)
        assert w.infusion_after_lymphodepletion_outer == timedelta(weeks=4)
        assert w.after_usual_window == "justify"
        assert w.source_of("infusion_after_lymphodepletion_outer") is not None

    def test_past_the_usual_limit_a_justification_is_needed(self) -> None:
        pw = self.at(timedelta(days=20))
        err = assert_refused(pw, "thaw_product", e.OutsideWindow)
        assert "late_justification" in err.message and "28 days" in err.message
        assert "repeat_lymphodepletion" in err.message
        reason = "binôme: WBC still low, CRP normal; proceed (MDTM 2025-04-01)"
        assert_accepted(pw, "thaw_product", "thawed", late_justification=reason)
        assert pw.record.product.late_justification == reason

    def test_beyond_the_outer_limit_lymphodepletion_is_repeated(self) -> None:
        pw = self.at(timedelta(days=29))
        err = assert_refused(pw, "thaw_product", e.OutsideWindow, late_justification="proceed")
        assert "28 days" in err.message and "repeat_lymphodepletion" in err.message

    def test_legacy_pathways_repeat_at_the_usual_limit(self) -> None:
        pw = self.at(timedelta(days=20))
        pw.record.safety_rules = LEGACY
        err = assert_refused(pw, "thaw_product", e.OutsideWindow, late_justification="proceed")
        assert "14 days window" in err.message


@given(day=st.floats(min_value=2, max_value=40))
def test_thaw_is_accepted_exactly_inside_the_protocol_window(day: float) -> None:
    """With a justification, thawing is accepted from the minimum to the outer limit and
    refused after it; without one, only up to the usual maximum."""
    pw = Pathway.at(CART, "awaiting_infusion")
    ended = pw.record.lymphodepletion_ended_at
    assert ended is not None
    pw.now = ended + timedelta(days=day)
    w = pw.protocol.windows
    since = pw.now - ended
    for justification, limit in (
        (None, w.infusion_after_lymphodepletion_max),
        ("binôme decision recorded", w.infusion_after_lymphodepletion_outer),
    ):
        try:
            pw.check("thaw_product", late_justification=justification)
            accepted = True
        except e.OutsideWindow:
            accepted = False
        assert accepted == (since <= limit), (day, justification)
