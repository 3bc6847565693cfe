"""Post-infusion observations: each graded for CRS and ICANS by the protocol's grading tables,
and recorded with its grades (never typed in).

``ObservationRules`` is mixed into ``PathwayChart``: ``guard_observation_gradable`` is the
validator of ``record_observation`` (an observation with no findings, a protocol without
grading tables, or findings the grader finds incoherent are refused, the grader's words
kept), and ``on_record_observation`` records the observation with both grades and follows
each syndrome's course (``models/grading_record.py``).

Pure: no temporalio, no I/O (the tables travel with the protocol).
"""

from __future__ import annotations

from datetime import datetime

from models import actions as a
from models.grading import Graded, IncoherentObservation, crs_grade, icans_grade
from models.grading_record import ObservationRecord
from models.protocol import Protocol
from models.record import PathwayRecord
from states import errors as e


class ObservationRules:
    """The observation guard and fact every chart that watches for CRS/ICANS shares."""

    record: PathwayRecord
    protocol: Protocol

    def graded(self, action: a.Observation) -> tuple[Graded | None, Graded | None]:
        """The CRS and ICANS grades of ``action`` (raises ``IncoherentObservation``)."""
        grading = self.protocol.grading
        if grading is None:
            raise e.ActionNotAllowedNow(
                "This pathway's protocol has no grading tables: observations cannot be graded "
                "here. Record the adverse event with its grade (record_adverse_event)."
            )
        crs = crs_grade(action.crs, tables=grading.tables) if action.crs else None
        icans = icans_grade(action.icans, tables=grading.tables) if action.icans else None
        return crs, icans

    def guard_observation_gradable(self, action: a.Observation, now: datetime) -> None:
        if action.crs is None and action.icans is None:
            raise e.MalformedAction(
                "An observation needs CRS findings (temperature, blood pressure and oxygen "
                "support), ICANS findings (ICE score, consciousness…) or both."
            )
        try:
            self.graded(action)
        except IncoherentObservation as err:
            raise e.MalformedAction(err.message) from None

    def on_record_observation(self, action: a.Observation, now: datetime) -> None:
        crs, icans = self.graded(action)
        grading = self.record.grading
        grading.add(
            ObservationRecord(
                seq=len(grading.observations) + 1, at=now, by=action.actor, crs=crs, icans=icans
            )
        )
