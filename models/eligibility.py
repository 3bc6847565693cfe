"""Eligibility: who a protocol is for beyond the disease code, and what the referral says.

Usage (in a protocol file)::

    eligibility:
      scores:
        - {disease: systemic lupus erythematosus, score: SLEDAI-2K, at_least: 6, source: …}
      refractoriness:
        - rule: at least two standard immunosuppressants, including mycophenolate …
          at_least: 2
          among: [mycophenolate mofetil, cyclophosphamide, azathioprine, …]
          including: [mycophenolate mofetil, cyclophosphamide]
          source: …
      exclusions:
        - {key: active_infection, label: active uncontrolled infection, source: …}

and in a referral (``models/referral.py``)::

    severity: {score: SLEDAI-2K, value: 14, assessed_at: 2026-11-20T09:00:00+01:00}
    prior_treatments:
      - {drug: mycophenolate mofetil, started_at: 2024-01-10T00:00:00Z,
         stopped_at: 2025-06-01T00:00:00Z, response: none}

The recommendations reserve cell therapy for severe disease refractory to standard treatment:
the protocol states its activity score per disease, its refractoriness rule(s) and its
exclusion checklist, each with its source; ``unmet_criteria`` says, in words, what a pathway's
eligibility facts do not meet. The MDTM approval is refused while anything is unmet
(``states/eligibility.py``).

Limitations: drug names are compared case-insensitively as written (no synonym table); a
treatment counts towards refractoriness by its recorded response, not by its dose.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import Annotated

from pydantic import AfterValidator, AwareDatetime, BaseModel, ConfigDict, Field, model_validator

from models.durations import Duration
from models.sources import Source, Sourced, source


def _in_calendar(value: datetime) -> datetime:
    try:
        value.astimezone(UTC)
    except OverflowError:
        raise ValueError("is out of range; check the date") from None
    return value


When = Annotated[AwareDatetime, AfterValidator(_in_calendar)]
Name = Annotated[str, Field(min_length=2, max_length=80, pattern=r"^[\w .,'()/+-]+$")]


def same_drug(a: str, b: str) -> bool:
    return " ".join(a.lower().split()) == " ".join(b.lower().split())


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


# ----- what the protocol states ------------------------------------------------------------
class Response(StrEnum):
    """How the disease answered a reference treatment."""

    COMPLETE = "complete"
    PARTIAL = "partial"
    NONE = "none"
    INTOLERANCE = "intolerance"


class ActivityScore(Sourced):
    """The disease activity/severity score the protocol names for one of its diseases."""

    NUMBERS = ("at_least",)
    DEFAULT_SOURCES = {"at_least": source("assumption: no minimum unless the protocol sets one")}

    disease: str = Field(min_length=3, max_length=120)
    score: Name
    at_least: float | None = None


class RefractorinessRule(Sourced):
    """At least ``at_least`` treatments of ``among`` tried and failed (``failed`` responses),
    one of them in ``including`` when it is given, each for ``min_duration`` at least."""

    NUMBERS = ("at_least", "min_duration")
    DEFAULT_SOURCES = {
        "min_duration": source("assumption: no minimum duration unless the protocol sets one")
    }

    rule: str = Field(min_length=10, max_length=300, description="the rule in words")
    diseases: list[str] = Field(default=[], description="empty: every disease of the protocol")
    at_least: int = Field(ge=1, le=10)
    among: list[Name] = Field(min_length=1)
    including: list[Name] = []
    failed: list[Response] = [Response.NONE, Response.PARTIAL, Response.INTOLERANCE]
    min_duration: Duration = timedelta(0)

    @model_validator(mode="after")
    def _coherent(self) -> RefractorinessRule:
        outside = [d for d in self.including if not any(same_drug(d, a) for a in self.among)]
        if outside:
            raise ValueError(f"'including' names drugs not in 'among': {', '.join(outside)}")
        if self.at_least > len(self.among):
            raise ValueError("'at_least' is more than the drugs listed in 'among'")
        return self

    def applies_to(self, disease: str | None) -> bool:
        return not self.diseases or (disease is not None and disease in self.diseases)


class Exclusion(_Strict):
    """One item of the exclusion checklist, answered at work-up (present or not)."""

    key: str = Field(pattern=r"^[a-z][a-z0-9_]{2,40}$")
    label: str = Field(min_length=3, max_length=160)
    source: Source


class Eligibility(_Strict):
    scores: list[ActivityScore] = []
    refractoriness: list[RefractorinessRule] = []
    exclusions: list[Exclusion] = []

    @model_validator(mode="after")
    def _unique(self) -> Eligibility:
        keys = [x.key for x in self.exclusions]
        if len(keys) != len(set(keys)):
            raise ValueError("exclusion keys must be unique")
        return self

    def score_for(self, disease: str | None) -> ActivityScore | None:
        return next((s for s in self.scores if s.disease == disease), None)

    def rules_for(self, disease: str | None) -> list[RefractorinessRule]:
        return [r for r in self.refractoriness if r.applies_to(disease)]


# ----- what the referral and the work-up say -------------------------------------------------
class SeverityScore(_Strict):
    score: Name = Field(description="the score's name as the protocol writes it, e.g. SLEDAI-2K")
    value: float = Field(ge=0, le=1000)
    assessed_at: When | None = None


class PriorTreatment(_Strict):
    """A reference treatment already tried: when, and how the disease answered."""

    drug: Name
    started_at: When
    stopped_at: When | None = Field(default=None, description="empty while it is still taken")
    response: Response

    @model_validator(mode="after")
    def _ordered(self) -> PriorTreatment:
        if self.stopped_at is not None and self.stopped_at < self.started_at:
            raise ValueError(f"{self.drug}: stopped before it was started; check the dates")
        return self


class EligibilityFacts(BaseModel):
    """What the record knows of eligibility: from the referral, completed at work-up."""

    # the protocol's name of the disease the referral's codes matched (its score and rules)
    disease: str | None = None
    severity: SeverityScore | None = None
    prior_treatments: list[PriorTreatment] = []
    # exclusion key -> present (True) or absent (False), as answered at work-up
    exclusions: dict[str, bool] = {}


def _days(delta: timedelta, time_scale: float) -> str:
    return f"{delta.total_seconds() / (86400.0 * time_scale):.0f} days"


def refractoriness_unmet(
    rule: RefractorinessRule, treatments: list[PriorTreatment], now: datetime, time_scale: float
) -> str | None:
    """Why ``treatments`` do not meet ``rule`` (in words), or None when they do."""
    counted: list[str] = []
    short = []
    for t in treatments:
        if not any(same_drug(t.drug, a) for a in rule.among) or t.response not in rule.failed:
            continue
        taken = (t.stopped_at or now) - t.started_at
        if taken < rule.min_duration:
            short.append(f"{t.drug} taken {_days(taken, time_scale)}")
            continue
        if not any(same_drug(t.drug, c) for c in counted):
            counted.append(t.drug)
    problems = []
    if len(counted) < rule.at_least:
        problems.append(
            f"{len(counted)} failed treatment(s) counted"
            + (f" ({', '.join(counted)})" if counted else "")
            + f", {rule.at_least} needed"
        )
    if rule.including and not any(same_drug(c, i) for c in counted for i in rule.including):
        problems.append(f"none of {', '.join(rule.including)} among them")
    if not problems:
        return None
    if short:
        problems.append(
            f"too short to count ({', '.join(short)}; at least "
            f"{_days(rule.min_duration, time_scale)})"
        )
    tag = rule.source_of("at_least")
    cited = f" [{tag.text()}]" if tag else ""
    return f"refractoriness rule not met ({rule.rule}{cited}): " + "; ".join(problems)


def unmet_criteria(
    eligibility: Eligibility,
    disease: str | None,
    facts: EligibilityFacts,
    now: datetime,
    time_scale: float = 1.0,
) -> list[str]:
    """Every eligibility criterion ``facts`` do not meet, each in words; empty when eligible."""
    unmet: list[str] = []
    wanted = eligibility.score_for(disease)
    if wanted is not None:
        given = facts.severity
        if given is None:
            unmet.append(f"no {wanted.score} score recorded (the protocol names it for {disease})")
        elif not same_drug(given.score, wanted.score):
            unmet.append(f"the activity score is {given.score}; this protocol uses {wanted.score}")
        elif wanted.at_least is not None and given.value < wanted.at_least:
            unmet.append(
                f"{wanted.score} {given.value:g} is below the protocol's minimum of "
                f"{wanted.at_least:g}"
            )
    for rule in eligibility.rules_for(disease):
        why = refractoriness_unmet(rule, facts.prior_treatments, now, time_scale)
        if why:
            unmet.append(why)
    unanswered = [x.label for x in eligibility.exclusions if x.key not in facts.exclusions]
    if unanswered:
        unmet.append("exclusion checklist not answered at work-up: " + ", ".join(unanswered))
    present = [x.label for x in eligibility.exclusions if facts.exclusions.get(x.key)]
    if present:
        unmet.append("exclusion criterion present: " + ", ".join(present))
    return unmet


def summary(facts: EligibilityFacts) -> list[str]:
    """What the MDTM sees of eligibility, one line per fact (empty when nothing is known)."""
    lines = []
    if facts.severity is not None:
        s = facts.severity
        when = f" ({s.assessed_at:%Y-%m-%d})" if s.assessed_at else ""
        lines.append(f"activity score: {s.score} {s.value:g}{when}")
    for t in facts.prior_treatments:
        until = f"{t.stopped_at:%Y-%m-%d}" if t.stopped_at else "ongoing"
        lines.append(
            f"treatment tried: {t.drug} {t.started_at:%Y-%m-%d} to {until}, "
            f"response {t.response.value}"
        )
    if facts.exclusions:
        present = sorted(k for k, v in facts.exclusions.items() if v)
        lines.append(
            "exclusions present: " + ", ".join(k.replace("_", " ") for k in present)
            if present
            else f"exclusions: none present ({len(facts.exclusions)} answered)"
        )
    return lines
