"""Deadlines as data: which timers run in a given configuration, and how they escalate.

Pure functions over the record and the protocol, called by the workflow after every
transition (``reconcile``) and whenever its timer fires (``escalate_due``):

- a protocol ``DeadlineRule`` is armed on entering its state and met on leaving it;
- each follow-up visit is armed on entering follow-up, due at D0 + visit + tolerance, and
  met when the visit is recorded;
- a serious adverse event arms the sponsor report (24 h) and, for a SUSAR, the 7- or 15-day
  report; recording the report meets it;
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
SAFETY = "safety"  # safety-report deadlines belong to no state: holds do not suspend them


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
    armed.extend(_safety_reports(record, protocol, now))
    record.deadlines.extend(armed)
    return armed


def _safety_reports(record: PathwayRecord, protocol: Protocol, now: datetime) -> list[Deadline]:
    """Each serious adverse event arms its reports; recording a report meets it."""
    rules = protocol.safety_reporting
    by_key = {d.key: d for d in record.deadlines}
    armed = []
    for ae in record.adverse_events:
        for report in ae.reports_due():
            key = f"sae-{ae.seq}:{report}"
            existing = by_key.get(key)
            if report in ae.reports:
                if existing is not None and existing.open:
                    _close(existing, DeadlineStatus.MET, now)
                continue
            if existing is not None:
                continue
            if report == "sponsor":
                within, who = rules.sponsor, Role.CELL_THERAPY_SPECIALIST
                label = f"Adverse event #{ae.seq}: report to sponsor due"
            else:
                within = rules.susar_fatal if ae.life_threatening_or_fatal else rules.susar_other
                who = Role.PHARMACOVIGILANCE_OFFICER
                label = f"Adverse event #{ae.seq}: SUSAR report due"
            armed.append(
                Deadline(
                    key=key,
                    label=label,
                    state=SAFETY,
                    waiting_on=who,
                    ladder=rules.ladder,
                    armed_at=now,
                    # From awareness, when given (explicit safety rules), not from typing.
                    due_at=(ae.aware_at or ae.at) + within,
                )
            )
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
