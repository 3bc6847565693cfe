"""A centre's evidence: the dated documents that show it holds each prerequisite.

Usage::

    centre = Centre.model_validate({"id": "centre-a", "name": "…", "icu_access": {…}})
    centre.items()         # [EvidenceItem(key='icu_access', valid_until=…), …]
    centre.record("record_icu_access", Facility(name="ICU", valid_until=…))

A ``Centre`` holds its evidence: accreditation (by JACIE, FACT, FACT-JACIE or SFGM-TC: the
centre policy says which bodies count) and its scope, sponsor qualification / site
initiation per trial, apheresis unit, cell-therapy unit (liquid-nitrogen
storage, thaw), ATMP pharmacy, ICU access, neurology, tocilizumab stock, trained staff,
pharmacovigilance contact and registry reporting. Every piece of evidence has a
``valid_until`` (its expiry or review date); a YAML date or a naive time is taken as UTC.

Pure: no clock, no I/O. Limitations: tocilizumab stock is one count for the centre, not
reserved per patient.
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from enum import StrEnum
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    StringConstraints,
    model_validator,
)

from models.actions import Identifier, PersonId, ShortText
from models.contracts import CENTRE_ID_PATTERN
from models.durations import Duration
from models.protocol import Therapy
from models.roles import Role
from models.validation import pattern

CentreId = Annotated[
    str,
    StringConstraints(
        strip_whitespace=True,
        pattern=pattern(
            rf"^{CENTRE_ID_PATTERN}$",
            "a centre ID such as centre-a (`cellpath centres list`)",
        ),
    ),
]


def _utc(value: Any) -> Any:
    # A YAML date (2027-01-31) is midnight UTC; a naive time is taken as UTC, so that every
    # comparison with the workflow clock (aware) is defined.
    if isinstance(value, date) and not isinstance(value, datetime):
        return datetime(value.year, value.month, value.day, tzinfo=UTC)
    return value


def _aware(value: datetime) -> datetime:
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


When = Annotated[datetime, BeforeValidator(_utc), AfterValidator(_aware)]


def when_text(moment: datetime) -> str:
    """A moment as staff read it in messages and alerts: ``2027-01-31 00:00 UTC``."""
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
    Prerequisite.ACCREDITATION: "accreditation (by a body the centre policy counts)",
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


class Evidence(BaseModel):
    """One dated piece of evidence; every kind below extends it."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    valid_until: When = Field(description="expiry or review date")
    reference: Identifier | None = Field(default=None, description="certificate, agreement…")


# Which of these count for a centre is the centre policy's ``accreditation_bodies``.
AccreditationBody = Literal["JACIE", "FACT", "FACT-JACIE", "SFGM-TC"]


class Accreditation(Evidence):
    body: AccreditationBody
    scope: list[Therapy] = Field(min_length=1, description="therapies the accreditation covers")


class TrialQualification(Evidence):
    """Sponsor qualification and site initiation visit for one trial."""

    trial: Identifier
    sponsor: ShortText
    therapy: Therapy
    site_initiated_on: When


class Facility(Evidence):
    """A unit or service of the centre, or an agreement with one (ICU, neurology)."""

    name: ShortText
    contact: PersonId | None = None


class CellTherapyUnit(Facility):
    liquid_nitrogen_storage: bool
    thaw_on_site: bool = True


class TocilizumabStock(Evidence):
    """Doses counted on site; ``valid_until`` is the next stock review (or batch expiry)."""

    doses_on_site: int = Field(ge=0, le=1000)
    resupply_within: Duration | None = Field(
        default=None,
        description="how soon a further dose arrives (a fact; the centre policy's "
        "tocilizumab_resupply_within is the rule)",
    )


class StaffTraining(Evidence):
    """One person's current training for a role (``valid_until``: refresher due)."""

    person: PersonId
    staff_role: Role
    trained_on: When


class Pharmacovigilance(Evidence):
    contact: PersonId


class Registry(Evidence):
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

    def record(self, event: str, evidence: Evidence) -> str:
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
