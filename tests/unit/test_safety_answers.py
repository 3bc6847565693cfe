"""No safety default (issue 12, item 2): every fitness and eligibility answer is explicit.

On a pathway referred under the explicit rules a missing answer refuses the action and names
what is missing; the washout lists the current treatments (or "none"); consent answers each
element and a missing element refuses the next step. A pathway referred under the legacy
rules (committed histories) still accepts the payloads it was sent.
"""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from models.safety_rules import LEGACY
from states import errors as e
from states import safety_refusals as s
from tests.support.chart_factory import CART, MSC_SSC, WASHOUT_DRUG, Pathway, payload
from tests.unit.test_chart_guards import assert_accepted, assert_refused

FITNESS = ("cardiac_check_ok", "pregnancy_test", "lvef_percent", "egfr")


def legacy(pw: Pathway) -> Pathway:
    pw.record.safety_rules = LEGACY
    return pw


class TestPreTreatmentCheck:
    """clear_for_treatment needs every fitness answer, within the protocol's limits."""

    @pytest.mark.parametrize("protocol_id", [CART, MSC_SSC])
    def test_a_missing_cardiac_answer_is_refused_and_named(self, protocol_id: str) -> None:
        pw = Pathway.at(protocol_id, "stored")
        err = assert_refused(pw, "clear_for_treatment", s.AnswerMissing, cardiac_check_ok=None)
        assert "cardiac re-check (cardiac_check_ok)" in err.message
        assert isinstance(err, e.SafetyRefusal)

    def test_every_missing_answer_is_listed_at_once(self) -> None:
        pw = Pathway.at(CART, "stored")
        blank = dict.fromkeys(FITNESS)
        err = assert_refused(pw, "clear_for_treatment", s.AnswerMissing, **blank)
        for field in FITNESS:
            assert f"({field}" in err.message, field

    def test_positive_pregnancy_test_is_refused(self) -> None:
        pw = Pathway.at(CART, "stored")
        assert_refused(
            pw, "clear_for_treatment", s.PregnancyTestPositive, pregnancy_test="positive"
        )

    def test_not_applicable_is_an_answer(self) -> None:
        pw = Pathway.at(CART, "stored")
        assert_accepted(pw, "clear_for_treatment", "cleared", pregnancy_test="not_applicable")

    @pytest.mark.parametrize(("field", "value"), [("lvef_percent", 40), ("egfr", 25)])
    def test_organ_function_below_the_limit_is_refused(self, field: str, value: float) -> None:
        pw = Pathway.at(CART, "stored")
        err = assert_refused(
            pw, "clear_for_treatment", s.OrganFunctionOutOfLimits, **{field: value}
        )
        assert "at least" in err.message

    def test_legacy_pathways_keep_their_defaults(self) -> None:
        """An old payload (no cardiac answer, no pregnancy test) replays as it was accepted."""
        pw = legacy(Pathway.at(CART, "stored"))
        old = {"cardiac_check_ok": None, "pregnancy_test": None, "lvef_percent": None, "egfr": None}
        assert_accepted(pw, "clear_for_treatment", "cleared", **old)


@given(missing=st.sets(st.sampled_from(FITNESS), min_size=1))
def test_the_refusal_names_exactly_the_missing_answers(missing: set[str]) -> None:
    pw = Pathway.at(MSC_SSC, "stored")
    with pytest.raises(s.AnswerMissing) as refused:
        pw.check("clear_for_treatment", **dict.fromkeys(missing))
    named = {f for f in FITNESS if f"({f}" in refused.value.message}
    assert named == missing


class TestWorkUpAndMdtm:
    def test_a_work_up_without_organ_function_is_refused(self) -> None:
        pw = Pathway.new(CART)
        err = assert_refused(pw, "record_work_up", s.AnswerMissing, egfr=None)
        assert "eGFR (egfr)" in err.message and "LVEF" not in err.message

    def test_mdtm_approval_is_refused_below_the_organ_limits(self) -> None:
        pw = Pathway.new(CART)
        pw.send("record_work_up", lvef_percent=35)
        err = assert_refused(pw, "approve_at_mdtm", s.OrganFunctionOutOfLimits)
        assert "LVEF 35 % (at least 45 %)" in err.message
        # Deferral stays possible: the binôme re-presents the case.
        assert_accepted(pw, "defer_at_mdtm", "referred")


class TestWashout:
    def _at(self) -> Pathway:
        return Pathway.at(CART, "washout")

    def test_treatments_must_be_listed(self) -> None:
        err = assert_refused(self._at(), "record_washout", s.AnswerMissing, treatments=None)
        assert '["none"]' in err.message

    def test_an_empty_list_is_not_none(self) -> None:
        assert_refused(self._at(), "record_washout", s.AnswerMissing, treatments=[])

    def test_none_is_an_answer(self) -> None:
        assert_accepted(self._at(), "record_washout", "washout", treatments=["none"])

    def test_an_unknown_treatment_is_refused_with_the_known_list(self) -> None:
        err = assert_refused(
            self._at(), "record_washout", s.TreatmentUnknown, treatments=["voclosporin"]
        )
        assert "voclosporin" in err.message and WASHOUT_DRUG in err.message

    def test_a_treatment_with_a_washout_needs_its_stop_date(self) -> None:
        err = assert_refused(
            self._at(), "record_washout", e.WashoutIncomplete, treatments=["azathioprine"]
        )
        assert "azathioprine must be stopped" in err.message

    def test_a_treatment_without_washout_needs_no_stop(self) -> None:
        assert_accepted(
            self._at(), "record_washout", "washout", treatments=["hydroxychloroquine", "prednisone"]
        )

    def test_none_and_a_drug_contradict(self) -> None:
        assert_refused(
            self._at(), "record_washout", e.MalformedAction, treatments=["none", "azathioprine"]
        )

    def test_legacy_pathways_accept_an_empty_washout(self) -> None:
        pw = legacy(self._at())
        pw.chart.apply("record_washout", payload("record_washout", pw, treatments=None), pw.now)
        assert pw.record.washout_recorded


class TestConsent:
    def test_each_element_is_answered(self) -> None:
        pw = Pathway.at(CART, "awaiting_consent")
        err = assert_refused(pw, "record_consent", s.AnswerMissing, registry_consent=None)
        assert "registry_consent" in err.message and "trial_inclusion" not in err.message

    @pytest.mark.parametrize(
        ("protocol_id", "next_step"), [(CART, "record_washout"), (MSC_SSC, "order_product")]
    )
    def test_a_missing_element_refuses_the_next_step(
        self, protocol_id: str, next_step: str
    ) -> None:
        pw = Pathway.at(protocol_id, "awaiting_consent")
        pw.send("record_consent", registry_consent=False)
        err = assert_refused(pw, next_step, s.ConsentIncomplete)
        assert "consent to registry reporting" in err.message

    def test_legacy_consent_is_not_read(self) -> None:
        pw = legacy(Pathway.at(CART, "awaiting_consent"))
        old: dict[str, Any] = {"trial_inclusion": None, "registry_consent": None}
        pw.send("record_consent", **old)
        pw.check("record_washout")
