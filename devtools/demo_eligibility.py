"""The synthetic patients' clinical facts: the activity score and the reference treatments
tried that their disease's protocol asks for, the exclusion checklist answered "absent", and
the bedside findings of the demo's graded CRS.

Usage::

    Referral(..., **eligibility_for("systemic lupus erythematosus"))
    work_up = {"completed_at": ..., "exclusions": no_exclusions(protocol)}

One table for the demo, the test drivers and the history recordings, so every pathway they
play meets the shipped protocols' rules (``protocols/*.yaml``, ``eligibility:``);
``one_treatment_only`` is a referral that does not (the demo's refractoriness refusal).
"""

from __future__ import annotations

from typing import Any

from models.protocol import Protocol


def _tried(drug: str, start: str, stop: str, response: str = "none") -> dict[str, str]:
    return {
        "drug": drug,
        "started_at": f"{start}T00:00:00Z",
        "stopped_at": f"{stop}T00:00:00Z",
        "response": response,
    }


_MMF = _tried("mycophenolate mofetil", "2023-01-15", "2023-12-20")
_CYC = _tried("cyclophosphamide", "2024-02-01", "2024-08-01", "partial")
_RTX = _tried("rituximab", "2024-03-01", "2024-09-01")
_MTX = _tried("methotrexate", "2023-03-01", "2024-01-10")

# disease -> (activity score, value), reference treatments tried
_BY_DISEASE: dict[str, tuple[tuple[str, float] | None, list[dict[str, str]]]] = {
    "systemic lupus erythematosus": (("SLEDAI-2K", 14), [_MMF, _CYC]),
    "systemic sclerosis": (("mRSS", 24), [_MMF, _CYC]),
    "idiopathic inflammatory myopathy": (None, [_MTX, _MMF, _RTX]),
    "ANCA-associated vasculitis": (("BVAS", 12), [_RTX, _CYC]),
}


def eligibility_for(disease: str) -> dict[str, Any]:
    """``severity`` and ``prior_treatments`` of a referral for ``disease`` that meet the
    shipped protocols' rules (empty for a disease the table does not know)."""
    score, treatments = _BY_DISEASE.get(disease, (None, []))
    facts: dict[str, Any] = {"prior_treatments": list(treatments)}
    if score is not None:
        facts["severity"] = {"score": score[0], "value": score[1]}
    return facts


def one_treatment_only(disease: str) -> dict[str, Any]:
    """The same facts with only the first treatment tried: refractoriness is not met."""
    facts = eligibility_for(disease)
    return {**facts, "prior_treatments": facts["prior_treatments"][:1]}


def no_exclusions(protocol: Protocol) -> dict[str, bool]:
    """The protocol's exclusion checklist, every item answered "absent"."""
    if protocol.eligibility is None:
        return {}
    return {item.key: False for item in protocol.eligibility.exclusions}


# LUP-003 is referred with one reference treatment tried: the demo's refractoriness refusal.
NOT_REFRACTORY = frozenset({"LUP-003"})


def referral_facts(pseudonym: str, disease: str) -> dict[str, Any]:
    """The eligibility facts a demo case is referred with."""
    if pseudonym in NOT_REFRACTORY:
        return one_treatment_only(disease)
    return eligibility_for(disease)


def answered(event: str, protocol: Protocol) -> dict[str, Any]:
    """A demo work-up answers the protocol's exclusion checklist ("absent" throughout)."""
    return {"exclusions": no_exclusions(protocol)} if event == "record_work_up" else {}


# LUP-003's treatment history, completed at its second work-up.
HISTORY = eligibility_for("systemic lupus erythematosus")
# SSC-001's bedside findings: fever with hypotension (CRS graded 2), then once tocilizumab is
# given (fever no longer required: still graded).
GRADE_2_CRS = {"temperature_c": 38.8, "hypotension": True}
TREATED = {"temperature_c": 37.4, "hypotension": True, "treated_with": ["tocilizumab"]}
