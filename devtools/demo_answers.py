"""The demo's explicit safety answers (models/safety_rules.py), shared by the demo, the test
drivers, the bench and the history scenarios: no answer is assumed anywhere.

``Ago(days)`` is a clinical date so many protocol days before the moment a step runs;
``resolve(data, protocol)`` turns every ``Ago`` in ``data`` into an ISO date on that
protocol's (compressed) clock.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from models.protocol import Protocol

# The MDTM as a record (states/mdtm_record.py): the meeting, who attended, why.
ATTENDEES: list[dict[str, str]] = [
    {"person": "dr.martin", "specialty": "autoimmune_disease"},
    {"person": "dr.roux", "specialty": "cell_therapy"},
    {"person": "p.laurent", "specialty": "pharmacy"},
]
# Every safety answer is explicit (models/safety_rules.py): none is assumed.
ORGANS: dict[str, Any] = {"lvef_percent": 60, "egfr": 90}
CONSENTED: dict[str, Any] = {"trial_inclusion": True, "registry_consent": True}
FIT: dict[str, Any] = {
    "active_infection": False,
    "cardiac_check_ok": True,
    "pregnancy_test": "not_applicable",
    "lvef_percent": 60,
    "egfr": 90,
}


@dataclass(frozen=True)
class Ago:
    """A clinical date so many protocol days before the moment the step runs."""

    days: float


# An adverse event's facts (states/adverse_events.py): seriousness and the clock follow.
AE_FACTS: dict[str, Any] = {"hospitalised": False, "outcome": "recovering", "aware_at": Ago(0)}
# A serious one by its facts (hospitalised), the site aware of it half a day ago.
HOSPITALISED: dict[str, Any] = {**AE_FACTS, "hospitalised": True, "aware_at": Ago(0.5)}

SIGNED: dict[str, Any] = {
    "ard_specialist": "dr.martin",
    "cell_therapy_specialist": "dr.roux",
    "meeting_id": "MDTM-LUPUS-01",
    "meeting_at": Ago(0),
    "attendees": ATTENDEES,
    "rationale": "refractory disease despite two lines; work-up within the protocol's limits",
}


def resolve(value: Any, protocol: Protocol) -> Any:
    if isinstance(value, Ago):
        # A hair before now, so that "now" is never in the workflow's future, and a date
        # resolved later (a meeting) stays after one resolved earlier (its work-up).
        back = value.days * 86400 * protocol.time_scale + 0.01
        moment = datetime.now(UTC) - timedelta(seconds=back)
        return moment.isoformat()
    if isinstance(value, dict):
        return {k: resolve(v, protocol) for k, v in value.items()}
    if isinstance(value, list):
        return [resolve(v, protocol) for v in value]
    return value
