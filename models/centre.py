"""Centres: what a hospital must hold, per therapy, before it treats (its prerequisites).

Usage::

    policy = load_centre_policy()                        # centres/policy.yaml
    centre = load_centre("centres/centre-b.yaml", now=now)
    readiness(centre, policy, Therapy.CAR_T, now).missing
    # [MissingItem(key='icu_access', reason='no agreement on file', ...)]

A ``Centre`` holds its evidence: accreditation (JACIE/FACT, SFGM-TC) and its scope, sponsor
qualification / site initiation per trial, apheresis unit, cell-therapy unit (liquid-nitrogen
storage, thaw), ATMP pharmacy, ICU access, neurology, tocilizumab stock, trained staff,
pharmacovigilance contact and registry reporting. Every piece of evidence has a
``valid_until`` (its expiry or review date). The ``CentrePolicy`` (data, like a protocol)
says which prerequisites each therapy needs, which staff roles must hold current training,
the tocilizumab rule (from the therapy's protocol) and how long before an expiry to warn.

Pure: no clock (``now`` is always passed in), no I/O except the explicit file loaders.
Limitations: tocilizumab stock is one count for the centre, not reserved per patient.
"""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, timedelta
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    StringConstraints,
    ValidationError,
    model_validator,
)

from models.actions import Identifier, PersonId, ShortText, StaffAction, Text
from models.durations import Duration, parse_duration
from models.protocol import NotificationRetry, Therapy, load_default_protocol
from models.referral import CentreId
from models.roles import Role
from models.validation import readable

CENTRE_DIR = Path(__file__).resolve().parent.parent / "centres"
POLICY_FILE = "policy.yaml"


def centre_workflow_id(centre_id: str) -> str:
    return f"centre-{centre_id}"


def _utc(value: Any) -> Any:
    # A YAML date (2027-01-31) is midnight UTC; a naive time is taken as UTC, so that every
    # comparison with the workflow clock (aware) is defined.
    if isinstance(value, date) and not isinstance(value, datetime):
        return datetime(value.year, value.month, value.day, tzinfo=UTC)
    return value


def _aware(value: datetime) -> datetime:
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


When = Annotated[datetime, BeforeValidator(_utc), AfterValidator(_aware)]
ItemKey = Annotated[
    str,
    StringConstraints(strip_whitespace=True, max_length=140, pattern=r"^[a-z_]+(:[\w.@' /-]+)*$"),
]


def when_text(moment: datetime) -> str:
    return f"{moment:%Y-%m-%d %H:%M} UTC"


class Prerequisite(StrEnum):
    ACCREDITATION = "accreditation"
    SPONSOR_QUALIFICATION = "sponsor_qualification"
    APHERESIS_UNIT = "apheresis_unit"
    CELL_THERAPY_UNIT = "cell_therapy_unit"
    ATMP_PHARMACY = "atmp_pharmacy"
    ICU_ACCESS = "icu_access"
    NEUROLOGY = "neurology"
    TOCILIZUMAB = "tocilizumab"
    TRAINED_STAFF = "trained_staff"
    PHARMACOVIGILANCE = "pharmacovigilance"
    REGISTRY = "registry"

    @property
    def label(self) -> str:
        return _LABELS[self]


_LABELS = {
    Prerequisite.ACCREDITATION: "accreditation (JACIE/FACT)",
    Prerequisite.SPONSOR_QUALIFICATION: "sponsor qualification / site initiation",
    Prerequisite.APHERESIS_UNIT: "apheresis unit",
    Prerequisite.CELL_THERAPY_UNIT: "cell-therapy unit (LN2 storage, thaw)",
    Prerequisite.ATMP_PHARMACY: "ATMP pharmacy",
    Prerequisite.ICU_ACCESS: "ICU access agreement",
    Prerequisite.NEUROLOGY: "neurology (ICANS)",
    Prerequisite.TOCILIZUMAB: "tocilizumab on site",
    Prerequisite.TRAINED_STAFF: "trained staff",
    Prerequisite.PHARMACOVIGILANCE: "pharmacovigilance contact",
    Prerequisite.REGISTRY: "registry reporting (EBMT cellular-therapy forms)",
}

# ----- evidence -------------------------------------------------------------------------


