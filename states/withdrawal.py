"""Withdrawal from the study after gene-modified cells: safety follow-up continues.

``WithdrawalRules`` is mixed into ``PathwayChart``. A chart that has the ``safety_follow_up``
state (CAR-T) sends ``withdraw`` there instead of ending the pathway when the rule set
``SAFETY_FOLLOW_UP`` is in force, the protocol asks for it (``withdrawal.safety_follow_up``)
and the patient has been infused (``stays_in_safety_follow_up``, the transition's ``cond``).
Follow-up visits go on being recorded there; ``refuse_long_term_follow_up`` (the patient's
explicit refusal, with who, when and why) ends it as withdrawn. ``safety_follow_up_deadlines``
re-arms the unrecorded visits for the safety follow-up when the pathway enters it.

Pure: no temporalio, no I/O.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

from models import actions as a
from models.protocol import Protocol
from models.record import Deadline, DeadlineStatus, PathwayRecord
from models.roles import Role
from models.withdrawal import WithdrawalNote
from states import errors as e
from states.deadlines import FOLLOW_UP, visit_key

# The rule set's name: also the workflow's patch ID that switches it on.
SAFETY_FOLLOW_UP = "eligibility-safety-follow-up-after-withdrawal"
# The chart state of a patient withdrawn from the study but still in safety follow-up.
STATE = "safety_follow_up"


def _note(action: a.StaffAction, now: datetime) -> WithdrawalNote:
    return WithdrawalNote(at=now, by=action.actor, role=action.role, reason=action.reason)


class WithdrawalRules:
    """The withdrawal condition, guard and facts every therapy chart shares."""

    record: PathwayRecord
    protocol: Protocol
    rules: frozenset[str]

    def stays_in_safety_follow_up(self) -> bool:
        rule = self.protocol.withdrawal
        return (
            SAFETY_FOLLOW_UP in self.rules
            and rule is not None
            and rule.safety_follow_up
            and self.record.d0 is not None
        )

    def guard_long_term_visits_done(self, action: a.StaffAction, now: datetime) -> None:
        missing = [
            v.label
            for v in self.protocol.visits
            if v.long_term and v.label not in self.record.visits
        ]
        if missing:
            raise e.VisitsOutstanding(
                f"Long-term safety follow-up visits not yet recorded: {', '.join(missing)}."
            )

    def on_withdraw(self, action: a.Exit, now: datetime) -> None:
        self.record.study_withdrawal = _note(action, now)

    def on_refuse_long_term_follow_up(self, action: a.Exit, now: datetime) -> None:
        self.record.follow_up_refusal = _note(action, now)


def safety_follow_up_deadlines(
    record: PathwayRecord, protocol: Protocol, before: Iterable[str], now: datetime
) -> list[Deadline]:
    """On entering safety follow-up: the study's visit deadlines just closed are suspended
    (not met: the visits were not done), and every unrecorded visit is armed again for the
    safety follow-up. Returns the deadlines armed."""
    if STATE in set(before) or STATE not in record.configuration or record.d0 is None:
        return []
    for deadline in record.deadlines:
        closed_now = deadline.closed_at == now and deadline.status is DeadlineStatus.MET
        if deadline.state == FOLLOW_UP and deadline.key.startswith("visit:") and closed_now:
            deadline.status = DeadlineStatus.SUSPENDED
    ladder = "follow_up" if "follow_up" in protocol.escalation else "default"
    armed = [
        Deadline(
            key=visit_key(visit.label),
            label=f"Safety follow-up visit {visit.label} due",
            state=STATE,
            waiting_on=Role.CARE_COORDINATOR,
            ladder=ladder,
            armed_at=now,
            due_at=record.d0 + visit.at + visit.tolerance,
        )
        for visit in protocol.visits
        if visit.label not in record.visits
    ]
    record.deadlines.extend(armed)
    return armed
