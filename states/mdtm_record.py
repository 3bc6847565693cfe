"""The MDTM as a record (explicit safety rules, models/safety_rules.py).

An MDTM decision (approve, defer, reject) names its meeting (ID and date, clinical time), the
attendees with their specialty (the protocol's ``mdtm.required_specialties`` must be there)
and a rationale. The signatories are the referral's binôme, or the decision records why
another person signs (``substitution_reason``); each signatory attended. The work-up's age
is measured at the meeting's date, not when the decision is typed.

Pathways under the legacy rules keep the old behaviour: the guard returns at once and the
work-up's age is measured at the time the decision is recorded.
"""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, NoReturn

from models import actions as a
from models.actions import person_key
from models.mdtm import SPECIALTY_WORDS
from models.protocol import Protocol
from models.record import PathwayRecord
from models.safety_rules import EXPLICIT
from states import errors as e
from states import safety_refusals as s


def _listed(items: list[str]) -> str:
    return items[0] if len(items) == 1 else ", ".join(items[:-1]) + " and " + items[-1]


class MdtmRecord:
    """Guard and facts of the MDTM record (mixed into ``PathwayChart``)."""

    record: PathwayRecord
    protocol: Protocol

    if TYPE_CHECKING:

        def refuse(self, cls: type[e.PathwayError], message: str) -> NoReturn: ...

        def _not_in_future(self, when: datetime, what: str, now: datetime) -> None: ...

        def _not_before_birth(self, when: datetime, what: str) -> None: ...

    def meeting_time(self, action: a.MdtmDecision, now: datetime) -> datetime:
        """When the MDTM decided: the meeting's date under the explicit rules."""
        if self.record.safety_rules >= EXPLICIT and action.meeting_at is not None:
            return action.meeting_at
        return now

    def guard_mdtm_recorded(self, action: a.MdtmDecision, now: datetime) -> None:
        if self.record.safety_rules < EXPLICIT:
            return
        missing = [
            words
            for words, value in (
                ("the meeting ID (meeting_id)", action.meeting_id),
                ("its date (meeting_at)", action.meeting_at),
                ("the attendees with their specialty (attendees)", action.attendees),
                ("the rationale (rationale)", (action.rationale or "").strip()),
            )
            if not value
        ]
        if missing:
            self.refuse(
                s.MdtmRecordIncomplete,
                f"The MDTM decision must be recorded with {_listed(missing)}.",
            )
        assert action.meeting_at is not None and action.attendees is not None
        self._not_in_future(action.meeting_at, "meeting", now)
        self._not_before_birth(action.meeting_at, "meeting")
        present = {x.specialty for x in action.attendees}
        absent = [sp for sp in self.protocol.mdtm.required_specialties if sp not in present]
        if absent:
            self.refuse(
                s.MdtmRecordIncomplete,
                "This protocol requires at the MDTM: "
                f"{_listed([SPECIALTY_WORDS[sp] for sp in absent])}, not among the attendees.",
            )
        attended = {person_key(x.person) for x in action.attendees}
        signatories = (action.ard_specialist, action.cell_therapy_specialist)
        away = [p for p in signatories if person_key(p) not in attended]
        if away:
            self.refuse(
                s.MdtmRecordIncomplete,
                f"{_listed(away)} signed but did not attend: list every signatory among the "
                "attendees.",
            )
        binome = self.record.binome
        substituted = [
            signed
            for signed, named in (
                (action.ard_specialist, binome.ard_specialist),
                (action.cell_therapy_specialist, binome.cell_therapy_specialist),
            )
            if person_key(signed) != person_key(named)
        ]
        if substituted and not (action.substitution_reason or "").strip():
            self.refuse(
                s.MdtmRecordIncomplete,
                f"{_listed(substituted)} is not in the referral's binôme "
                f"({binome.ard_specialist}, {binome.cell_therapy_specialist}): record why "
                "(substitution_reason).",
            )

    def _remember_meeting(self, action: a.MdtmDecision) -> None:
        if self.record.safety_rules >= EXPLICIT:
            self.record.mdtm_meeting_id = action.meeting_id
            self.record.mdtm_meeting_at = action.meeting_at

    def after_approve_at_mdtm(self, action: a.MdtmDecision, now: datetime) -> None:
        self._remember_meeting(action)

    def after_defer_at_mdtm(self, action: a.MdtmDecision, now: datetime) -> None:
        self._remember_meeting(action)

    def after_reject_at_mdtm(self, action: a.MdtmDecision, now: datetime) -> None:
        self._remember_meeting(action)
