"""Readiness: whether a centre may treat with a therapy now, and what it is missing.

Usage::

    readiness(centre, policy, Therapy.CAR_T, now).missing
    # [MissingItem(key='icu_access', reason='none on file', ...)]

Each prerequisite the policy names for the therapy is checked against the centre's evidence
at ``now``: missing or expired evidence, an accreditation by a body the policy does not
count or whose scope does not cover the therapy, a cell-therapy unit that cannot store or
thaw, too few tocilizumab doses or a resupply slower than the policy allows, a role without
a currently trained person. Items expiring within the policy's ``warn_before`` are
listed apart. Pure: ``now`` is always passed in.
"""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, Field

from models.centre_policy import CentrePolicy, TherapyRequirements
from models.durations import in_words
from models.evidence import (
    Accreditation,
    CellTherapyUnit,
    Centre,
    Evidence,
    Prerequisite,
    TocilizumabStock,
    when_text,
)
from models.protocol import Therapy


class MissingItem(BaseModel):
    key: str
    prerequisite: Prerequisite
    label: str
    reason: str
    since: datetime | None = Field(default=None, description="when it lapsed, if it did")

    def text(self) -> str:
        return f"{self.label}: {self.reason}"


class ExpiringItem(BaseModel):
    key: str
    label: str
    valid_until: datetime


class TherapyReadiness(BaseModel):
    therapy: Therapy
    ready: bool
    missing: list[MissingItem] = []
    expiring: list[ExpiringItem] = []
    tocilizumab_min_doses: int = 0

    def missing_text(self) -> str:
        return "; ".join(m.text() for m in self.missing)


def readiness(
    centre: Centre, policy: CentrePolicy, therapy: Therapy, now: datetime
) -> TherapyReadiness:
    """Whether ``centre`` may treat with ``therapy`` at ``now``, and what is missing."""
    req = policy.requirements.get(therapy)
    if req is None:
        return no_requirements(therapy)
    missing = [m for p in req.prerequisites for m in _check(p, centre, policy, req, therapy, now)]
    soon = now + policy.warn_before
    expiring = [
        ExpiringItem(key=i.key, label=i.label, valid_until=i.valid_until)
        for i in centre.items()
        if now < i.valid_until <= soon and therapy in policy.concerns(i)
    ]
    return TherapyReadiness(
        therapy=therapy,
        ready=not missing,
        missing=missing,
        expiring=sorted(expiring, key=lambda e: e.valid_until),
        tocilizumab_min_doses=req.tocilizumab_min_doses,
    )


def no_requirements(therapy: Therapy) -> TherapyReadiness:
    """Not ready: the centre policy defines no requirements for ``therapy``."""
    missing = MissingItem(
        key="requirements",
        prerequisite=Prerequisite.ACCREDITATION,
        label=f"{therapy.value} requirements",
        reason="the centre policy defines none for this therapy",
    )
    return TherapyReadiness(therapy=therapy, ready=False, missing=[missing])


def _gone(kind: Prerequisite, evidence: Evidence | None, now: datetime) -> MissingItem | None:
    if evidence is None:
        return MissingItem(
            key=kind.value, prerequisite=kind, label=kind.label, reason="none on file"
        )
    if evidence.valid_until <= now:
        return MissingItem(
            key=kind.value,
            prerequisite=kind,
            label=kind.label,
            reason=f"expired on {when_text(evidence.valid_until)}",
            since=evidence.valid_until,
        )
    return None


def _check(
    kind: Prerequisite,
    centre: Centre,
    policy: CentrePolicy,
    req: TherapyRequirements,
    therapy: Therapy,
    now: datetime,
) -> list[MissingItem]:
    def missing(reason: str, key: str = kind.value, label: str = kind.label) -> list[MissingItem]:
        return [MissingItem(key=key, prerequisite=kind, label=label, reason=reason)]

    if kind is Prerequisite.SPONSOR_QUALIFICATION:
        trials = [t for t in centre.trials if t.therapy == therapy]
        if any(t.valid_until > now for t in trials):
            return []
        if trials:
            last = max(trials, key=lambda t: t.valid_until)
            found = missing(
                f"site initiation for {last.trial} expired on {when_text(last.valid_until)}"
            )
            found[0].since = last.valid_until
            return found
        return missing(f"no sponsor qualification for a {therapy.value} trial")
    if kind is Prerequisite.TRAINED_STAFF:
        out: list[MissingItem] = []
        for role in req.staff_roles:
            people = [s for s in centre.staff if s.staff_role == role]
            if any(s.valid_until > now for s in people):
                continue
            label = f"trained {role.label}"
            key = f"trained_staff:{role.value}"
            if people:
                trained = max(people, key=lambda s: s.valid_until)
                item = missing(
                    f"training of {trained.person} expired on {when_text(trained.valid_until)}",
                    key,
                    label,
                )
                item[0].since = trained.valid_until
                out += item
            else:
                out += missing(f"no {role.label} with current training", key, label)
        return out
    evidence: Evidence | None = getattr(centre, kind.value)
    gone = _gone(kind, evidence, now)
    if gone is not None:
        return [gone]
    if isinstance(evidence, Accreditation):
        if evidence.body not in policy.accreditation_bodies:
            counted = ", ".join(policy.accreditation_bodies)
            return missing(
                f"{evidence.body} accreditation does not count under the centre policy "
                f"(counts: {counted})"
            )
        if therapy not in evidence.scope:
            scope = ", ".join(t.value for t in evidence.scope)
            return missing(f"its scope ({scope}) does not cover {therapy.value}")
    if isinstance(evidence, CellTherapyUnit):
        if not evidence.liquid_nitrogen_storage:
            return missing("cannot store products in liquid nitrogen")
        if not evidence.thaw_on_site:
            return missing("cannot thaw products on site")
    if (
        isinstance(evidence, TocilizumabStock)
        and evidence.doses_on_site < req.tocilizumab_min_doses
    ):
        return missing(
            f"{evidence.doses_on_site} dose(s) on site; at least "
            f"{req.tocilizumab_min_doses} required"
        )
    if isinstance(evidence, TocilizumabStock) and req.tocilizumab_resupply_within is not None:
        limit = in_words(req.tocilizumab_resupply_within, unit="h")
        if evidence.resupply_within is None:
            return missing(f"no resupply time on file; a further dose within {limit} required")
        if evidence.resupply_within > req.tocilizumab_resupply_within:
            held = in_words(evidence.resupply_within, unit="h")
            return missing(f"resupply within {held}; within {limit} required")
    return []
