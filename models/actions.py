"""Staff actions: one pydantic payload per chart event.

Every action says who did it, in which role and, optionally, why. Clinical times that
differ from the moment of recording (work-up date, drug stop date, thaw time) are fields
of the payload; everything else happens at the workflow's current time.

Clinical times must carry a time zone (``2026-11-20T09:00:00+01:00``, ``…Z``): a bare one is refused.

Staff IDs are compared to enforce the two-person rules (MDTM binôme, bedside check), so they
are NFKC-normalised and written in Latin letters only: a Cyrillic "а" in "dr.mаrtin" would
otherwise make one person count as two.

Usage::

    action = parse_action("approve_at_mdtm", {"actor": "dr.martin", "role": "ard_specialist",
                                              "ard_specialist": "dr.martin",
                                              "cell_therapy_specialist": "dr.roux"})
"""

from __future__ import annotations

import unicodedata
from datetime import UTC, datetime
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, AwareDatetime, BaseModel, ConfigDict, Field, StringConstraints

from models.eligibility import PriorTreatment, SeverityScore
from models.grading_observations import CrsObservation, IcansObservation
from models.mdtm import Specialty
from models.roles import Role
from models.safety_reporting import AdverseOutcome
from models.validation import pattern

# Control characters, and the bidirectional overrides that make text display in another
# order than it is stored (a reason that reads differently in the audit than it was written).
_CONTROL = (
    {chr(c) for c in range(32)} - {"\n", "\t"}
    | {"\x7f"}
    | {chr(c) for c in (*range(0x202A, 0x202F), *range(0x2066, 0x206A))}
)


def _printable(value: str) -> str:
    if any(ch in _CONTROL for ch in value):
        raise ValueError("contains control characters")
    return value


def _latin(value: str) -> str:
    value = unicodedata.normalize("NFKC", value)
    for ch in value:
        if ch.isalpha() and not unicodedata.name(ch, "").startswith("LATIN "):
            script = unicodedata.name(ch, "unknown").split()[0].title()
            raise ValueError(
                f"contains the {script} letter '{ch}': type staff IDs in Latin letters "
                "(a look-alike letter would count one person as two)"
            )
        if ch.isdigit() and not ch.isascii():
            raise ValueError(f"contains the digit '{ch}': type staff IDs with the digits 0-9")
    return value


def person_key(staff_id: str) -> str:
    """Who a staff ID names, for the two-person rules: case, width and spaces do not make
    another person ("Dr. Martin" is dr.martin)."""
    return "".join(unicodedata.normalize("NFKC", staff_id).split()).casefold()


def _said(value: str) -> str:
    if not value.strip():
        raise ValueError("is blank: say why, in words")
    return value


def _in_calendar(value: datetime) -> datetime:
    # Year 1 at +14:00 or year 9999 at -14:00 has no UTC equivalent: stored, it would break
    # every later reading of the record.
    try:
        value.astimezone(UTC)
    except OverflowError:
        raise ValueError("is out of range; check the date") from None
    return value


PersonId = Annotated[
    str,
    StringConstraints(
        strip_whitespace=True,
        min_length=2,
        max_length=64,
        pattern=pattern(
            r"^[\w.@' -]+$",
            "a staff ID such as dr.martin (letters, digits, dots, @, apostrophes, hyphens)",
        ),
    ),
    AfterValidator(_latin),
]
Text = Annotated[str, StringConstraints(max_length=2000), AfterValidator(_printable)]
Reason = Annotated[Text, AfterValidator(_said)]
ClinicalTime = Annotated[AwareDatetime, AfterValidator(_in_calendar)]
ShortText = Annotated[
    str, StringConstraints(min_length=1, max_length=200), AfterValidator(_printable)
]
Identifier = Annotated[
    str,
    StringConstraints(
        strip_whitespace=True,
        min_length=3,
        max_length=64,
        pattern=pattern(
            r"^[A-Za-z0-9.\-_/ ]+$",
            "an identifier in Latin letters, digits, '.', '-', '_' and '/' (e.g. COI-LUP-010)",
        ),
    ),
]


