"""CRS and ICANS grades computed from an observation and the grading tables, never typed in.

Usage::

    graded = crs_grade(CrsObservation(temperature_c=38.4, oxygen=OxygenDevice.FACE_MASK))
    graded.grade       # 3
    graded.reasons     # ("hypoxia requiring facemask, non-rebreather or Venturi mask",)
    graded.grading     # "astct-2019.1": the version of the tables that gave it

Pure: the grade depends on the observation and the tables only (the shipped tables are read
once by ``models.grading_tables.astct_2019``; pass ``tables=`` for another version). The
reasons are the rows that set the grade; ``notes`` says what was seen but not counted (a sign
attributed to another cause, a fever no longer required). An observation that makes no sense
(an ICE score of 11, vasopressors without hypotension) is refused with
``IncoherentObservation``, every problem named.

Limitations: grade 5 (death) is not an observation; children under 12 are not graded here.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Literal

from pydantic import BaseModel, ConfigDict

from models.grading_observations import (
    Consciousness,
    CrsObservation,
    CrsSign,
    IcansDomain,
    IcansObservation,
    OxygenDevice,
)
from models.grading_tables import FindingRow, GradingTables, Row, astct_2019
from models.refusals import Outcome, Refusal


class IncoherentObservation(Refusal):
    """The observation cannot be graded as given: the message names each problem."""

    outcome = Outcome.BAD_INPUT


class Graded(BaseModel):
    """A grade, the rows that set it, and the version of the tables that gave it."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    syndrome: Literal["CRS", "ICANS"]
    grade: int
    reasons: tuple[str, ...]
    notes: tuple[str, ...] = ()
    grading: str


def _graded(
    syndrome: Literal["CRS", "ICANS"],
    rows: Iterable[Row],
    *,
    tables: GradingTables,
    notes: Iterable[str],
    if_none: str,
) -> Graded:
    """The worst of ``rows``: its grade, and every row that reaches it as a reason."""
    counted = [r for r in rows if r.grade]
    grade = max((r.grade for r in counted), default=0)
    reasons = tuple(dict.fromkeys(r.row for r in counted if r.grade == grade)) or (if_none,)
    return Graded(
        syndrome=syndrome, grade=grade, reasons=reasons, notes=tuple(notes), grading=tables.version
    )


def _refuse(problems: list[str], what: str) -> None:
    if problems:
        raise IncoherentObservation(f"This {what} cannot be graded: " + "; ".join(problems) + ".")


def _crs_problems(obs: CrsObservation, tables: GradingTables) -> list[str]:
    bounds = tables.plausible
    problems = []
    if not bounds.min_temperature_c <= obs.temperature_c <= bounds.max_temperature_c:
        problems.append(
            f"a temperature of {obs.temperature_c} °C is outside "
            f"{bounds.min_temperature_c}-{bounds.max_temperature_c} °C"
        )
    if not 0 <= obs.vasopressors <= bounds.max_vasopressors:
        problems.append(
            f"{obs.vasopressors} vasopressors: count 0 to {bounds.max_vasopressors}, "
            "vasopressin aside"
        )
    if (obs.vasopressors or obs.vasopressin) and not obs.hypotension:
        problems.append("vasopressors are recorded without hypotension")
    flow = obs.oxygen_flow_l_min
    if flow is not None and not 0 < flow <= bounds.max_oxygen_flow_l_min:
        problems.append(
            f"an oxygen flow of {flow} L/min is outside 0-{bounds.max_oxygen_flow_l_min} L/min"
        )
    if flow is not None and obs.oxygen is OxygenDevice.NONE:
        problems.append("an oxygen flow is recorded without an oxygen device")
    needs_flow = any(r.needs_flow() for r in tables.crs.hypoxia if obs.oxygen in r.devices)
    if needs_flow and flow is None:
        problems.append(f"give the oxygen flow in L/min for {obs.oxygen.value}")
    return problems


