"""Deadlines as data: which timers run in a given configuration, and how they escalate.

Pure functions over the record and the protocol, called by the workflow after every
transition (``reconcile``) and whenever its timer fires (``escalate_due``):

- a protocol ``DeadlineRule`` is armed on entering its state and met on leaving it;
- each follow-up visit is armed on entering follow-up, due at D0 + visit + tolerance, and
  met when the visit is recorded;
- a missed deadline climbs its escalation ladder one step at a time.

Entering ``held`` suspends the deadlines of the states left; resuming arms them afresh.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

from models.notifications import Escalation
from models.protocol import Protocol
from models.record import Deadline, DeadlineStatus, PathwayRecord
from models.roles import Role

FOLLOW_UP = "follow_up"
HELD = "held"


def visit_key(label: str) -> str:
    return f"visit:{label}"


def reconcile(
    record: PathwayRecord,
    protocol: Protocol,
    before: Iterable[str],
    now: datetime,
) -> list[Deadline]:
    """Close the deadlines of states left, arm those of states entered; return the new ones."""
    old, new = set(before), set(record.configuration)
    left, entered = old - new, new - old
    closing = DeadlineStatus.SUSPENDED if HELD in new else DeadlineStatus.MET
    for deadline in record.deadlines:
        if deadline.open and deadline.state in left:
            _close(deadline, closing, now)
        if deadline.open and deadline.key.startswith("visit:"):
            label = deadline.key.removeprefix("visit:")
            if label in record.visits:
                _close(deadline, DeadlineStatus.MET, now)

    armed: list[Deadline] = []
    for rule in protocol.deadlines:
        if rule.state in entered:
            armed.append(
                Deadline(
                    key=rule.key,
                    label=rule.label,
                    state=rule.state,
                    waiting_on=rule.waiting_on,
                    ladder=rule.ladder,
                    armed_at=now,
                    due_at=now + rule.within,
                )
            )
    if FOLLOW_UP in entered and record.d0 is not None:
        open_keys = {d.key for d in record.deadlines if d.open}
        for visit in protocol.visits:
            key = visit_key(visit.label)
            if visit.label in record.visits or key in open_keys:
                continue
            armed.append(
                Deadline(
                    key=key,
                    label=f"Follow-up visit {visit.label} due",
                    state=FOLLOW_UP,
                    waiting_on=Role.CARE_COORDINATOR,
                    ladder="follow_up" if "follow_up" in protocol.escalation else "default",
                    armed_at=now,
                    due_at=record.d0 + visit.at + visit.tolerance,
                )
            )
    record.deadlines.extend(armed)
    return armed


def _close(deadline: Deadline, status: DeadlineStatus, now: datetime) -> None:
    deadline.status = status
    deadline.closed_at = now
    deadline.next_escalation_at = None


def escalate_due(record: PathwayRecord, protocol: Protocol, now: datetime) -> list[Escalation]:
    """Climb one ladder step for every open deadline whose time has come."""
    out: list[Escalation] = []
    for deadline in record.deadlines:
        wake = deadline.wakes_at()
        if wake is None or wake > now:
            continue
        steps = protocol.ladder(deadline.ladder).steps
        if deadline.level >= len(steps):
            deadline.next_escalation_at = None
            continue
        step = steps[deadline.level]
        deadline.status = DeadlineStatus.OVERDUE
        deadline.level += 1
        deadline.next_escalation_at = (
            deadline.due_at + steps[deadline.level].after if deadline.level < len(steps) else None
        )
        out.append(
            Escalation(
                pathway_id=record.pathway_id,
                centre=record.centre,
                therapy=record.therapy.value,
                state=record.state,
                deadline_key=deadline.key,
                label=deadline.label,
                due_at=deadline.due_at,
                level=deadline.level,
                notify=list(step.notify),
                waiting_on=deadline.waiting_on,
            )
        )
    return out
