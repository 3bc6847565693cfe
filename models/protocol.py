"""Protocols: every clinical number of a pathway, as data.

Usage::

    protocol = load_protocol("protocols/cart-cd19-lupus.yaml")
    demo = protocol.compressed(seconds_per_day=2)   # the whole pathway in minutes

A protocol holds the therapy's windows (work-up validity, infusion after lymphodepletion,
thaw-to-infusion…), the washout table, the follow-up visit schedule, repeated infusions,
escalation ladders and the deadline armed on entering each state. Nothing in ``states/`` or
``workflows/`` hard-codes a duration. A bad file fails with the file name and the field.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import timedelta
from enum import StrEnum
from pathlib import Path
from typing import Any, cast

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from models.durations import Duration
from models.roles import Role
from models.validation import readable


class Therapy(StrEnum):
    CAR_T = "car-t"
    MSC = "msc"


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Windows(_Strict):
    work_up_validity: Duration = Field(description="maximum age of the work-up at MDTM")
    thaw_to_infusion: Duration = Field(description="thawed product must be infused within")
    infusion_after_lymphodepletion_min: Duration = timedelta(days=2)
    infusion_after_lymphodepletion_max: Duration = timedelta(days=14)
    afebrile_before_infusion: Duration = timedelta(hours=48)
    proximity_period: Duration = timedelta(weeks=4)
    irradiated_blood_before_apheresis: Duration = timedelta(days=7)
    irradiated_blood_after_infusion: Duration = timedelta(days=90)


class WashoutRule(_Strict):
    """A drug class that must be stopped a minimum time before leukapheresis."""

    drug: str
    stop_before: Duration
    note: str = ""


class Visit(_Strict):
    """A follow-up visit, due ``at`` after D0 (first infusion), with ``tolerance`` after it."""

    label: str
    at: Duration
    tolerance: Duration
    long_term: bool = False


class EscalationStep(_Strict):
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


class DeadlineRule(_Strict):
    """A deadline armed on entering ``state``; met when the pathway leaves that state."""

    key: str
    label: str = Field(description="what is due, as staff say it: 'MDTM decision due'")
    state: str
    within: Duration
    waiting_on: Role
    ladder: str = "default"


class Infusions(_Strict):
    count: int = Field(default=1, ge=1, le=12)
    interval: Duration = timedelta(days=7)
    interval_tolerance: Duration = timedelta(days=2)


class SafetyReporting(_Strict):
    """Clinical-trial safety reporting (EU CTR 536/2014), armed when an event is recorded."""

    sponsor: Duration = timedelta(hours=24)
    susar_fatal: Duration = timedelta(days=7)
    susar_other: Duration = timedelta(days=15)
    ladder: str = "default"


class NotificationRetry(_Strict):
    """How hard a notification is retried before the fallback channel takes over.

    Operational, not clinical: ``compressed`` leaves these durations as they are."""

    initial_interval: Duration = timedelta(seconds=1)
    maximum_interval: Duration = timedelta(minutes=5)
    maximum_attempts: int = Field(default=8, ge=1, le=100)


class Protocol(_Strict):
    id: str
    title: str
    therapy: Therapy
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
    safety_reporting: SafetyReporting = SafetyReporting()
    notification_retry: NotificationRetry = NotificationRetry()
    time_scale: float = Field(default=1.0, gt=0, description="1.0 = real time")

    @model_validator(mode="after")
    def _consistent(self) -> Protocol:
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
        return self

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
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except OSError as err:
        raise ProtocolFileError(f"{path}: cannot read the protocol file ({err.strerror})") from err
    except yaml.YAMLError as err:
        raise ProtocolFileError(f"{path}: not valid YAML or JSON ({err})") from err
    if not isinstance(raw, dict):
        raise ProtocolFileError(f"{path}: a protocol file must hold a mapping of fields")
    try:
        return Protocol.model_validate(raw)
    except ValidationError as err:
        raise ProtocolFileError(f"{path}: {readable(err)}") from err


PROTOCOL_DIR = Path(__file__).resolve().parent.parent / "protocols"

DEFAULT_PROTOCOLS: dict[Therapy, str] = {
    Therapy.CAR_T: "cart-cd19-lupus",
    Therapy.MSC: "msc-systemic-sclerosis",
}


def protocol_path(protocol_id: str) -> Path:
    return PROTOCOL_DIR / f"{protocol_id}.yaml"


def load_default_protocol(therapy: Therapy) -> Protocol:
    return load_protocol(protocol_path(DEFAULT_PROTOCOLS[therapy]))