class StaffAction(BaseModel):
    """Who did it, in which role, and why. Every event payload extends this."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    actor: PersonId
    role: Role
    reason: Text | None = None
    #: proof of who signed, never recorded as details: the actor assertion (models/actor.py)
    #: and a two-person action's co-signature by the second person (models/cosignature.py)
    assertion: str | None = Field(default=None, max_length=8192, repr=False)
    cosignature: str | None = Field(default=None, max_length=8192, repr=False)


class WorkUp(StaffAction):
    completed_at: ClinicalTime = Field(description="date of the work-up (oldest test counts)")
    lvef_percent: float | None = Field(default=None, ge=5, le=90)
    egfr: float | None = Field(default=None, ge=0, le=200)
    missing: list[ShortText] = Field(default=[], max_length=30, description="tests still missing")
    # Eligibility (models/eligibility.py): each answer of the protocol's exclusion checklist
    # (key -> present); a score or treatment list given here replaces the referral's.
    exclusions: dict[str, bool] | None = Field(default=None, max_length=30)
    severity: SeverityScore | None = None
    prior_treatments: list[PriorTreatment] | None = Field(default=None, max_length=30)


class Attendee(BaseModel):
    """One person at the MDTM and the specialty they represent (models/mdtm.py)."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    person: PersonId
    specialty: Specialty


class MdtmDecision(StaffAction):
    """MDTM outcome, co-signed by the binôme: two different people. The meeting's ID, date,
    attendees and rationale are required for pathways under the explicit safety rules."""

    ard_specialist: PersonId
    cell_therapy_specialist: PersonId
    meeting_id: Identifier | None = None
    meeting_at: ClinicalTime | None = None
    attendees: list[Attendee] | None = Field(default=None, max_length=40)
    rationale: Text | None = None
    #: why a signatory is not the referral's binôme
    substitution_reason: Reason | None = None


class Consent(StaffAction):
    # Required answers (models/safety_rules.py); None only in payloads of older pathways.
    trial_inclusion: bool | None = None
    registry_consent: bool | None = None


