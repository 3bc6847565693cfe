"""Worsening any input never lowers a CRS or ICANS grade; every grade has a reason and a version.

Hypothesis draws an observation and a worse one (every input the same or worse, in clinical
order written here, not read from the tables) and checks the grades; a ladder per input (the
others normal) checks each input alone, where a swapped row in the data shows at once.
"""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from models.grading import IncoherentObservation, crs_grade, icans_grade
from models.grading_observations import (
    Consciousness,
    CrsObservation,
    CrsSign,
    CrsTreatment,
    IcansDomain,
    IcansObservation,
    IcpSign,
    MotorFinding,
    OxygenDevice,
    Seizure,
)
from models.grading_tables import astct_2019

O2 = OxygenDevice


# Oxygen support in order of escalation (clinical order, not read from the tables).
OXYGEN_LADDER: list[tuple[OxygenDevice, float | None]] = [
    (O2.NONE, None),
    (O2.BLOW_BY, None),
    (O2.NASAL_CANNULA, 1),
    (O2.NASAL_CANNULA, 6),
    (O2.NASAL_CANNULA, 6.5),
    (O2.NASAL_CANNULA, 60),
    (O2.FACE_MASK, None),
    (O2.VENTURI_MASK, None),
    (O2.NON_REBREATHER_MASK, None),
    (O2.CPAP, None),
    (O2.BIPAP, None),
    (O2.MECHANICAL_VENTILATION, None),
]
CONSCIOUSNESS = list(Consciousness)  # declared from alert to unarousable


def fewer(draw: st.DrawFn, items: frozenset[Any]) -> frozenset[Any]:
    """Some of ``items``: fewer signs attributed to another cause is a worsening."""
    return frozenset(draw(st.sets(st.sampled_from(sorted(items))))) if items else frozenset()


def more(draw: st.DrawFn, items: frozenset[Any], vocabulary: Any) -> frozenset[Any]:
    return items | frozenset(draw(st.sets(st.sampled_from(vocabulary), max_size=2)))


@st.composite
def crs_pair(draw: st.DrawFn) -> tuple[CrsObservation, CrsObservation]:
    """An observation and a worse one: each input kept, or made worse (a coin per input)."""

    def observation(f: dict[str, Any]) -> dict[str, Any]:
        # Keeping most inputs as they were lets one worsening show on its own.
        worsen = {k: draw(st.booleans()) for k in f}
        hyp = f["hyp"] or (worsen["hyp"] and draw(st.booleans()))
        return {
            "t": draw(st.floats(f["t"], 41.0)) if worsen["t"] else f["t"],
            "hyp": hyp,
            "v": draw(st.integers(f["v"], 4)) if hyp and worsen["v"] else f["v"],
            "vp": f["vp"] or (hyp and worsen["vp"] and draw(st.booleans())),
            "o2": draw(st.integers(f["o2"], len(OXYGEN_LADDER) - 1)) if worsen["o2"] else f["o2"],
            "tx": more(draw, f["tx"], CrsTreatment) if worsen["tx"] else f["tx"],
            "oc": fewer(draw, f["oc"]) if worsen["oc"] else f["oc"],
        }

    def model(v: dict[str, Any]) -> CrsObservation:
        device, flow = OXYGEN_LADDER[v["o2"]]
        return CrsObservation(
            temperature_c=v["t"], hypotension=v["hyp"], vasopressors=v["v"],
            vasopressin=v["vp"], oxygen=device, oxygen_flow_l_min=flow,
            treated_with=v["tx"], other_cause=v["oc"],
        )  # fmt: skip

    start = {"t": 36.0, "hyp": False, "v": 0, "vp": False, "o2": 0, "tx": frozenset()}
    first = observation({**start, "oc": frozenset(CrsSign)})
    return model(first), model(observation(first))


@st.composite
def icans_pair(draw: st.DrawFn) -> tuple[IcansObservation, IcansObservation]:
    """An assessment and a worse one: each input kept, or made worse (a coin per input)."""

    def observation(f: IcansObservation) -> IcansObservation:
        worsen = {k: draw(st.booleans()) for k in IcansObservation.model_fields}
        level = CONSCIOUSNESS.index(f.consciousness)
        if worsen["consciousness"]:
            level = draw(st.integers(level, len(CONSCIOUSNESS) - 1))
        consciousness = CONSCIOUSNESS[level]
        ice = draw(st.integers(0, f.ice_score)) if worsen["ice_score"] else f.ice_score
        return IcansObservation(
            # An unarousable patient cannot perform ICE: 0, itself a worsening.
            ice_score=0 if consciousness is Consciousness.UNAROUSABLE else ice,
            consciousness=consciousness,
            seizures=more(draw, f.seizures, Seizure) if worsen["seizures"] else f.seizures,
            motor_findings=more(draw, f.motor_findings, MotorFinding)
            if worsen["motor_findings"]
            else f.motor_findings,
            raised_icp=more(draw, f.raised_icp, IcpSign) if worsen["raised_icp"] else f.raised_icp,
            other_cause=fewer(draw, f.other_cause) if worsen["other_cause"] else f.other_cause,
        )

    first = observation(IcansObservation(ice_score=10, other_cause=frozenset(IcansDomain)))
    return first, observation(first)


