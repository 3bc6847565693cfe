"""The CRS and ICANS grading tables, as versioned data read from one file.

Usage::

    tables = load_grading()                      # protocols/grading/astct-2019.yaml
    tables.version                               # "astct-2019.1", recorded with each grade

Each row names its cells in the words of the source table and the grade it gives. Loading
checks that the rows cover each observation value exactly once (every enum value of
``models/grading_observations.py``, every ICE score, every vasopressor count, every oxygen
device and flow), so a grade can never fall between two rows or on two. A bad file fails with
``GradingFileError`` naming the file and the field.
"""

from __future__ import annotations

from enum import StrEnum
from functools import cache
from pathlib import Path
from typing import Any, Generic, TypeVar

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from models import yaml_files
from models.grading_observations import (
    Consciousness,
    CrsTreatment,
    IcpSign,
    MotorFinding,
    OxygenDevice,
    Seizure,
)
from models.sources import Source
from models.validation import readable

GRADING_DIR = Path(__file__).resolve().parent.parent / "protocols" / "grading"
DEFAULT_GRADING = GRADING_DIR / "astct-2019.yaml"

F = TypeVar("F", bound=StrEnum)


class GradingFileError(ValueError):
    """A grading file that cannot be used, with the file and each field at fault."""


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Row(_Strict):
    """One cell of a table: its words (``row``) and the grade it gives."""

    row: str = Field(min_length=3, max_length=200)
    grade: int = Field(ge=0, le=4)


class FindingRow(Row, Generic[F]):
    findings: list[F] = Field(min_length=1)


def _each_once(rows: list[FindingRow[Any]], vocabulary: type[StrEnum], table: str) -> None:
    named = [f for r in rows for f in r.findings]
    twice = sorted({f.value for f in named if named.count(f) > 1})
    missing = sorted(v.value for v in vocabulary if v not in named)
    if twice or missing:
        raise ValueError(
            f"{table}: every finding needs exactly one row"
            + (f"; on several rows: {', '.join(twice)}" if twice else "")
            + (f"; on none: {', '.join(missing)}" if missing else "")
        )


class Fever(Row):
    min_temperature_c: float = Field(ge=35, le=42)
    not_required_after: list[CrsTreatment] = []


class VasopressorRow(Row):
    min_vasopressors: int = Field(ge=0)
    max_vasopressors: int | None = None

    def covers(self, count: int) -> bool:
        return count >= self.min_vasopressors and (
            self.max_vasopressors is None or count <= self.max_vasopressors
        )


class Hypotension(_Strict):
    absent: Row
    rows: list[VasopressorRow] = Field(min_length=1)

    @model_validator(mode="after")
    def _counts_partitioned(self) -> Hypotension:
        ordered = sorted(self.rows, key=lambda r: r.min_vasopressors)
        expected = 0
        for row in ordered:
            if row.min_vasopressors != expected:
                raise ValueError(f"hypotension: no single row for {expected} vasopressor(s)")
            if row.max_vasopressors is None:
                if row is not ordered[-1]:
                    raise ValueError("hypotension: only the last row may be open-ended")
                return self
            expected = row.max_vasopressors + 1
        raise ValueError("hypotension: the last row needs no max_vasopressors (any count above)")


class OxygenRow(Row):
    devices: list[OxygenDevice] = Field(min_length=1)
    max_flow_l_min: float | None = Field(default=None, gt=0)
    above_flow_l_min: float | None = Field(default=None, gt=0)

    def covers(self, device: OxygenDevice, flow_l_min: float | None) -> bool:
        if device not in self.devices:
            return False
        if flow_l_min is None:
            return self.max_flow_l_min is None and self.above_flow_l_min is None
        return (self.max_flow_l_min is None or flow_l_min <= self.max_flow_l_min) and (
            self.above_flow_l_min is None or flow_l_min > self.above_flow_l_min
        )

    def needs_flow(self) -> bool:
        return self.max_flow_l_min is not None or self.above_flow_l_min is not None


def _check_hypoxia(rows: list[OxygenRow]) -> None:
    for device in OxygenDevice:
        mine = [r for r in rows if device in r.devices]
        if not mine:
            raise ValueError(f"hypoxia: no row for oxygen device {device.value}")
        if len(mine) == 1 and not mine[0].needs_flow():
            continue
        cut = {r.max_flow_l_min for r in mine} | {r.above_flow_l_min for r in mine}
        split = len(mine) == 2 and len(cut - {None}) == 1
        if not split or not all(r.needs_flow() and len(r.devices) == 1 for r in mine):
            raise ValueError(
                f"hypoxia: {device.value} needs one row, or two rows split at one flow "
                "(max_flow_l_min and above_flow_l_min equal)"
            )


class CrsTable(_Strict):
    fever: Fever
    hypotension: Hypotension
    hypoxia: list[OxygenRow]

    @model_validator(mode="after")
    def _covered(self) -> CrsTable:
        _check_hypoxia(self.hypoxia)
        return self


class IceRow(Row):
    min_score: int = Field(ge=0)
    max_score: int = Field(ge=0)


class IcansTable(_Strict):
    ice_score: list[IceRow] = Field(min_length=1)
    ice_zero_unarousable: Row
    consciousness: list[FindingRow[Consciousness]]
    seizures: list[FindingRow[Seizure]]
    motor_findings: list[FindingRow[MotorFinding]]
    raised_icp: list[FindingRow[IcpSign]]

    @model_validator(mode="after")
    def _covered(self) -> IcansTable:
        scores = [s for r in self.ice_score for s in range(r.min_score, r.max_score + 1)]
        if sorted(scores) != list(range(max(scores) + 1)):
            raise ValueError("ice_score: the rows must cover 0 to the top score once each")
        _each_once(self.consciousness, Consciousness, "consciousness")
        _each_once(self.seizures, Seizure, "seizures")
        _each_once(self.motor_findings, MotorFinding, "motor_findings")
        _each_once(self.raised_icp, IcpSign, "raised_icp")
        return self

    @property
    def top_ice_score(self) -> int:
        return max(r.max_score for r in self.ice_score)


class Plausible(_Strict):
    """cellpath's own bounds on what can be observed (not the source's)."""

    min_temperature_c: float
    max_temperature_c: float
    max_oxygen_flow_l_min: float = Field(gt=0)
    max_vasopressors: int = Field(ge=1)


class GradingTables(_Strict):
    version: str = Field(min_length=3, max_length=60)
    title: str
    source: Source
    crs: CrsTable
    icans: IcansTable
    plausible: Plausible


def load_grading(path: str | Path = DEFAULT_GRADING) -> GradingTables:
    """The grading tables of ``path``; raises ``GradingFileError`` naming what is wrong."""
    path = Path(path)
    try:
        raw = yaml_files.safe_load(path.read_text(encoding="utf-8"))
    except OSError as err:
        raise GradingFileError(f"{path}: cannot read the grading file ({err.strerror})") from err
    except yaml.YAMLError as err:
        raise GradingFileError(f"{path}: not valid YAML ({err})") from err
    if not isinstance(raw, dict):
        raise GradingFileError(f"{path}: a grading file must hold a mapping of fields")
    try:
        return GradingTables.model_validate(raw)
    except ValidationError as err:
        raise GradingFileError(f"{path}: {readable(err)}") from err


@cache
def astct_2019() -> GradingTables:
    """The shipped tables, read once per process."""
    return load_grading(DEFAULT_GRADING)
