"""Clinical-trial safety reporting (EU CTR 536/2014) as protocol data: the reporting
deadlines, who reports to whom, and the seriousness an adverse event's facts imply.

Usage::

    rules = protocol.safety_reporting
    rules.sponsor              # 24 h: serious adverse event, site to sponsor
    rules.routes["susar"]      # "sponsor to the competent authorities ... and ethics committee"
    implied_seriousness(grade=4, hospitalised=False, outcome="recovering")
    # -> Seriousness(serious=True, life_threatening_or_fatal=True, why=["grade 4 ..."])

Seriousness (CTR art. 2(30)): death, life-threatening, hospitalisation or its prolongation,
persistent disability, congenital anomaly. Grade 5 is death; grade 4 (CTCAE, ASTCT) is
life-threatening. The person recording may raise seriousness, never lower it below this.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Literal, NamedTuple

from models.durations import Duration
from models.sources import Sourced, source

AdverseOutcome = Literal[
    "recovered", "recovering", "not_recovered", "recovered_with_sequelae", "fatal", "unknown"
]
Report = Literal["sponsor", "susar"]

_ROUTES = "regulation: EU CTR 536/2014 art. 41 (investigator to sponsor), art. 42 (sponsor to EudraVigilance)"


class SafetyReporting(Sourced):
    """Clinical-trial safety reporting (EU CTR 536/2014), armed when an event is recorded."""

    NUMBERS = ("sponsor", "susar_fatal", "susar_other", "routes")
    DEFAULT_SOURCES = {
        "sponsor": source("regulation: EU CTR 536/2014 art. 41, SAE to sponsor within 24 h"),
        "susar_fatal": source("regulation: EU CTR 536/2014 art. 42, fatal SUSAR within 7 days"),
        "susar_other": source("regulation: EU CTR 536/2014 art. 42, other SUSAR within 15 days"),
        "routes": source(_ROUTES),
    }

    sponsor: Duration = timedelta(hours=24)
    susar_fatal: Duration = timedelta(days=7)
    susar_other: Duration = timedelta(days=15)
    #: who sends each report to whom
    routes: dict[Report, str] = {
        "sponsor": "the investigator site to the sponsor",
        "susar": "the sponsor to EudraVigilance (competent authorities) and the ethics committee",
    }
    ladder: str = "default"


class Seriousness(NamedTuple):
    serious: bool
    life_threatening_or_fatal: bool
    why: list[str]


def implied_seriousness(
    *, grade: int, hospitalised: bool | None, outcome: AdverseOutcome | None
) -> Seriousness:
    """What the facts imply (CTR art. 2(30)); the user may only add to it."""
    why = []
    if grade >= 5 or outcome == "fatal":
        why.append("the event was fatal")
    elif grade >= 4:
        why.append(f"grade {grade} is life-threatening")
    fatal_or_threat = bool(why)
    if hospitalised:
        why.append("it required or prolonged hospitalisation")
    return Seriousness(bool(why), fatal_or_threat, why)