def crs_grade(obs: CrsObservation, *, tables: GradingTables | None = None) -> Graded:
    """The ASTCT CRS grade: fever (unless no longer required), then the worse of hypotension
    and hypoxia not attributable to another cause."""
    tables = tables or astct_2019()
    _refuse(_crs_problems(obs, tables), "CRS observation")
    crs = tables.crs
    notes = []
    fever = obs.temperature_c >= crs.fever.min_temperature_c
    if fever and CrsSign.FEVER in obs.other_cause:
        fever = False
        notes.append("fever attributed to another cause: not counted")
    waived_by = sorted(t.value for t in obs.treated_with if t in crs.fever.not_required_after)
    if not fever and not waived_by:
        needed = " or ".join(crs.fever.not_required_after)
        return _graded(
            "CRS",
            [],
            tables=tables,
            notes=notes,
            if_none=f"no fever >= {crs.fever.min_temperature_c:.1f} °C and no {needed} given: no CRS",
        )
    if not fever:
        notes.append(f"fever not required after {', '.join(waived_by)}")
    rows: list[Row] = [crs.fever] if fever else []
    if obs.hypotension and CrsSign.HYPOTENSION in obs.other_cause:
        notes.append("hypotension attributed to another cause: not counted")
    elif obs.hypotension:
        # Vasopressin counts as a vasopressor, never towards "multiple".
        count = obs.vasopressors or (1 if obs.vasopressin else 0)
        rows += [r for r in crs.hypotension.rows if r.covers(count)]
    oxygen = [r for r in crs.hypoxia if r.covers(obs.oxygen, obs.oxygen_flow_l_min)]
    if CrsSign.HYPOXIA in obs.other_cause and any(r.grade for r in oxygen):
        notes.append("hypoxia attributed to another cause: not counted")
    else:
        rows += oxygen
    return _graded(
        "CRS", rows, tables=tables, notes=notes, if_none="no hypotension or hypoxia counted: no CRS"
    )


def _icans_problems(obs: IcansObservation, tables: GradingTables) -> list[str]:
    top = tables.icans.top_ice_score
    problems = []
    if not 0 <= obs.ice_score <= top:
        problems.append(f"an ICE score is 0 to {top}, not {obs.ice_score}")
    if obs.consciousness is Consciousness.UNAROUSABLE and obs.ice_score > 0:
        problems.append(
            f"an unarousable patient cannot perform the ICE assessment (ICE {obs.ice_score}): "
            "record ICE 0"
        )
    return problems


def _rows_for(rows: list[FindingRow], findings: Iterable[object]) -> list[Row]:
    seen = set(findings)
    return [r for r in rows if seen.intersection(r.findings)]


def icans_grade(obs: IcansObservation, *, tables: GradingTables | None = None) -> Graded:
    """The ASTCT ICANS grade: the most severe event not attributable to another cause."""
    tables = tables or astct_2019()
    _refuse(_icans_problems(obs, tables), "ICANS observation")
    icans = tables.icans
    elsewhere = obs.other_cause
    rows: list[Row] = []
    notes = [
        f"{d.value.replace('_', ' ')}: attributed to another cause, not counted"
        for d in sorted(elsewhere)
    ]
    unarousable = obs.consciousness is Consciousness.UNAROUSABLE
    # An ICE of 0 from a patient unarousable for another cause (sedation) says nothing of ICANS:
    # the ICE is not assessable, and the grade must say so rather than read as "no ICANS".
    sedated = unarousable and IcansDomain.CONSCIOUSNESS in elsewhere
    if sedated:
        notes.append("ICE not assessable: unarousable for another cause; reassess when rousable")
    if IcansDomain.ICE_SCORE not in elsewhere and not sedated:
        if obs.ice_score == 0 and unarousable:
            rows.append(icans.ice_zero_unarousable)
        else:
            rows += [r for r in icans.ice_score if r.min_score <= obs.ice_score <= r.max_score]
    if IcansDomain.CONSCIOUSNESS not in elsewhere:
        rows += _rows_for(icans.consciousness, [obs.consciousness])
    if IcansDomain.SEIZURES not in elsewhere:
        rows += _rows_for(icans.seizures, obs.seizures)
    if IcansDomain.MOTOR_FINDINGS not in elsewhere:
        rows += _rows_for(icans.motor_findings, obs.motor_findings)
    if IcansDomain.RAISED_ICP not in elsewhere:
        rows += _rows_for(icans.raised_icp, obs.raised_icp)
    return _graded("ICANS", rows, tables=tables, notes=notes, if_none="no ICANS finding counted")
