"""Adverse events under the explicit safety rules (models/safety_rules.py).

Recording one needs its facts: hospitalisation (yes or no), outcome and the date the site
became aware. Seriousness follows from them and the grade (EU CTR 536/2014 art. 2,
``models.safety_reporting.implied_seriousness``): the person recording may raise it, never
lower it. The reporting clock starts at the awareness date (states/deadlines.py).

Pathways under the legacy rules record what was ticked (``serious`` false unless said).
"""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, NoReturn

from models import actions as a
from models.record import PathwayRecord
from models.safety_reporting import implied_seriousness
from models.safety_rules import EXPLICIT
from states import errors as e
from states import safety_refusals as s


def _listed(items: list[str]) -> str:
    return items[0] if len(items) == 1 else ", ".join(items[:-1]) + " and " + items[-1]


class AdverseEvents:
    """Guard and seriousness of adverse events (mixed into ``PathwayChart``)."""

    record: PathwayRecord

    if TYPE_CHECKING:

        def refuse(self, cls: type[e.PathwayError], message: str) -> NoReturn: ...

        def _not_in_future(self, when: datetime, what: str, now: datetime) -> None: ...

        def _not_before_birth(self, when: datetime, what: str) -> None: ...

    def seriousness(self, action: a.AdverseEvent) -> tuple[bool, bool]:
        """(serious, life-threatening or fatal) as recorded: the facts' minimum, or more."""
        said = (bool(action.serious), bool(action.life_threatening_or_fatal))
        if self.record.safety_rules < EXPLICIT:
            return said
        implied = implied_seriousness(
            grade=action.grade, hospitalised=action.hospitalised, outcome=action.outcome
        )
        return said[0] or implied.serious, said[1] or implied.life_threatening_or_fatal

    def guard_adverse_event_facts(self, action: a.AdverseEvent, now: datetime) -> None:
        if self.record.safety_rules < EXPLICIT:
            return
        missing = [
            words
            for words, value in (
                ("hospitalisation, yes or no (hospitalised)", action.hospitalised),
                ("the outcome (outcome)", action.outcome),
                ("when the site became aware (aware_at)", action.aware_at),
            )
            if value is None
        ]
        if missing:
            self.refuse(
                s.AnswerMissing,
                f"The adverse event needs {_listed(missing)}: seriousness and the reporting "
                "clock follow from them.",
            )
        assert action.aware_at is not None
        self._not_in_future(action.aware_at, "awareness", now)
        self._not_before_birth(action.aware_at, "awareness")
        implied = implied_seriousness(
            grade=action.grade, hospitalised=action.hospitalised, outcome=action.outcome
        )
        lowered = [
            words
            for words, said, floor in (
                ("not serious", action.serious, implied.serious),
                (
                    "not life-threatening or fatal",
                    action.life_threatening_or_fatal,
                    implied.life_threatening_or_fatal,
                ),
            )
            if said is False and floor
        ]
        if lowered:
            self.refuse(
                s.SeriousnessLowered,
                f"This adverse event cannot be recorded as {_listed(lowered)}: "
                f"{_listed(implied.why)} (EU CTR 536/2014 art. 2). Seriousness may be raised, "
                "never lowered.",
            )
