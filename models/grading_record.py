"""The record of post-infusion observations: each with the grades computed for it, and per
syndrome the highest grade, its onset and its resolution (what registries ask at day 100).

Usage::

    record.grading.add(ObservationRecord(seq=1, at=now, crs=graded_crs, icans=None))
    record.grading.crs.highest, record.grading.crs.onset_at, record.grading.crs.resolved_at

An episode starts with the first observation graded 1 or more (onset) and resolves with the
first one graded 0 after it; a later grade 1 or more reopens it (``resolved_at`` cleared), the
onset staying the first.
"""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel

from models.grading import Graded


class SyndromeCourse(BaseModel):
    highest: int = 0
    highest_at: datetime | None = None
    onset_at: datetime | None = None
    resolved_at: datetime | None = None
    # when the current episode started (onset, or the last recurrence)
    episode_at: datetime | None = None

    @property
    def active(self) -> bool:
        return self.onset_at is not None and self.resolved_at is None

    def follow(self, grade: int, at: datetime) -> None:
        if grade > self.highest:
            self.highest, self.highest_at = grade, at
        if grade >= 1:
            if self.onset_at is None:
                self.onset_at = at
            if self.episode_at is None or self.resolved_at is not None:
                self.episode_at = at
            self.resolved_at = None
        elif self.active:
            self.resolved_at = at


class ObservationRecord(BaseModel):
    seq: int
    at: datetime
    by: str
    crs: Graded | None = None
    icans: Graded | None = None


class GradingRecord(BaseModel):
    observations: list[ObservationRecord] = []
    crs: SyndromeCourse = SyndromeCourse()
    icans: SyndromeCourse = SyndromeCourse()

    def course(self, syndrome: str) -> SyndromeCourse:
        return self.crs if syndrome == "CRS" else self.icans

    def add(self, observation: ObservationRecord) -> None:
        self.observations.append(observation)
        for graded in (observation.crs, observation.icans):
            if graded is not None:
                self.course(graded.syndrome).follow(graded.grade, observation.at)


def course_text(syndrome: str, course: SyndromeCourse) -> str | None:
    """``CRS: highest grade 2 (2026-12-01 10:00), onset 2026-12-01 08:00, resolved …``."""
    if course.onset_at is None:
        return None
    text = f"{syndrome}: highest grade {course.highest}"
    if course.highest_at is not None:
        text += f" ({course.highest_at:%Y-%m-%d %H:%M})"
    text += f", onset {course.onset_at:%Y-%m-%d %H:%M}"
    if course.resolved_at is not None:
        text += f", resolved {course.resolved_at:%Y-%m-%d %H:%M}"
    else:
        text += ", ongoing"
    return text + " UTC"