class TestProperties:
    """Worsening any input never lowers a grade; every grade is 0-4 with a reason and a version."""

    @given(crs_pair())
    def test_crs_never_drops_as_the_patient_worsens(
        self, pair: tuple[CrsObservation, CrsObservation]
    ) -> None:
        better, worse = pair
        assert crs_grade(worse).grade >= crs_grade(better).grade

    @given(icans_pair())
    def test_icans_never_drops_as_the_patient_worsens(
        self, pair: tuple[IcansObservation, IcansObservation]
    ) -> None:
        better, worse = pair
        # The one exception, by design: a patient who becomes unarousable for another cause
        # (sedation) loses the ICE reading itself; the grade drops and says "ICE not assessable"
        # (tests/unit/test_grading.py, findings attributed to another cause).
        sedated = IcansDomain.CONSCIOUSNESS in worse.other_cause
        assume(not (sedated and worse.consciousness is Consciousness.UNAROUSABLE))
        assert icans_grade(worse).grade >= icans_grade(better).grade

    @given(st.one_of(crs_pair(), icans_pair()))
    def test_every_grade_has_reasons_and_the_tables_version(self, pair: tuple[Any, Any]) -> None:
        for obs in pair:
            graded = crs_grade(obs) if isinstance(obs, CrsObservation) else icans_grade(obs)
            assert 0 <= graded.grade <= 4
            assert graded.reasons
            assert graded.grading == astct_2019().version

    @given(st.integers().filter(lambda s: not 0 <= s <= 10))
    def test_any_ice_outside_0_to_10_is_refused(self, score: int) -> None:
        with pytest.raises(IncoherentObservation):
            icans_grade(IcansObservation(ice_score=score))


def grades(observations: list[Any]) -> list[int]:
    return [
        (crs_grade(o) if isinstance(o, CrsObservation) else icans_grade(o)).grade
        for o in observations
    ]


def crs(**signs: Any) -> CrsObservation:
    return CrsObservation(**{"temperature_c": 38.5, **signs})


def icans(**findings: Any) -> IcansObservation:
    return IcansObservation(**{"ice_score": 10, **findings})


LADDERS: dict[str, list[Any]] = {
    "temperature": [crs(temperature_c=t) for t in (36.0, 37.9, 38.0, 40.5)],
    "blood pressure support": [
        crs(),
        crs(hypotension=True),
        crs(hypotension=True, vasopressin=True),
        crs(hypotension=True, vasopressors=1),
        crs(hypotension=True, vasopressors=1, vasopressin=True),
        crs(hypotension=True, vasopressors=2),
        crs(hypotension=True, vasopressors=3, vasopressin=True),
    ],
    "oxygen support": [crs(oxygen=d, oxygen_flow_l_min=f) for d, f in OXYGEN_LADDER],
    "oxygen support after tocilizumab, afebrile": [
        crs(temperature_c=37, oxygen=d, oxygen_flow_l_min=f, treated_with={"tocilizumab"})
        for d, f in OXYGEN_LADDER
    ],
    "ICE score": [icans(ice_score=s) for s in range(10, -1, -1)]
    + [icans(ice_score=0, consciousness=Consciousness.UNAROUSABLE)],
    "consciousness": [icans(consciousness=c) for c in CONSCIOUSNESS[:-1]]
    + [icans(ice_score=0, consciousness=Consciousness.UNAROUSABLE)],
    "seizures": [icans(seizures=s) for s in ([], list(Seizure)[:2], list(Seizure))],
    "motor findings": [
        icans(motor_findings=m) for m in ([], ["tremor", "myoclonus"], list(MotorFinding))
    ],
    "raised ICP": [icans(raised_icp=s) for s in ([], list(IcpSign)[:1], list(IcpSign))],
}


@pytest.mark.parametrize("ladder", LADDERS, ids=list(LADDERS))
def test_each_input_alone_never_lowers_the_grade_as_it_worsens(ladder: str) -> None:
    """One input at a time, others normal: the grade rises or stays, and the ladder does rise."""
    seen = grades(LADDERS[ladder])
    assert seen == sorted(seen), f"{ladder}: {seen}"
    assert seen[-1] > seen[0]
