"""Protocols: every clinical number of a pathway, as data.

Usage::

    protocol = load_protocol("protocols/cart-cd19-lupus.yaml")
    demo = protocol.compressed(seconds_per_day=2)   # the whole pathway in minutes

A protocol holds the diseases it is for (ICD-10 and ORPHA codes), the therapy's windows
(work-up validity, infusion after lymphodepletion, thaw-to-infusion…), the washout table, the
follow-up visit schedule, repeated infusions, escalation ladders and the deadline armed on
entering each state. Nothing in ``states/`` or ``workflows/`` hard-codes a duration. Every
number carries its source (``models/sources.py``). A bad file fails with the file name and
the field.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import timedelta
from enum import StrEnum
from pathlib import Path
from typing import Any, Literal, cast

import yaml
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    ValidationInfo,
    model_validator,
)

from models import yaml_files
from models.disease_codes import DiseaseCodes, Icd10Code, OrphaCode, covers
from models.durations import Duration
from models.fitness import Fitness
from models.infusions import Infusions
from models.mdtm import MdtmRules
from models.patient_course import PatientCourse
from models.preparation import PreparationTask, check_tasks
from models.registry_forms import RegistryPlan, VisitItem
from models.roles import Role
from models.safety_reporting import SafetyReporting
from models.sources import FROM_FILE, Source, Sourced, source
from models.validation import readable


class Therapy(StrEnum):
    CAR_T = "car-t"
    MSC = "msc"


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Disease(_Strict):
    """A disease the protocol is for: its name, its codes and where the indication comes from."""

    name: str = Field(min_length=3, max_length=120)
    icd10: list[Icd10Code] = []
    orpha: list[OrphaCode] = []
    source: Source

    @model_validator(mode="after")
    def _coded(self) -> Disease:
        if not self.icd10 and not self.orpha:
            raise ValueError(f"disease {self.name!r} needs an ICD-10 or an ORPHA code")
        return self

    def matches(self, codes: DiseaseCodes) -> bool:
        """Whether a referral with ``codes`` is for this disease (either code suffices)."""
        by_icd10 = codes.icd10 is not None and any(covers(c, codes.icd10) for c in self.icd10)
        return by_icd10 or (codes.orpha is not None and codes.orpha in self.orpha)

    def codes_text(self) -> str:
        return ", ".join([*self.icd10, *self.orpha])


_SMPC_LD = source("label: EU SmPC of licensed CD19 CAR-T, infusion 2-14 days after lymphodepletion")
_GR = "EBMT-ISCT: Greco et al., eClinicalMedicine 2024;69:102476"


class Windows(Sourced):
    NUMBERS = (
        "work_up_validity",
        "thaw_to_infusion",
        "infusion_after_lymphodepletion_min",
        "infusion_after_lymphodepletion_max",
        "infusion_after_lymphodepletion_outer",
        "after_usual_window",
        "afebrile_before_infusion",
        "proximity_period",
        "irradiated_blood_before_apheresis",
        "irradiated_blood_after_infusion",
        "monitoring_before_discharge",
    )
    ROW_SOURCE = False
    DEFAULT_SOURCES = {
        "infusion_after_lymphodepletion_min": _SMPC_LD,
        "infusion_after_lymphodepletion_max": _SMPC_LD,
        "infusion_after_lymphodepletion_outer": _SMPC_LD,
        "after_usual_window": source("assumption: repeat lymphodepletion unless set"),
        "afebrile_before_infusion": source(f"{_GR} (48 h afebrile before infusion)"),
        "proximity_period": source("label: EU SmPC, within ~2 h of the centre for >= 4 weeks"),
        "irradiated_blood_before_apheresis": source(f"{_GR} (irradiated blood products)"),
        "irradiated_blood_after_infusion": source(f"{_GR} (irradiated blood products)"),
        "monitoring_before_discharge": source(
            "assumption: no minimum monitoring period unless the protocol sets one"
        ),
    }

    work_up_validity: Duration = Field(description="maximum age of the work-up at MDTM")
    thaw_to_infusion: Duration = Field(description="thawed product must be infused within")
    infusion_after_lymphodepletion_min: Duration = timedelta(days=2)
    infusion_after_lymphodepletion_max: Duration = timedelta(days=14)
    # Between the usual limit (max) and the outer one: "justify" lets the binôme proceed
    # with a recorded justification, "repeat" asks for a new lymphodepletion. Beyond outer:
    # repeat. Read only for pathways under the explicit safety rules (models/safety_rules.py).
    infusion_after_lymphodepletion_outer: Duration = timedelta(days=14)
    after_usual_window: Literal["justify", "repeat"] = "repeat"
    afebrile_before_infusion: Duration = timedelta(hours=48)
    proximity_period: Duration = timedelta(weeks=4)
    irradiated_blood_before_apheresis: Duration = timedelta(days=7)
    irradiated_blood_after_infusion: Duration = timedelta(days=90)
    # None: not checked (protocols recorded before it existed)
    monitoring_before_discharge: Duration | None = None

    @model_validator(mode="after")
    def _outer_beyond_usual(self) -> Windows:
        if self.infusion_after_lymphodepletion_outer < self.infusion_after_lymphodepletion_max:
            raise ValueError("infusion_after_lymphodepletion_outer is before the usual maximum")
        return self


class WashoutRule(Sourced):
    """A drug class that must be stopped a minimum time before leukapheresis."""

    NUMBERS = ("stop_before",)

    drug: str
    stop_before: Duration
    note: str = ""


class Visit(Sourced):
    """A follow-up visit, due ``at`` after D0 (first infusion), with ``tolerance`` after it."""

    NUMBERS = ("at", "tolerance")

    label: str
    at: Duration
    tolerance: Duration
    long_term: bool = False


class EscalationStep(Sourced):
    NUMBERS = ("after",)
    after: Duration = Field(description="time after the deadline at which this step fires")
    notify: list[Role] = Field(min_length=1)


class EscalationLadder(_Strict):
    steps: list[EscalationStep] = Field(min_length=1)

    @model_validator(mode="after")
    def _ordered(self) -> EscalationLadder:
        afters = [s.after for s in self.steps]
        if afters != sorted(afters):
            raise ValueError("escalation steps must be listed in order of 'after'")
        return self


class DeadlineRule(Sourced):
    """A deadline armed on entering ``state``; met when the pathway leaves that state."""

    NUMBERS = ("within",)

    key: str
    label: str = Field(description="what is due, as staff say it: 'MDTM decision due'")
    state: str
    within: Duration
    waiting_on: Role
    ladder: str = "default"


class NotificationRetry(_Strict):
    """How hard a notification is retried before the fallback channel takes over.

    Operational, not clinical: ``compressed`` leaves these durations as they are."""

    initial_interval: Duration = timedelta(seconds=1)
    maximum_interval: Duration = timedelta(minutes=5)
    maximum_attempts: int = Field(default=8, ge=1, le=100)


class Protocol(
    Sourced, PatientCourse
):  # eligibility, grading, withdrawal: models/patient_course.py
    NUMBERS = ("prednisone_max_mg_per_day", "tocilizumab_min_doses")
    # ``source`` is the protocol's own reference, not a tag for its numbers.
    ROW_SOURCE = False
    DEFAULT_SOURCES = {
        "prednisone_max_mg_per_day": source(f"{_GR} (prednisone-equivalent before apheresis)"),
        "tocilizumab_min_doses": source("assumption: none required unless the protocol sets it"),
    }

    id: str
    title: str
    therapy: Therapy
    # Empty only in protocols recorded in workflow inputs before diseases were listed.
    diseases: list[Disease] = []
    product: str
    source: str = ""
    windows: Windows
    washout: list[WashoutRule] = []
    prednisone_max_mg_per_day: float = 10.0
    tocilizumab_min_doses: int = 0
    infusions: Infusions = Infusions()
    visits: list[Visit] = Field(min_length=1)
    escalation: dict[str, EscalationLadder]
    deadlines: list[DeadlineRule] = []
    fitness: Fitness = Fitness()
    mdtm: MdtmRules = MdtmRules()
    safety_reporting: SafetyReporting = SafetyReporting()
    notification_retry: NotificationRetry = NotificationRetry()
    preparation: list[PreparationTask] = []
    registry: RegistryPlan | None = None
    visit_content: list[VisitItem] = []
    time_scale: float = Field(default=1.0, gt=0, description="1.0 = real time")

    @model_validator(mode="after")
    def _consistent(self, info: ValidationInfo) -> Protocol:
        if (info.context or {}).get("protocol_file") and not self.diseases:
            raise ValueError(
                "diseases: list the diseases this protocol is for, each with its ICD-10 "
                "and/or ORPHA codes and its source"
            )
        if "default" not in self.escalation:
            raise ValueError("escalation must define a 'default' ladder")
        for rule in self.deadlines:
            if rule.ladder not in self.escalation:
                raise ValueError(f"deadline {rule.key!r} names unknown ladder {rule.ladder!r}")
        if self.safety_reporting.ladder not in self.escalation:
            raise ValueError(
                f"safety_reporting names unknown ladder {self.safety_reporting.ladder!r}"
            )
        keys = [r.key for r in self.deadlines]
        if len(keys) != len(set(keys)):
            raise ValueError("deadline keys must be unique")
        labels = [v.label for v in self.visits]
        if len(labels) != len(set(labels)):
            raise ValueError("visit labels must be unique")
        if [v.at for v in self.visits] != sorted(v.at for v in self.visits):
            raise ValueError("visits must be listed in order of 'at'")
        check_tasks(self)
        return self

    def task(self, key: str) -> PreparationTask | None:
        return next((t for t in self.preparation if t.key == key), None)

    def disease_for(self, codes: DiseaseCodes) -> Disease | None:
        """The disease of this protocol that a referral with ``codes`` is for, if any."""
        return next((d for d in self.diseases if d.matches(codes)), None)

    def ladder(self, name: str) -> EscalationLadder:
        return self.escalation.get(name) or self.escalation["default"]

    def washout_rule(self, drug: str) -> WashoutRule | None:
        wanted = drug.strip().lower()
        return next((r for r in self.washout if r.drug.lower() == wanted), None)

    def compressed(self, *, seconds_per_day: float, floor: timedelta = timedelta(0)) -> Protocol:
        """The same protocol with every duration scaled so that one day lasts
        ``seconds_per_day`` seconds: demos and tests run the full pathway quickly.

        ``floor`` keeps hour-scale windows usable: a 60-minute thaw window would last 80 ms
        at 2 s a day; with ``floor=timedelta(seconds=5)`` it lasts 5 s. Only durations
        shorter than one day are raised to the floor, so day-scale windows keep their order
        (lymphodepletion-to-infusion minimum 2 days, maximum 14 days).
        """
        if seconds_per_day <= 0:
            raise ValueError("seconds_per_day must be positive")
        factor = seconds_per_day / 86400.0
        data = self.model_dump(mode="python")
        retry = data.pop("notification_retry")
        scaled = cast(dict[str, Any], _scale(data, factor, floor))
        scaled["notification_retry"] = retry
        scaled["time_scale"] = self.time_scale * factor
        return Protocol.model_validate(scaled)


def _scale(value: object, factor: float, floor: timedelta) -> object:
    if isinstance(value, timedelta):
        scaled = timedelta(seconds=value.total_seconds() * factor)
        if timedelta(0) < value < timedelta(days=1):
            return max(scaled, floor)
        return scaled
    if isinstance(value, dict):
        return {k: _scale(v, factor, floor) for k, v in value.items()}
    if isinstance(value, list):
        return [_scale(v, factor, floor) for v in value]
    return value


_SHARED: dict[str, Protocol] = {}
_SHARED_MAX = 64


def shared_protocol(protocol: Protocol) -> Protocol:
    """The process's one instance of a protocol with this content.

    A ``Protocol`` is frozen, so every open pathway of a worker can hold the same object
    instead of the copy each workflow run decodes from its input (~50 KB each, a thousand
    of them in a worker's cache). Bounded: past ``_SHARED_MAX`` distinct protocols (tests,
    demos with compressed clocks) the table starts again.
    """
    key = protocol.model_dump_json()
    found = _SHARED.get(key)
    if found is None:
        if len(_SHARED) >= _SHARED_MAX:
            _SHARED.clear()
        found = _SHARED.setdefault(key, protocol)
    return found


_BY_SOURCE: dict[str, Protocol] = {}


def protocol_from_input(value: Any, validate: Callable[[Any], Protocol]) -> Protocol:
    """The shared protocol for a protocol as a workflow input carries it (a JSON object).

    Every run of every pathway decodes its protocol from its input; a worker validates each
    distinct one once, then finds it by its text (docs/performance.md, "What changed").
    Anything but a JSON object is validated as usual.
    """
    if not isinstance(value, dict):
        return shared_protocol(validate(value))
    key = json.dumps(value, sort_keys=True, separators=(",", ":"), default=str)
    found = _BY_SOURCE.get(key)
    if found is None:
        if len(_BY_SOURCE) >= _SHARED_MAX:
            _BY_SOURCE.clear()
        found = _BY_SOURCE.setdefault(key, shared_protocol(validate(value)))
    return found


class ProtocolFileError(ValueError):
    """A protocol file that cannot be used, with the file and each field at fault."""


def load_protocol(path: str | Path) -> Protocol:
    path = Path(path)
    try:
        raw = yaml_files.safe_load(path.read_text(encoding="utf-8"))
    except OSError as err:
        raise ProtocolFileError(f"{path}: cannot read the protocol file ({err.strerror})") from err
    except yaml.YAMLError as err:
        raise ProtocolFileError(f"{path}: not valid YAML or JSON ({err})") from err
    if not isinstance(raw, dict):
        raise ProtocolFileError(f"{path}: a protocol file must hold a mapping of fields")
    try:
        return Protocol.model_validate(raw, context=FROM_FILE)
    except ValidationError as err:
        raise ProtocolFileError(f"{path}: {readable(err)}") from err


PROTOCOL_DIR = Path(__file__).resolve().parent.parent / "protocols"

# The reference protocol of each therapy, for documentation, tools and tests. Never chosen
# for a referral: a referral follows the protocol it names or the one that matches its
# therapy and disease (models/protocol_choice.py).
DEFAULT_PROTOCOLS: dict[Therapy, str] = {
    Therapy.CAR_T: "cart-cd19-lupus",
    Therapy.MSC: "msc-systemic-sclerosis",
}


def protocol_path(protocol_id: str) -> Path:
    return PROTOCOL_DIR / f"{protocol_id}.yaml"


def shipped_protocols() -> list[Protocol]:
    """Every protocol in ``protocols/``, in file-name order."""
    return [load_protocol(path) for path in sorted(PROTOCOL_DIR.glob("*.yaml"))]


def load_default_protocol(therapy: Therapy) -> Protocol:
    """The therapy's reference protocol (``DEFAULT_PROTOCOLS``): never for a referral."""
    return load_protocol(protocol_path(DEFAULT_PROTOCOLS[therapy]))
