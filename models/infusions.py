"""A protocol's infusion schedule: how many infusions, how far apart, the observation after
each and whether fitness is checked again before a further dose, each with its source.

Part of a protocol (``Protocol.infusions``, re-exported by ``models.protocol``)::

    infusions:
      count: 2
      interval: 7d
      source: "assumption: D0 and D7 infusions, as in some lupus protocols"
      observation: {value: 2h, source: "assumption: ..."}

A schedule recorded before ``observation`` and ``recheck_before_dose`` existed has neither:
no observation state, no re-check, as it ran.
"""

from __future__ import annotations

from datetime import timedelta

from pydantic import Field

from models.durations import Duration
from models.sources import Sourced, source

_ASSUMED_ONE = source("assumption: one infusion unless the protocol sets a schedule")


class Infusions(Sourced):
    NUMBERS = ("count", "interval", "interval_tolerance", "observation", "recheck_before_dose")
    DEFAULT_SOURCES = {
        **dict.fromkeys(("count", "interval", "interval_tolerance"), _ASSUMED_ONE),
        "observation": source("assumption: no observation period unless the protocol sets one"),
        "recheck_before_dose": source(
            "assumption: no re-check before a further dose unless the protocol asks for one"
        ),
    }

    count: int = Field(default=1, ge=1, le=12)
    interval: Duration = timedelta(days=7)
    interval_tolerance: Duration = timedelta(days=2)
    # After each infusion (MSC); None: no observation (protocols recorded before it existed).
    observation: Duration | None = None
    # Fitness checked again (clear_for_treatment) before each further dose.
    recheck_before_dose: bool = False