class DrugStop(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    drug: ShortText
    stopped_at: ClinicalTime


class Washout(StaffAction):
    stopped: list[DrugStop] = Field(default=[], max_length=30)
    #: every current immunosuppressive or immunomodulatory treatment, or ["none"]
    treatments: list[ShortText] | None = Field(default=None, max_length=30)
    prednisone_mg_per_day: float = Field(default=0, ge=0, le=2000)


class ApheresisBooking(StaffAction):
    slot_at: ClinicalTime


class Apheresis(StaffAction):
    coi_id: Identifier = Field(description="chain-of-identity identifier of the patient's material")


class Shipment(StaffAction):
    carrier_reference: Identifier | None = None


class ProductRelease(StaffAction):
    lot: Identifier | None = None


class OutOfSpecification(StaffAction):
    finding: ShortText


class ProductOrder(StaffAction):
    coi_id: Identifier
    doses: int = Field(default=1, ge=1, le=12)


class ProductReceipt(StaffAction):
    bag_coi_id: Identifier
    temperature_log_ok: bool | None = None
    storage_location: Identifier | None = None


class Quarantine(StaffAction):
    finding: ShortText


class PreInfusionCheck(StaffAction):
    active_infection: bool
    cardiac_check_ok: bool | None = None
    pregnancy_test: Literal["negative", "positive", "not_applicable"] | None = None
    lvef_percent: float | None = Field(default=None, ge=5, le=90)
    egfr: float | None = Field(default=None, ge=0, le=200)
    tocilizumab_doses_on_site: int = Field(default=0, ge=0, le=100)


class Lymphodepletion(StaffAction):
    regimen: ShortText = "fludarabine + cyclophosphamide"


class Fever(StaffAction):
    temperature_c: float = Field(ge=37.5, le=43.5)


class Observation(StaffAction):
    """A post-infusion bedside observation; its CRS/ICANS grades are computed, never typed."""

    crs: CrsObservation | None = None
    icans: IcansObservation | None = None


class Thaw(StaffAction):
    bag_coi_id: Identifier
    #: why the binôme proceeds past the usual lymphodepletion-to-infusion window
    late_justification: Reason | None = None


class Infusion(StaffAction):
    bag_coi_id: Identifier
    checked_by: list[PersonId] = Field(min_length=1, max_length=4)
    thawed_at: ClinicalTime | None = None


class AdverseEvent(StaffAction):
    kind: Literal["CRS", "ICANS", "infection", "cytopenia", "flare", "malignancy", "other"]
    grade: int = Field(ge=1, le=5, description="ASTCT grade for CRS/ICANS, CTCAE otherwise")
    # None: not said. Under the explicit safety rules the facts below imply a minimum
    # (models/safety_reporting.py) that these may raise, never lower.
    serious: bool | None = None
    suspected_unexpected: bool = Field(default=False, description="SUSAR")
    life_threatening_or_fatal: bool | None = None
    hospitalised: bool | None = Field(default=None, description="required or prolonged")
    outcome: AdverseOutcome | None = None
    #: when the site became aware of the event: the reporting clock starts there
    aware_at: ClinicalTime | None = None
    ice_score: int | None = Field(default=None, ge=0, le=10)
    description: Text | None = None


class SafetyReport(StaffAction):
    adverse_event: int = Field(ge=1, description="number of the adverse event on this pathway")
    report: Literal["sponsor", "susar"]
    reference: Identifier | None = None


class Transfer(StaffAction):
    pass


class Discharge(StaffAction):
    pass


class VisitRecord(StaffAction):
    visit: ShortText
    blood_counts_done: bool = True
    #: what the visit found, by the protocol's visit content (``blood_counts``, ``igg``…)
    findings: dict[Annotated[str, StringConstraints(max_length=32)], ShortText] = Field(
        default={}, max_length=12
    )
    #: when the visit took place, if not now (a visit during the inpatient stay, typed later)
    done_at: ClinicalTime | None = None


class Hold(StaffAction):
    reason: Reason


class Resume(StaffAction):
    pass


class Exit(StaffAction):
    reason: Reason


class PlainAction(StaffAction):
    pass


TaskKey = Annotated[
    str,
    StringConstraints(
        strip_whitespace=True,
        pattern=pattern(r"^[a-z][a-z0-9_]{1,47}$", "a task key such as pregnancy_test"),
    ),
]


class TaskRecord(StaffAction):
    """A preparation task done (models/preparation.py): its key and the details it asks."""

    task: TaskKey
    details: dict[Annotated[str, StringConstraints(max_length=32)], ShortText] = Field(
        default={}, max_length=12
    )


class RegistryFormSubmission(StaffAction):
    """A registry form submitted (models/registry_forms.py), with the registry's reference."""

    form: Annotated[
        str,
        StringConstraints(
            strip_whitespace=True,
            pattern=pattern(r"^[a-z0-9][a-z0-9_-]{1,39}$", "a form key such as day-100"),
        ),
    ]
    reference: Identifier


EVENT_PAYLOADS: dict[str, type[StaffAction]] = {
    "record_work_up": WorkUp,
    "approve_at_mdtm": MdtmDecision,
    "reject_at_mdtm": MdtmDecision,
    "defer_at_mdtm": MdtmDecision,
    "record_consent": Consent,
    "record_washout": Washout,
    "book_apheresis": ApheresisBooking,
    "record_apheresis": Apheresis,
    "ship_to_manufacturer": Shipment,
    "release_product": ProductRelease,
    "report_out_of_specification": OutOfSpecification,
    "declare_manufacturing_failure": Exit,
    "ship_to_centre": Shipment,
    "order_product": ProductOrder,
    "receive_product": ProductReceipt,
    "quarantine_product": Quarantine,
    "release_from_quarantine": ProductReceipt,
    "discard_quarantined_product": Exit,
    "clear_for_treatment": PreInfusionCheck,
    "start_lymphodepletion": Lymphodepletion,
    "complete_lymphodepletion": Lymphodepletion,
    "record_fever": Fever,
    "record_observation": Observation,
    "thaw_product": Thaw,
    "infuse": Infusion,
    "record_adverse_event": AdverseEvent,
    "report_adverse_event": SafetyReport,
    "repeat_lymphodepletion": PlainAction,
    "discard_thawed_product": Exit,
    "transfer_to_icu": Transfer,
    "return_from_icu": Transfer,
    "discharge": Discharge,
    "end_observation": PlainAction,
    "record_visit": VisitRecord,
    "start_long_term_follow_up": PlainAction,
    "complete_follow_up": PlainAction,
    "hold": Hold,
    "resume": Resume,
    "withdraw": Exit,
    "record_death": Exit,
    "declare_lost_to_follow_up": Exit,
    "refuse_long_term_follow_up": Exit,
    "record_task": TaskRecord,
    "submit_registry_form": RegistryFormSubmission,
}


def parse_action(event: str, data: Any) -> StaffAction:
    """Validate ``data`` as the payload of ``event`` (raises KeyError / ValidationError)."""
    model = EVENT_PAYLOADS[event]
    if isinstance(data, model):
        return data
    if isinstance(data, BaseModel):
        data = data.model_dump()
    return model.model_validate(data)
