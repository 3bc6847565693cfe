"""Eligibility at the MDTM (models/eligibility.py, states/eligibility.py): the activity score,
the refractoriness rule and the exclusion checklist from the protocol, each unmet criterion
named in the refusal; charts built without the rule set (runs recorded before it) approve as
before."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from devtools.demo_eligibility import eligibility_for, no_exclusions, one_treatment_only
from models.eligibility import (
    EligibilityFacts,
    PriorTreatment,
    RefractorinessRule,
    SeverityScore,
    unmet_criteria,
)
from models.protocol import shipped_protocols
from models.referral import Referral
from states import errors as e
from states.eligibility import ELIGIBILITY
from tests.support.chart_factory import CART, MSC_SSC, T0, Pathway, build_chart, protocol

LUPUS = "systemic lupus erythematosus"


def facts(disease: str = LUPUS, **changes: Any) -> EligibilityFacts:
    data = {**eligibility_for(disease), "disease": disease, **changes}
    data.setdefault("exclusions", no_exclusions(protocol(CART)))
    return EligibilityFacts.model_validate(data)


def unmet(f: EligibilityFacts, protocol_id: str = CART) -> list[str]:
    proto = protocol(protocol_id)
    assert proto.eligibility is not None
    return unmet_criteria(proto.eligibility, f.disease, f, T0)


def treatment(drug: str, months: float = 6, response: str = "none") -> dict[str, Any]:
    start = T0 - timedelta(days=400)
    return {
        "drug": drug,
        "started_at": start,
        "stopped_at": start + timedelta(days=30.44 * months),
        "response": response,
    }


class TestCriteria:
    """unmet_criteria names each criterion the facts do not meet, and nothing when eligible."""

    def test_the_demo_facts_meet_every_shipped_protocol(self) -> None:
        for proto in shipped_protocols():
            assert proto.eligibility is not None
            for disease in proto.diseases:
                f = facts(disease.name, exclusions=no_exclusions(proto))
                assert unmet_criteria(proto.eligibility, disease.name, f, T0) == [], proto.id

    def test_missing_score(self) -> None:
        (why,) = unmet(facts(severity=None))
        assert "no SLEDAI-2K score recorded" in why

    def test_score_below_minimum(self) -> None:
        (why,) = unmet(facts(severity=SeverityScore(score="SLEDAI-2K", value=4)))
        assert "SLEDAI-2K 4 is below the protocol's minimum of 6" in why

    def test_another_score(self) -> None:
        (why,) = unmet(facts(severity=SeverityScore(score="BILAG", value=20)))
        assert "the activity score is BILAG; this protocol uses SLEDAI-2K" in why

    def test_one_treatment_is_not_refractory(self) -> None:
        (why,) = unmet(facts(**one_treatment_only(LUPUS)))
        assert "refractoriness rule not met" in why
        assert "at least two standard immunosuppressants" in why
        assert "1 failed treatment(s) counted (mycophenolate mofetil), 2 needed" in why
        assert "[assumption:" in why  # the rule's source tag

    def test_the_including_drug_is_required(self) -> None:
        tried = [treatment("azathioprine"), treatment("methotrexate")]
        (why,) = unmet(facts(prior_treatments=tried))
        assert "none of mycophenolate mofetil, cyclophosphamide among them" in why

    def test_a_complete_response_does_not_count(self) -> None:
        tried = [treatment("mycophenolate mofetil", response="complete"), treatment("rituximab")]
        (why,) = unmet(facts(prior_treatments=tried))
        assert "1 failed treatment(s) counted (rituximab)" in why

    def test_too_short_a_treatment_does_not_count(self) -> None:
        tried = [treatment("mycophenolate mofetil", months=1), treatment("rituximab")]
        (why,) = unmet(facts(prior_treatments=tried))
        assert "too short to count (mycophenolate mofetil taken 30 days" in why

    def test_drug_names_compare_without_case(self) -> None:
        tried = [treatment("Mycophenolate  Mofetil"), treatment("RITUXIMAB")]
        assert unmet(facts(prior_treatments=tried)) == []

    def test_unanswered_and_present_exclusions(self) -> None:
        answers = no_exclusions(protocol(CART))
        del answers["pregnancy"]
        answers["malignancy"] = True
        unanswered, present = unmet(facts(exclusions=answers))
        assert (
            unanswered == "exclusion checklist not answered at work-up: pregnancy or breastfeeding"
        )
        assert present.startswith("exclusion criterion present: active malignancy")

    def test_a_rule_for_another_disease_does_not_apply(self) -> None:
        f = facts("systemic sclerosis", exclusions=no_exclusions(protocol(MSC_SSC)))
        assert unmet(f, MSC_SSC) == []
        assert "SLEDAI" not in " ".join(unmet(facts("systemic sclerosis", severity=None)))


class TestProtocolData:
    """Each shipped protocol states its eligibility as data, every rule with its source."""

    @pytest.mark.parametrize("proto", shipped_protocols(), ids=lambda p: p.id)
    def test_rules_name_the_protocols_diseases_and_carry_sources(self, proto: Any) -> None:
        names = {d.name for d in proto.diseases}
        eligibility = proto.eligibility
        assert eligibility is not None and eligibility.refractoriness and eligibility.exclusions
        for score in eligibility.scores:
            assert score.disease in names and score.source_of("at_least") is not None
        for rule in eligibility.refractoriness:
            assert set(rule.diseases) <= names
            assert rule.source_of("at_least") and rule.source_of("min_duration")
        assert {"active_infection", "pregnancy", "malignancy"} <= {
            x.key for x in eligibility.exclusions
        }

    def test_a_rule_cannot_require_a_drug_it_does_not_count(self) -> None:
        with pytest.raises(ValueError, match="'including' names drugs not in 'among'"):
            RefractorinessRule(
                rule="two immunosuppressants including X",
                at_least=1,
                among=["azathioprine"],
                including=["rituximab"],
                source="assumption: test",  # type: ignore[arg-type]
            )

    def test_treatment_dates_are_ordered(self) -> None:
        with pytest.raises(ValueError, match="stopped before it was started"):
            PriorTreatment.model_validate(
                {**treatment("rituximab"), "stopped_at": T0 - timedelta(days=500)}
            )

    def test_an_old_referral_without_eligibility_still_loads(self) -> None:
        old = {
            "pseudonym": "LUP-001",
            "centre": "centre-a",
            "therapy": "car-t",
            "disease": LUPUS,
            "binome": {"ard_specialist": "dr.martin", "cell_therapy_specialist": "dr.roux"},
            "referred_by": "dr.martin",
        }
        referral = Referral.model_validate(old)
        assert referral.severity is None and referral.prior_treatments == []


def eligible_pathway(protocol_id: str = CART, **facts_changes: Any) -> Pathway:
    pw = Pathway.new(protocol_id)
    pw.record.eligibility = EligibilityFacts.model_validate(
        {**eligibility_for(LUPUS), "disease": LUPUS, **facts_changes}
    )
    pw.chart = build_chart_with_rules(pw)
    return pw


def build_chart_with_rules(pw: Pathway) -> Any:
    chart_class = type(build_chart(pw.record, pw.protocol))
    return chart_class(pw.record, pw.protocol, rules={ELIGIBILITY})


class TestAtTheMdtm:
    """approve_at_mdtm is refused with NotEligible while a criterion is unmet, and changes
    nothing; the work-up answers the checklist and may complete the treatment history."""

    def test_unanswered_checklist_refuses_then_answers_approve(self) -> None:
        pw = eligible_pathway()
        pw.send("record_work_up")
        with pytest.raises(e.NotEligible, match="exclusion checklist not answered") as refused:
            pw.send("approve_at_mdtm")
        assert refused.value.event == "approve_at_mdtm" and pw.record.state == "awaiting_mdtm"
        pw.send("defer_at_mdtm")
        pw.send("record_work_up", exclusions=no_exclusions(pw.protocol))
        pw.send("approve_at_mdtm")
        assert pw.record.state == "awaiting_consent"

    def test_not_refractory_is_refused_until_the_work_up_completes_the_history(self) -> None:
        pw = eligible_pathway(**one_treatment_only(LUPUS))
        pw.send("record_work_up", exclusions=no_exclusions(pw.protocol))
        with pytest.raises(e.NotEligible, match="refractoriness rule not met"):
            pw.send("approve_at_mdtm")
        pw.send("defer_at_mdtm")
        pw.send(
            "record_work_up",
            exclusions=no_exclusions(pw.protocol),
            prior_treatments=eligibility_for(LUPUS)["prior_treatments"],
        )
        pw.send("approve_at_mdtm")
        assert pw.record.eligibility.exclusions["pregnancy"] is False

    def test_an_exclusion_present_is_refused(self) -> None:
        pw = eligible_pathway()
        pw.send("record_work_up", exclusions={**no_exclusions(pw.protocol), "pregnancy": True})
        with pytest.raises(e.NotEligible, match="exclusion criterion present: pregnancy"):
            pw.check("approve_at_mdtm")

    def test_unknown_checklist_item_and_future_treatment_dates_are_refused(self) -> None:
        pw = eligible_pathway()
        with pytest.raises(e.MalformedAction, match="'smoker' is not on this protocol"):
            pw.check("record_work_up", exclusions={"smoker": True})
        future = {**treatment("rituximab"), "started_at": pw.now + timedelta(days=3)}
        future["stopped_at"] = future["started_at"]
        with pytest.raises(e.DateInFuture, match="rituximab treatment date is in the future"):
            pw.check("record_work_up", prior_treatments=[future])

    def test_a_chart_without_the_rule_set_approves_as_before(self) -> None:
        pw = Pathway.new(CART)
        assert build_chart(pw.record, pw.protocol).rules == frozenset()
        pw.send("record_work_up")
        pw.send("approve_at_mdtm")
        assert pw.record.state == "awaiting_consent"
        assert pw.record.eligibility == EligibilityFacts()