class _Evidence(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    valid_until: When = Field(description="expiry or review date")
    reference: Identifier | None = Field(default=None, description="certificate, agreement…")


class Accreditation(_Evidence):
    body: Literal["JACIE", "FACT", "FACT-JACIE", "SFGM-TC"]
    scope: list[Therapy] = Field(min_length=1, description="therapies the accreditation covers")


class TrialQualification(_Evidence):
    """Sponsor qualification and site initiation visit for one trial."""

    trial: Identifier
    sponsor: ShortText
    therapy: Therapy
    site_initiated_on: When


class Facility(_Evidence):
    """A unit or service of the centre, or an agreement with one (ICU, neurology)."""

    name: ShortText
    contact: PersonId | None = None


class CellTherapyUnit(Facility):
    liquid_nitrogen_storage: bool
    thaw_on_site: bool = True


class TocilizumabStock(_Evidence):
    """Doses counted on site; ``valid_until`` is the next stock review (or batch expiry)."""

    doses_on_site: int = Field(ge=0, le=1000)
    resupply_within: Duration | None = Field(default=None, description="e.g. 8h (EU label)")


class StaffTraining(_Evidence):
    """One person's current training for a role (``valid_until``: refresher due)."""

    person: PersonId
    staff_role: Role
    trained_on: When


class Pharmacovigilance(_Evidence):
    contact: PersonId


class Registry(_Evidence):
    registry: ShortText = "EBMT"
    forms: ShortText = "EBMT cellular-therapy forms"


class EvidenceItem(BaseModel):
    """One dated piece of evidence, as the expiry watch sees it."""

    key: str
    label: str
    prerequisite: Prerequisite
    valid_until: datetime
    therapy: Therapy | None = None  # a trial's therapy
    role: Role | None = None  # a trained person's role


_FACILITIES = (
    Prerequisite.APHERESIS_UNIT,
    Prerequisite.CELL_THERAPY_UNIT,
    Prerequisite.ATMP_PHARMACY,
    Prerequisite.ICU_ACCESS,
    Prerequisite.NEUROLOGY,
    Prerequisite.TOCILIZUMAB,
    Prerequisite.PHARMACOVIGILANCE,
    Prerequisite.REGISTRY,
)


class Centre(BaseModel):
    """A centre and its evidence. Mutated only by ``record`` and ``withdraw``."""

    model_config = ConfigDict(extra="forbid")

    id: CentreId
    name: ShortText
    accreditation: Accreditation | None = None
    trials: list[TrialQualification] = []
    apheresis_unit: Facility | None = None
    cell_therapy_unit: CellTherapyUnit | None = None
    atmp_pharmacy: Facility | None = None
    icu_access: Facility | None = None
    neurology: Facility | None = None
    tocilizumab: TocilizumabStock | None = None
    staff: list[StaffTraining] = []
    pharmacovigilance: Pharmacovigilance | None = None
    registry: Registry | None = None

    @model_validator(mode="after")
    def _unique(self) -> Centre:
        trials = [t.trial for t in self.trials]
        if len(trials) != len(set(trials)):
            raise ValueError("each trial is listed once")
        people = [(s.person, s.staff_role) for s in self.staff]
        if len(people) != len(set(people)):
            raise ValueError("each person is listed once per role")
        return self

    def items(self) -> list[EvidenceItem]:
        out: list[EvidenceItem] = []
        if self.accreditation is not None:
            a = self.accreditation
            out.append(
                EvidenceItem(
                    key="accreditation",
                    label=f"{a.body} accreditation",
                    prerequisite=Prerequisite.ACCREDITATION,
                    valid_until=a.valid_until,
                )
            )
        for t in self.trials:
            out.append(
                EvidenceItem(
                    key=f"trial:{t.trial}",
                    label=f"site initiation for trial {t.trial}",
                    prerequisite=Prerequisite.SPONSOR_QUALIFICATION,
                    valid_until=t.valid_until,
                    therapy=t.therapy,
                )
            )
        for kind in _FACILITIES:
            evidence = getattr(self, kind.value)
            if evidence is not None:
                out.append(
                    EvidenceItem(
                        key=kind.value,
                        label=kind.label,
                        prerequisite=kind,
                        valid_until=evidence.valid_until,
                    )
                )
        for s in self.staff:
            out.append(
                EvidenceItem(
                    key=f"staff:{s.person}:{s.staff_role.value}",
                    label=f"training of {s.person} ({s.staff_role.label})",
                    prerequisite=Prerequisite.TRAINED_STAFF,
                    valid_until=s.valid_until,
                    role=s.staff_role,
                )
            )
        return out

    def item(self, key: str) -> EvidenceItem | None:
        return next((i for i in self.items() if i.key == key), None)

    def record(self, event: str, evidence: _Evidence) -> str:
        """Store ``evidence`` recorded by ``event``; return the item key it fills."""
        if isinstance(evidence, TrialQualification):
            self.trials = [t for t in self.trials if t.trial != evidence.trial] + [evidence]
            return f"trial:{evidence.trial}"
        if isinstance(evidence, StaffTraining):
            same = (evidence.person, evidence.staff_role)
            self.staff = [s for s in self.staff if (s.person, s.staff_role) != same] + [evidence]
            return f"staff:{evidence.person}:{evidence.staff_role.value}"
        field = EVIDENCE_FIELDS[event]
        setattr(self, field, evidence)
        return field

    def withdraw(self, key: str) -> None:
        if key.startswith("trial:"):
            self.trials = [t for t in self.trials if f"trial:{t.trial}" != key]
        elif key.startswith("staff:"):
            self.staff = [s for s in self.staff if f"staff:{s.person}:{s.staff_role.value}" != key]
        else:
            setattr(self, key, None)


# ----- policy ---------------------------------------------------------------------------


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class TherapyRequirements(_Strict):
    prerequisites: list[Prerequisite] = Field(min_length=1)
    staff_roles: list[Role] = Field(default=[], description="each needs a currently trained person")
    tocilizumab_min_doses: int = Field(default=0, ge=0, le=100)

    @model_validator(mode="after")
    def _staff(self) -> TherapyRequirements:
        if Prerequisite.TRAINED_STAFF in self.prerequisites and not self.staff_roles:
            raise ValueError("trained_staff needs staff_roles")
        return self


class CentrePolicy(_Strict):
    """Which prerequisites each therapy needs, and when to warn of an expiry."""

    requirements: dict[Therapy, TherapyRequirements]
    warn_before: Duration = Field(
        default=timedelta(days=30), description="warn this long before an expiry"
    )
    notify: list[Role] = Field(default=[Role.PROGRAMME_LEAD], min_length=1)
    notification_retry: NotificationRetry = NotificationRetry()
    time_scale: float = Field(default=1.0, gt=0, description="1.0 = real time")

    def compressed(self, *, seconds_per_day: float) -> CentrePolicy:
        """The same policy on a clock where one day lasts ``seconds_per_day`` seconds."""
        if seconds_per_day <= 0:
            raise ValueError("seconds_per_day must be positive")
        factor = seconds_per_day / 86400.0
        return self.model_copy(
            update={
                "warn_before": self.warn_before * factor,
                "time_scale": self.time_scale * factor,
            }
        )

    def days(self, delta: timedelta) -> float:
        """A duration on this policy's clock, in days."""
        return delta.total_seconds() / (86400.0 * self.time_scale)

    def concerns(self, item: EvidenceItem) -> list[Therapy]:
        """The therapies whose readiness depends on ``item``."""
        out = []
        for therapy, req in self.requirements.items():
            if item.prerequisite not in req.prerequisites:
                continue
            if item.therapy is not None and item.therapy != therapy:
                continue
            if item.role is not None and item.role not in req.staff_roles:
                continue
            out.append(therapy)
        return out


# ----- readiness ------------------------------------------------------------------------


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
        missing = [
            MissingItem(
                key="requirements",
                prerequisite=Prerequisite.ACCREDITATION,
                label=f"{therapy.value} requirements",
                reason="the centre policy defines none for this therapy",
            )
        ]
        return TherapyReadiness(therapy=therapy, ready=False, missing=missing)
    missing = [m for p in req.prerequisites for m in _check(p, centre, req, therapy, now)]
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


def _gone(kind: Prerequisite, evidence: _Evidence | None, now: datetime) -> MissingItem | None:
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
    evidence: _Evidence | None = getattr(centre, kind.value)
    gone = _gone(kind, evidence, now)
    if gone is not None:
        return [gone]
    if isinstance(evidence, Accreditation) and therapy not in evidence.scope:
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
    return []


class CentreNotice(BaseModel):
    """A centre's readiness at one moment: the readiness query's answer, and what open
    pathways are told (signal ``centre_notice``). Later notices supersede earlier ones:
    order by ``(as_of, version)``."""

    centre: str
    version: int
    as_of: datetime
    readiness: list[TherapyReadiness]
    tocilizumab_doses: int | None = None

    def for_therapy(self, therapy: Therapy) -> TherapyReadiness:
        found = next((r for r in self.readiness if r.therapy == therapy), None)
        if found is None:
            return TherapyReadiness(
                therapy=therapy,
                ready=False,
                missing=[
                    MissingItem(
                        key="requirements",
                        prerequisite=Prerequisite.ACCREDITATION,
                        label=f"{therapy.value} requirements",
                        reason="the centre policy defines none for this therapy",
                    )
                ],
            )
        return found

    @property
    def order(self) -> tuple[datetime, int]:
        return (self.as_of, self.version)


def notice(centre: Centre, policy: CentrePolicy, version: int, now: datetime) -> CentreNotice:
    return CentreNotice(
        centre=centre.id,
        version=version,
        as_of=now,
        readiness=[readiness(centre, policy, t, now) for t in policy.requirements],
        tocilizumab_doses=centre.tocilizumab.doses_on_site if centre.tocilizumab else None,
    )


# ----- what a pathway keeps of its centre ------------------------------------------------


class CentreView(BaseModel):
    """The last notice a pathway heard from its centre, for its therapy."""

    version: int
    as_of: datetime
    ready: bool
    missing: list[MissingItem] = []
    tocilizumab_doses: int | None = None

    @property
    def order(self) -> tuple[datetime, int]:
        return (self.as_of, self.version)


class CentreAlert(BaseModel):
    """A prerequisite of the pathway's centre that lapsed, shown until it is restored."""

    key: str
    label: str
    reason: str
    raised_at: datetime
    cleared_at: datetime | None = None

    @property
    def open(self) -> bool:
        return self.cleared_at is None


def follow_notice(
    alerts: list[CentreAlert], seen: TherapyReadiness, now: datetime
) -> tuple[list[CentreAlert], list[CentreAlert]]:
    """Raise an alert per newly missing item, clear those restored; return both lists."""
    missing = {m.key: m for m in seen.missing}
    open_keys = {a.key for a in alerts if a.open}
    cleared = [a for a in alerts if a.open and a.key not in missing]
    for alert in cleared:
        alert.cleared_at = now
    raised = [
        CentreAlert(key=m.key, label=m.label, reason=m.reason, raised_at=now)
        for key, m in missing.items()
        if key not in open_keys
    ]
    alerts.extend(raised)
    return raised, cleared


# ----- the centre workflow's record ------------------------------------------------------


class ItemWatch(BaseModel):
    """The expiry watch of one evidence item: warned ``warn_before`` ahead, lapsed on the day."""

    key: str
    label: str
    valid_until: datetime
    warned_at: datetime | None = None
    lapsed_at: datetime | None = None

    def wakes_at(self, policy: CentrePolicy) -> datetime | None:
        if self.lapsed_at is not None:
            return None
        if self.warned_at is None:
            return self.valid_until - policy.warn_before
        return self.valid_until


class AlertKind(StrEnum):
    EXPIRING = "expiring"
    LAPSED = "lapsed"
    RENEWED = "renewed"
    WITHDRAWN = "withdrawn"


class CentreAlertEntry(BaseModel):
    at: datetime
    kind: AlertKind
    key: str
    label: str
    valid_until: datetime | None = None
    therapies: list[Therapy] = []

    def text(self, policy: CentrePolicy) -> str:
        if self.kind is AlertKind.EXPIRING and self.valid_until is not None:
            left = policy.days(self.valid_until - self.at)
            return f"{self.label} expires on {when_text(self.valid_until)} (in {left:.0f} days)"
        if self.kind is AlertKind.LAPSED:
            return f"{self.label} lapsed on {when_text(self.valid_until or self.at)}"
        if self.kind is AlertKind.RENEWED:
            return f"{self.label} renewed, valid until {when_text(self.valid_until or self.at)}"
        return f"{self.label} withdrawn"


class CentreAuditEntry(BaseModel):
    seq: int
    at: datetime
    event: str
    actor: str
    role: Role
    reason: str | None = None
    update_id: str | None = None
    item: str
    data: dict[str, Any] = {}


class CentreRecord(BaseModel):
    """The single state of a centre workflow, carried whole by continue-as-new."""

    centre: Centre
    opened_at: datetime
    watches: dict[str, ItemWatch] = {}
    alerts: list[CentreAlertEntry] = []
    audit: list[CentreAuditEntry] = []
    told: dict[str, list[str]] | None = Field(
        default=None, description="missing keys per therapy that open pathways were last told"
    )
    told_doses: int | None = None
    version: int = 0
    run: int = 1

    def entry_for_update(self, update_id: str | None) -> CentreAuditEntry | None:
        """The entry an Update with this ID already wrote (a retried click), if any."""
        if not update_id:
            return None
        return next((e for e in self.audit if e.update_id == update_id), None)

    def next_wake(self, policy: CentrePolicy) -> ItemWatch | None:
        pending = [w for w in self.watches.values() if w.wakes_at(policy) is not None]
        return min(pending, key=lambda w: w.wakes_at(policy) or w.valid_until, default=None)

    def next_expiry(self, now: datetime) -> datetime | None:
        return min(
            (i.valid_until for i in self.centre.items() if i.valid_until > now), default=None
        )

    def sync_watches(self, policy: CentrePolicy, now: datetime) -> list[CentreAlertEntry]:
        """Watch every item's current ``valid_until``; renewing a lapsed or warned item
        starts its watch afresh and is reported."""
        alerts = []
        items = {i.key: i for i in self.centre.items()}
        for key in list(self.watches):
            if key not in items:
                del self.watches[key]
        for key, item in items.items():
            watch = self.watches.get(key)
            if watch is not None and watch.valid_until == item.valid_until:
                continue
            if watch is not None and (watch.lapsed_at or watch.warned_at):
                alerts.append(
                    CentreAlertEntry(
                        at=now,
                        kind=AlertKind.RENEWED,
                        key=key,
                        label=item.label,
                        valid_until=item.valid_until,
                        therapies=policy.concerns(item),
                    )
                )
            self.watches[key] = ItemWatch(key=key, label=item.label, valid_until=item.valid_until)
        self.alerts.extend(alerts)
        return alerts

    def due_alerts(self, policy: CentrePolicy, now: datetime) -> list[CentreAlertEntry]:
        """Warnings and lapses whose time has come (each once per ``valid_until``)."""
        alerts = []
        for watch in sorted(self.watches.values(), key=lambda w: (w.valid_until, w.key)):
            item = self.centre.item(watch.key)
            therapies = policy.concerns(item) if item else []
            if watch.lapsed_at is None and now >= watch.valid_until:
                watch.lapsed_at = now
                kind = AlertKind.LAPSED
            elif watch.warned_at is None and now >= watch.valid_until - policy.warn_before:
                watch.warned_at = now
                kind = AlertKind.EXPIRING
            else:
                continue
            alerts.append(
                CentreAlertEntry(
                    at=now,
                    kind=kind,
                    key=watch.key,
                    label=watch.label,
                    valid_until=watch.valid_until,
                    therapies=therapies,
                )
            )
        self.alerts.extend(alerts)
        return alerts


class CentreInput(BaseModel):
    """Starts a centre workflow: a new ``centre`` or the ``record`` carried by
    continue-as-new, and always the policy (so the workflow never reads a file)."""

    policy: CentrePolicy
    centre: Centre | None = None
    record: CentreRecord | None = None

    @model_validator(mode="after")
    def _one_source(self) -> CentreInput:
        if (self.centre is None) == (self.record is None):
            raise ValueError("give either a centre or a carried record")
        return self


class CentreBroadcast(BaseModel):
    """What the centre asks the broadcast activity to tell its open pathways."""

    notice: CentreNotice
    therapies: list[Therapy] = Field(min_length=1)


class BroadcastReceipt(BaseModel):
    pathways: list[str]


class EvidenceReceipt(BaseModel):
    centre: str
    event: str
    item: str
    seq: int
    at: datetime
    duplicate: bool = False
    ready: dict[Therapy, bool] = {}


# ----- staff actions on a centre ---------------------------------------------------------


class CentreAction(StaffAction):
    """Who records evidence, in which role, and why. Every centre update extends this."""


class RecordEvidence(CentreAction):
    evidence: _Evidence


class RecordAccreditation(RecordEvidence):
    evidence: Accreditation


class RecordTrial(RecordEvidence):
    evidence: TrialQualification


class RecordFacility(RecordEvidence):
    evidence: Facility


class RecordCellTherapyUnit(RecordEvidence):
    evidence: CellTherapyUnit


class RecordTocilizumab(RecordEvidence):
    evidence: TocilizumabStock


class RecordTraining(RecordEvidence):
    evidence: StaffTraining


class RecordPharmacovigilance(RecordEvidence):
    evidence: Pharmacovigilance


class RecordRegistry(RecordEvidence):
    evidence: Registry


class WithdrawEvidence(CentreAction):
    item: ItemKey
    reason: Text


CENTRE_EVENTS: dict[str, type[CentreAction]] = {
    "record_accreditation": RecordAccreditation,
    "record_trial": RecordTrial,
    "record_apheresis_unit": RecordFacility,
    "record_cell_therapy_unit": RecordCellTherapyUnit,
    "record_atmp_pharmacy": RecordFacility,
    "record_icu_access": RecordFacility,
    "record_neurology": RecordFacility,
    "record_tocilizumab_stock": RecordTocilizumab,
    "record_training": RecordTraining,
    "record_pharmacovigilance": RecordPharmacovigilance,
    "record_registry": RecordRegistry,
    "withdraw_evidence": WithdrawEvidence,
}

#: the Centre field each single-valued ``record_*`` event fills
EVIDENCE_FIELDS: dict[str, str] = {
    "record_accreditation": "accreditation",
    "record_apheresis_unit": "apheresis_unit",
    "record_cell_therapy_unit": "cell_therapy_unit",
    "record_atmp_pharmacy": "atmp_pharmacy",
    "record_icu_access": "icu_access",
    "record_neurology": "neurology",
    "record_tocilizumab_stock": "tocilizumab",
    "record_pharmacovigilance": "pharmacovigilance",
    "record_registry": "registry",
}

_LEAD = frozenset({Role.PROGRAMME_LEAD})
CENTRE_ROLE_MATRIX: dict[str, frozenset[Role]] = {
    "record_accreditation": _LEAD,
    "record_trial": _LEAD | {Role.CELL_THERAPY_SPECIALIST},
    "record_apheresis_unit": _LEAD | {Role.CELL_THERAPY_SPECIALIST},
    "record_cell_therapy_unit": _LEAD | {Role.CELL_THERAPY_SPECIALIST, Role.CTU_TECHNICIAN},
    "record_atmp_pharmacy": _LEAD | {Role.PHARMACIST},
    "record_icu_access": _LEAD,
    "record_neurology": _LEAD,
    "record_tocilizumab_stock": _LEAD | {Role.PHARMACIST},
    "record_training": _LEAD | {Role.CELL_THERAPY_SPECIALIST},
    "record_pharmacovigilance": _LEAD | {Role.PHARMACOVIGILANCE_OFFICER},
    "record_registry": _LEAD | {Role.PHARMACOVIGILANCE_OFFICER},
    "withdraw_evidence": _LEAD,
}


def parse_centre_action(event: str, data: Any) -> CentreAction:
    """Validate ``data`` as the payload of ``event`` (raises KeyError / ValidationError)."""
    model = CENTRE_EVENTS[event]
    if isinstance(data, model):
        return data
    if isinstance(data, BaseModel):
        data = data.model_dump()
    return model.model_validate(data)


class CentreRefusal(ValueError):
    """Evidence the centre does not accept; ``rule`` is the ApplicationError type."""

    def __init__(self, rule: str, message: str):
        super().__init__(message)
        self.rule = rule
        self.message = message


def check_evidence(centre: Centre, event: str, action: CentreAction, now: datetime) -> None:
    """Refuse evidence that is already out of date or contradicts itself (pure)."""
    if isinstance(action, WithdrawEvidence):
        if centre.item(action.item) is None:
            keys = ", ".join(i.key for i in centre.items()) or "none"
            raise CentreRefusal(
                "UnknownEvidence",
                f"{centre.id} has no evidence '{action.item}' to withdraw (on file: {keys}).",
            )
        return
    if not isinstance(action, RecordEvidence):
        return
    evidence = action.evidence
    if evidence.valid_until <= now:
        raise CentreRefusal(
            "EvidenceExpired",
            f"This evidence was valid until {when_text(evidence.valid_until)}, which is past: "
            "record current evidence with its new expiry or review date.",
        )
    started = None
    if isinstance(evidence, TrialQualification):
        started = ("site initiation", evidence.site_initiated_on)
    elif isinstance(evidence, StaffTraining):
        started = ("training", evidence.trained_on)
    if started is not None:
        what, moment = started
        if moment > now:
            raise CentreRefusal(
                "EvidenceInconsistent",
                f"The {what} date {when_text(moment)} is in the future.",
            )
        if moment >= evidence.valid_until:
            raise CentreRefusal(
                "EvidenceInconsistent",
                f"The {what} date {when_text(moment)} is not before its expiry "
                f"{when_text(evidence.valid_until)}.",
            )


# ----- files ----------------------------------------------------------------------------


class CentreFileError(ValueError):
    """A centre or policy file that cannot be used, with the file and each field at fault."""


_RELATIVE = re.compile(r"^\s*([+-])\s*(\d+(?:\.\d+)?\s*(?:s|min|h|d|w|mo|y))\s*$")


def resolve_relative(value: Any, *, now: datetime, time_scale: float = 1.0) -> Any:
    """Turn ``"+20d"`` / ``"-2y"`` into ``now`` ± that many days on the (compressed)
    clock, so demo centres stay "expiring soon" whenever they are loaded."""
    if isinstance(value, str):
        match = _RELATIVE.match(value)
        if match:
            delta = parse_duration(match.group(2).replace(" ", "")) * time_scale
            return (now + delta if match.group(1) == "+" else now - delta).isoformat()
        return value
    if isinstance(value, dict):
        return {k: resolve_relative(v, now=now, time_scale=time_scale) for k, v in value.items()}
    if isinstance(value, list):
        return [resolve_relative(v, now=now, time_scale=time_scale) for v in value]
    return value


def _read_yaml(path: Path, what: str) -> dict[str, Any]:
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except OSError as err:
        raise CentreFileError(f"{path}: cannot read the {what} file ({err.strerror})") from err
    except yaml.YAMLError as err:
        raise CentreFileError(f"{path}: not valid YAML or JSON ({err})") from err
    if not isinstance(raw, dict):
        raise CentreFileError(f"{path}: a {what} file must hold a mapping of fields")
    return raw


def load_centre(path: str | Path, *, now: datetime, time_scale: float = 1.0) -> Centre:
    """A centre file; relative dates (``+20d``) are resolved against ``now``."""
    path = Path(path)
    raw = resolve_relative(_read_yaml(path, "centre"), now=now, time_scale=time_scale)
    try:
        return Centre.model_validate(raw)
    except ValidationError as err:
        raise CentreFileError(f"{path}: {readable(err)}") from err


def load_centre_policy(path: str | Path | None = None) -> CentrePolicy:
    """The centre policy; a therapy's ``tocilizumab_min_doses`` defaults to its protocol's."""
    path = Path(path) if path else CENTRE_DIR / POLICY_FILE
    raw = _read_yaml(path, "centre policy")
    requirements = raw.get("requirements")
    if isinstance(requirements, dict):
        for therapy, req in requirements.items():
            if isinstance(req, dict) and "tocilizumab_min_doses" not in req:
                try:
                    protocol = load_default_protocol(Therapy(therapy))
                except ValueError:
                    continue  # an unknown therapy is reported by validation below
                req["tocilizumab_min_doses"] = protocol.tocilizumab_min_doses
    try:
        return CentrePolicy.model_validate(raw)
    except ValidationError as err:
        raise CentreFileError(f"{path}: {readable(err)}") from err


def centre_files(directory: str | Path | None = None) -> list[Path]:
    directory = Path(directory) if directory else CENTRE_DIR
    return sorted(p for p in directory.glob("*.yaml") if p.name != POLICY_FILE)
