"""Post-infusion observations as staff actions (states/observations.py) and grade-driven
escalation (states/grade_escalation.py): the grade is computed from the protocol's grading
tables and recorded with the observation; the highest grade, onset and resolution are kept;
a grade >= 2 informs the binôme and ICU at once, a grade >= 3 expects an ICU transfer and
escalates when it does not happen."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from models.record import DeadlineStatus
from models.roles import Role, roles_allowed
from states import errors as e
from states.deadlines import escalate_due, reconcile
from states.grade_escalation import follow_grades, notified
from tests.support.chart_factory import CART, MSC_SSC, Pathway

FEVER = {"temperature_c": 38.6}
GRADE_2_CRS = {"crs": {**FEVER, "hypotension": True}}  # hypotension without vasopressor
GRADE_3_CRS = {"crs": {**FEVER, "oxygen": "face_mask"}}
NO_CRS = {"crs": {"temperature_c": 37.0}}


def observe(pw: Pathway, findings: dict[str, Any], hours: float = 24) -> list[Any]:
    """Advance, record an observation, and return what it sets off (as the workflow does)."""
    pw.advance(hours=hours)
    pw.send("record_observation", **findings)
    observation = pw.record.grading.observations[-1]
    return follow_grades(pw.record, pw.protocol, observation, pw.now)


@pytest.fixture
def pw() -> Pathway:
    return Pathway.at(CART, "inpatient")


class TestGradedObservation:
    """The grade is computed and recorded with the observation, never typed."""

    def test_grade_reasons_and_version_are_recorded(self, pw: Pathway) -> None:
        observe(pw, {**GRADE_2_CRS, "icans": {"ice_score": 8}})
        (obs,) = pw.record.grading.observations
        assert obs.crs is not None and obs.icans is not None
        assert (obs.crs.grade, obs.icans.grade) == (2, 1)
        assert obs.crs.grading == "astct-2019.1" and obs.crs.reasons
        assert obs.by == pw.action("record_observation", **GRADE_2_CRS).actor

    def test_a_typed_grade_is_not_a_field(self, pw: Pathway) -> None:
        with pytest.raises(ValueError, match="grade"):
            pw.action("record_observation", grade=3, **GRADE_2_CRS)

    def test_fever_not_required_after_tocilizumab(self, pw: Pathway) -> None:
        observe(
            pw,
            {
                "crs": {
                    "temperature_c": 37.1,
                    "treated_with": ["tocilizumab"],
                    "oxygen": "face_mask",
                }
            },
        )
        assert pw.record.grading.crs.highest == 3

    def test_onset_highest_and_resolution(self, pw: Pathway) -> None:
        observe(pw, {"crs": FEVER})
        onset = pw.now
        observe(pw, GRADE_3_CRS)
        highest_at = pw.now
        observe(pw, GRADE_2_CRS)
        observe(pw, NO_CRS)
        course = pw.record.grading.crs
        assert (course.highest, course.onset_at, course.highest_at) == (3, onset, highest_at)
        assert course.resolved_at == pw.now
        observe(pw, {"crs": FEVER})  # a recurrence reopens the episode, onset stays the first
        assert course.resolved_at is None and course.onset_at == onset
        assert pw.record.grading.icans.onset_at is None

    def test_incoherent_or_empty_observations_are_refused_and_change_nothing(
        self, pw: Pathway
    ) -> None:
        before = pw.record.model_dump()
        with pytest.raises(e.MalformedAction, match="an ICE score is 0 to 10, not 11"):
            pw.send("record_observation", icans={"ice_score": 11})
        with pytest.raises(e.MalformedAction, match="vasopressors are recorded without"):
            pw.send("record_observation", crs={**FEVER, "vasopressors": 1})
        with pytest.raises(e.MalformedAction, match="needs CRS findings"):
            pw.send("record_observation", crs=None)
        assert pw.record.model_dump() == before

    def test_observations_continue_in_icu(self, pw: Pathway) -> None:
        pw.send("transfer_to_icu")
        observe(pw, {"icans": {"ice_score": 0, "consciousness": "unarousable"}})
        assert pw.record.grading.icans.highest == 4 and pw.record.state == "icu"

    def test_a_protocol_without_grading_tables_refuses(self, pw: Pathway) -> None:
        pw.protocol = pw.protocol.model_copy(update={"grading": None})
        pw.rebuild()
        with pytest.raises(e.ActionNotAllowedNow, match="no grading tables"):
            pw.check("record_observation", **GRADE_2_CRS)

    def test_not_before_infusion_nor_on_the_msc_chart(self) -> None:
        with pytest.raises(e.ActionNotAllowedNow):
            Pathway.at(CART, "stored").check("record_observation", **GRADE_2_CRS)
        with pytest.raises(e.ActionNotAllowedNow):
            Pathway.at(MSC_SSC, "short_term").check("record_observation", **GRADE_2_CRS)

    def test_the_icu_physician_may_record_one(self) -> None:
        assert Role.ICU_ON_CALL in roles_allowed("record_observation")


class TestGradeEscalation:
    """Grade >= 2 informs the binôme and ICU at once; grade >= 3 expects the ICU."""

    def test_grade_2_informs_binome_and_icu_once_per_episode(self, pw: Pathway) -> None:
        assert observe(pw, {"crs": FEVER}) == []
        (alert,) = observe(pw, GRADE_2_CRS)
        assert set(alert.notify) == {
            Role.ARD_SPECIALIST,
            Role.CELL_THERAPY_SPECIALIST,
            Role.ICU_ON_CALL,
        }
        assert alert.label == "CRS grade 2: binôme and ICU informed" and alert.level == 0
        assert "Informed at once: autoimmune-disease specialist" in alert.text()
        assert "was due" not in alert.text()
        deadline = next(d for d in pw.record.deadlines if d.key == alert.deadline_key)
        assert deadline.due_at == pw.now + timedelta(hours=1) and deadline.open
        assert observe(pw, GRADE_2_CRS, hours=6) == []  # same episode: already informed
        notified(pw.record, pw.protocol, alert.deadline_key, pw.now)
        assert deadline.status is DeadlineStatus.MET

    def test_grade_3_expects_icu_transfer_and_escalates_until_then(self, pw: Pathway) -> None:
        alerts = observe(pw, GRADE_3_CRS)
        assert [a.label for a in alerts] == [
            "CRS grade 3: binôme and ICU informed",
            "CRS grade 3: transfer to ICU expected",
        ]
        icu = next(d for d in pw.record.deadlines if d.key == alerts[1].deadline_key)
        notified(pw.record, pw.protocol, icu.key, pw.now)
        assert icu.open  # informing is not transferring
        pw.advance(hours=3)
        escalations = [
            x for x in escalate_due(pw.record, pw.protocol, pw.now) if x.deadline_key == icu.key
        ]
        assert escalations and Role.ICU_ON_CALL in escalations[0].notify
        pw.send("transfer_to_icu")
        follow_grades(pw.record, pw.protocol, None, pw.now)
        assert icu.status is DeadlineStatus.MET

    def test_in_icu_already_no_transfer_is_expected(self, pw: Pathway) -> None:
        pw.send("transfer_to_icu")
        labels = [a.label for a in observe(pw, {"icans": {"ice_score": 2}})]
        assert labels == ["ICANS grade 3: binôme and ICU informed"]

    def test_discharge_meets_open_grade_deadlines(self, pw: Pathway) -> None:
        observe(pw, GRADE_2_CRS)
        before = list(pw.record.configuration)
        pw.advance(days=11)  # past the protocol's monitoring before discharge
        pw.send("discharge")
        reconcile(pw.record, pw.protocol, before, pw.now)
        assert not [d for d in pw.record.open_deadlines() if d.key.startswith("grade:")]
