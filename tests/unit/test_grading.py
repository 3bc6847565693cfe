"""CRS and ICANS grades follow every cell of the ASTCT tables; what cannot be graded is refused.

Expected grades are written here from the ASTCT consensus (Lee et al. 2019), not read from the
data file, so a wrong row in protocols/grading/astct-2019.yaml fails these tests.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from models.grading import Graded, IncoherentObservation, crs_grade, icans_grade
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
from models.grading_tables import (
    DEFAULT_GRADING,
    GradingFileError,
    GradingTables,
    Row,
    astct_2019,
    load_grading,
)
from models.refusals import Outcome
from models.sources import SourceKind

FEVER = 38.5
O2 = OxygenDevice

# (observation, grade): one case per cell of the CRS table, with fever.
CRS_CELLS: list[tuple[CrsObservation, int]] = [
    (CrsObservation(temperature_c=FEVER), 1),
    (CrsObservation(temperature_c=FEVER, hypotension=True), 2),
    (CrsObservation(temperature_c=FEVER, hypotension=True, vasopressors=1), 3),
    (CrsObservation(temperature_c=FEVER, hypotension=True, vasopressin=True), 3),
    (CrsObservation(temperature_c=FEVER, hypotension=True, vasopressors=1, vasopressin=True), 3),
    (CrsObservation(temperature_c=FEVER, hypotension=True, vasopressors=2), 4),
    (CrsObservation(temperature_c=FEVER, hypotension=True, vasopressors=3, vasopressin=True), 4),
    (CrsObservation(temperature_c=FEVER, oxygen=O2.NASAL_CANNULA, oxygen_flow_l_min=2), 2),
    (CrsObservation(temperature_c=FEVER, oxygen=O2.NASAL_CANNULA, oxygen_flow_l_min=6), 2),
    (CrsObservation(temperature_c=FEVER, oxygen=O2.BLOW_BY), 2),
    (CrsObservation(temperature_c=FEVER, oxygen=O2.NASAL_CANNULA, oxygen_flow_l_min=6.5), 3),
    (CrsObservation(temperature_c=FEVER, oxygen=O2.NASAL_CANNULA, oxygen_flow_l_min=40), 3),
    (CrsObservation(temperature_c=FEVER, oxygen=O2.FACE_MASK), 3),
    (CrsObservation(temperature_c=FEVER, oxygen=O2.NON_REBREATHER_MASK), 3),
    (CrsObservation(temperature_c=FEVER, oxygen=O2.VENTURI_MASK), 3),
    (CrsObservation(temperature_c=FEVER, oxygen=O2.CPAP), 4),
    (CrsObservation(temperature_c=FEVER, oxygen=O2.BIPAP), 4),
    (CrsObservation(temperature_c=FEVER, oxygen=O2.MECHANICAL_VENTILATION), 4),
]


def awake(ice_score: int, **findings: Any) -> IcansObservation:
    return IcansObservation(ice_score=ice_score, **findings)


# (observation, grade): one case per cell of the ICANS table.
ICANS_CELLS: list[tuple[IcansObservation, int]] = [
    *[(awake(s), 1) for s in (7, 8, 9)],
    *[(awake(s), 2) for s in (3, 4, 5, 6)],
    *[(awake(s), 3) for s in (0, 1, 2)],
    (IcansObservation(ice_score=0, consciousness=Consciousness.UNAROUSABLE), 4),
    (awake(10, consciousness=Consciousness.AWAKENS_SPONTANEOUSLY), 1),
    (awake(10, consciousness=Consciousness.AWAKENS_TO_VOICE), 2),
    (awake(10, consciousness=Consciousness.AWAKENS_ONLY_TO_TOUCH), 3),
    (awake(10, seizures=frozenset({Seizure.CLINICAL_RESOLVED_RAPIDLY})), 3),
    (awake(10, seizures=frozenset({Seizure.NONCONVULSIVE_ON_EEG_RESOLVED})), 3),
    (awake(10, seizures=frozenset({Seizure.PROLONGED_OVER_5_MIN})), 4),
    (awake(10, seizures=frozenset({Seizure.REPETITIVE_WITHOUT_RETURN_TO_BASELINE})), 4),
    (awake(10, motor_findings=frozenset({MotorFinding.HEMIPARESIS})), 4),
    (awake(10, motor_findings=frozenset({MotorFinding.PARAPARESIS})), 4),
    (awake(10, raised_icp=frozenset({IcpSign.FOCAL_OEDEMA_ON_IMAGING})), 3),
    (awake(10, raised_icp=frozenset({IcpSign.DIFFUSE_OEDEMA_ON_IMAGING})), 4),
    (awake(10, raised_icp=frozenset({IcpSign.DECEREBRATE_OR_DECORTICATE_POSTURING})), 4),
    (awake(10, raised_icp=frozenset({IcpSign.CRANIAL_NERVE_VI_PALSY})), 4),
    (awake(10, raised_icp=frozenset({IcpSign.PAPILLOEDEMA})), 4),
    (awake(10, raised_icp=frozenset({IcpSign.CUSHINGS_TRIAD})), 4),
]


class TestCrsTable:
    """Each cell of the CRS table gives its grade, and the reason names that cell."""

    @pytest.mark.parametrize(("obs", "grade"), CRS_CELLS)
    def test_each_cell_gives_its_grade(self, obs: CrsObservation, grade: int) -> None:
        graded = crs_grade(obs)
        assert (graded.syndrome, graded.grade) == ("CRS", grade)
        assert graded.grading == astct_2019().version

    def test_every_row_of_the_data_is_some_cell(self) -> None:
        reasons = {r for obs, _ in CRS_CELLS for r in crs_grade(obs).reasons}
        crs = astct_2019().crs
        rows = [crs.fever, *crs.hypotension.rows, *crs.hypoxia]
        assert {r.row for r in rows if r.grade} <= reasons

    def test_fever_threshold_is_38_0(self) -> None:
        assert crs_grade(CrsObservation(temperature_c=37.9)).grade == 0
        assert crs_grade(CrsObservation(temperature_c=38.0)).grade == 1

    @pytest.mark.parametrize(
        "obs",
        [
            CrsObservation(temperature_c=37.2, hypotension=True, vasopressors=2),
            CrsObservation(temperature_c=37.2, oxygen=O2.MECHANICAL_VENTILATION),
            CrsObservation(
                temperature_c=37.2,
                oxygen=O2.CPAP,
                treated_with=frozenset({CrsTreatment.ANTIPYRETIC}),
            ),
        ],
    )
    def test_no_fever_and_no_tocilizumab_or_steroids_is_no_crs(self, obs: CrsObservation) -> None:
        graded = crs_grade(obs)
        assert graded.grade == 0
        assert "no CRS" in graded.reasons[0]

    @pytest.mark.parametrize("treatment", [CrsTreatment.TOCILIZUMAB, CrsTreatment.CORTICOSTEROIDS])
    def test_fever_not_required_after_tocilizumab_or_steroids(
        self, treatment: CrsTreatment
    ) -> None:
        graded = crs_grade(
            CrsObservation(
                temperature_c=36.8,
                hypotension=True,
                vasopressors=1,
                treated_with=frozenset({treatment}),
            )
        )
        assert graded.grade == 3
        assert graded.reasons == (
            "hypotension requiring a vasopressor, with or without vasopressin",
        )
        assert f"fever not required after {treatment.value}" in graded.notes

    def test_after_tocilizumab_without_hypotension_or_hypoxia_is_no_crs(self) -> None:
        graded = crs_grade(
            CrsObservation(temperature_c=36.8, treated_with=frozenset({CrsTreatment.TOCILIZUMAB}))
        )
        assert graded.grade == 0

    def test_the_worse_of_hypotension_and_hypoxia_sets_the_grade(self) -> None:
        graded = crs_grade(
            CrsObservation(temperature_c=FEVER, hypotension=True, oxygen=O2.FACE_MASK)
        )
        assert graded.grade == 3
        assert graded.reasons == ("hypoxia requiring facemask, non-rebreather or Venturi mask",)

    def test_both_reasons_when_both_reach_the_grade(self) -> None:
        graded = crs_grade(
            CrsObservation(temperature_c=FEVER, hypotension=True, vasopressors=2, oxygen=O2.BIPAP)
        )
        assert graded.grade == 4
        assert len(graded.reasons) == 2

    def test_signs_attributed_to_another_cause_do_not_count(self) -> None:
        infected = CrsObservation(temperature_c=39, other_cause=frozenset({CrsSign.FEVER}))
        assert crs_grade(infected).grade == 0
        pneumonia = CrsObservation(
            temperature_c=FEVER, oxygen=O2.FACE_MASK, other_cause=frozenset({CrsSign.HYPOXIA})
        )
        graded = crs_grade(pneumonia)
        assert graded.grade == 1
        assert "hypoxia attributed to another cause: not counted" in graded.notes


class TestIcansTable:
    """Each cell of the ICANS table gives its grade; the most severe event counts."""

    @pytest.mark.parametrize(("obs", "grade"), ICANS_CELLS)
    def test_each_cell_gives_its_grade(self, obs: IcansObservation, grade: int) -> None:
        graded = icans_grade(obs)
        assert (graded.syndrome, graded.grade) == ("ICANS", grade)

    def test_every_row_of_the_data_is_some_cell(self) -> None:
        reasons = {r for obs, _ in ICANS_CELLS for r in icans_grade(obs).reasons}
        icans = astct_2019().icans
        rows: list[Row] = [
            icans.ice_zero_unarousable,
            *icans.ice_score,
            *icans.consciousness,
            *icans.seizures,
            *icans.motor_findings,
            *icans.raised_icp,
        ]
        assert {r.row for r in rows if r.grade} <= reasons

    def test_ice_0_of_an_unarousable_patient_is_grade_4_but_awake_is_grade_3(self) -> None:
        unarousable = icans_grade(
            IcansObservation(ice_score=0, consciousness=Consciousness.UNAROUSABLE)
        )
        assert unarousable.grade == 4
        assert "ICE 0: unarousable and unable to perform ICE" in unarousable.reasons
        # Awake with global aphasia: ICE 0, grade 3.
        assert icans_grade(awake(0)).grade == 3

    def test_normal_assessment_is_grade_0(self) -> None:
        graded = icans_grade(awake(10))
        assert graded.grade == 0
        assert graded.reasons == ("no ICANS finding counted",)

    @pytest.mark.parametrize("finding", [MotorFinding.TREMOR, MotorFinding.MYOCLONUS])
    def test_tremor_and_myoclonus_do_not_raise_icans(self, finding: MotorFinding) -> None:
        assert icans_grade(awake(10, motor_findings=frozenset({finding}))).grade == 0

    def test_the_most_severe_event_sets_the_grade(self) -> None:
        # The paper's example: ICE 3 with a generalised seizure is grade 3.
        graded = icans_grade(awake(3, seizures=frozenset({Seizure.CLINICAL_RESOLVED_RAPIDLY})))
        assert graded.grade == 3
        assert graded.reasons == (
            "any clinical seizure, focal or generalised, that resolves rapidly",
        )

    def test_findings_attributed_to_another_cause_do_not_count(self) -> None:
        sedated = IcansObservation(
            ice_score=0,
            consciousness=Consciousness.UNAROUSABLE,
            other_cause=frozenset({IcansDomain.CONSCIOUSNESS}),
        )
        graded = icans_grade(sedated)
        assert graded.grade == 0
        assert "consciousness: attributed to another cause, not counted" in graded.notes
        assert any(note.startswith("ICE not assessable") for note in graded.notes)
        stroke = awake(
            10,
            motor_findings=frozenset({MotorFinding.HEMIPARESIS}),
            other_cause=frozenset({"motor_findings"}),
        )
        assert icans_grade(stroke).grade == 0


class TestIncoherentObservations:
    """What cannot be graded is refused with a Refusal naming the problem; nothing is guessed."""

    @pytest.mark.parametrize("score", [-1, 11, 100])
    def test_ice_outside_0_to_10(self, score: int) -> None:
        with pytest.raises(
            IncoherentObservation, match=f"ICE score is 0 to 10, not {score}"
        ) as err:
            icans_grade(awake(score))
        assert err.value.outcome is Outcome.BAD_INPUT
        assert err.value.rule == "IncoherentObservation"

    def test_unarousable_patient_with_an_ice_score(self) -> None:
        with pytest.raises(IncoherentObservation, match="record ICE 0"):
            icans_grade(IcansObservation(ice_score=6, consciousness=Consciousness.UNAROUSABLE))

    @pytest.mark.parametrize(
        ("obs", "problem"),
        [
            (CrsObservation(temperature_c=FEVER, vasopressors=1), "without hypotension"),
            (CrsObservation(temperature_c=FEVER, vasopressin=True), "without hypotension"),
            (CrsObservation(temperature_c=50), "outside 30.0-45.0 °C"),
            (
                CrsObservation(temperature_c=FEVER, hypotension=True, vasopressors=-1),
                "vasopressors",
            ),
            (CrsObservation(temperature_c=FEVER, oxygen=O2.NASAL_CANNULA), "give the oxygen flow"),
            (CrsObservation(temperature_c=FEVER, oxygen_flow_l_min=4), "without an oxygen device"),
            (
                CrsObservation(temperature_c=FEVER, oxygen=O2.FACE_MASK, oxygen_flow_l_min=0),
                "oxygen flow of 0",
            ),
        ],
    )
    def test_crs(self, obs: CrsObservation, problem: str) -> None:
        with pytest.raises(IncoherentObservation, match=problem):
            crs_grade(obs)

    def test_every_problem_is_named_at_once(self) -> None:
        with pytest.raises(IncoherentObservation) as err:
            crs_grade(CrsObservation(temperature_c=60, vasopressors=1))
        assert "°C" in err.value.message and "without hypotension" in err.value.message


# ---- the data file -------------------------------------------------------------------------


def shipped() -> dict[str, Any]:
    return yaml.safe_load(DEFAULT_GRADING.read_text(encoding="utf-8"))


def write(tmp_path: Path, data: dict[str, Any]) -> Path:
    path = tmp_path / "grading.yaml"
    path.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    return path


class TestGradingFile:
    """The shipped tables load with their version and source; a table with a gap does not."""

    def test_shipped_tables_have_a_version_and_a_source(self) -> None:
        tables = load_grading()
        assert tables.version == "astct-2019.1"
        assert tables.source.kind in set(SourceKind)
        assert "Lee" in tables.source.cite and "2019" in tables.source.cite

    def test_another_version_grades_with_its_own_rows(self, tmp_path: Path) -> None:
        data = shipped()
        data["version"] = "local-2027"
        data["crs"]["fever"]["not_required_after"] = [
            "tocilizumab",
            "corticosteroids",
            "antipyretic",
        ]
        tables = load_grading(write(tmp_path, data))
        obs = CrsObservation(
            temperature_c=37, oxygen=O2.CPAP, treated_with=frozenset({CrsTreatment.ANTIPYRETIC})
        )
        assert crs_grade(obs).grade == 0
        assert (
            crs_grade(obs, tables=tables).model_dump()
            == Graded(
                syndrome="CRS",
                grade=4,
                reasons=(
                    "hypoxia requiring positive pressure (CPAP, BiPAP, intubation and mechanical ventilation)",
                ),
                notes=("fever not required after antipyretic",),
                grading="local-2027",
            ).model_dump()
        )

    @pytest.mark.parametrize(
        ("change", "message"),
        [
            (lambda d: d["icans"]["consciousness"].pop(), "on none: unarousable"),
            (
                lambda d: d["icans"]["seizures"][0]["findings"].append("prolonged_over_5_min"),
                "on several rows",
            ),
            (lambda d: d["icans"]["ice_score"].pop(), "ice_score"),
            (lambda d: d["crs"]["hypoxia"].pop(1), "nasal_cannula"),
            (lambda d: d["crs"]["hypoxia"].pop(), "no row for oxygen device cpap"),
            (lambda d: d["crs"]["hypotension"]["rows"].pop(1), "1 vasopressor"),
            (lambda d: d.pop("source"), "source"),
        ],
    )
    def test_a_gap_or_overlap_is_refused(self, tmp_path: Path, change: Any, message: str) -> None:
        data = shipped()
        change(data)
        with pytest.raises(GradingFileError, match=message):
            load_grading(write(tmp_path, data))

    def test_unreadable_file(self, tmp_path: Path) -> None:
        with pytest.raises(GradingFileError, match="cannot read"):
            load_grading(tmp_path / "missing.yaml")


def test_tables_are_read_once() -> None:
    assert isinstance(astct_2019(), GradingTables)
    assert astct_2019() is astct_2019()
