"""Grade-driven escalation as deadlines: what an observation's CRS/ICANS grade sets off.

Called by the workflow after every accepted action (``follow_grades``) and after each
notification it sent for a grade (``notified``); pure functions over the record and the
protocol's ``grading.escalation`` rules (``models/grading_rules.py``):

- an observation whose grade reaches a rule's ``at_least`` for the first time in the
  syndrome's episode arms the rule's deadline (due ``within``) and returns the notification
  to send at once to the rule's ``notify`` roles;
- a rule with ``met_in`` (e.g. ``icu``) is met when the pathway is in that state, and not armed
  when it already is; a rule without it is met once its notification is delivered;
- every grade deadline belongs to ``monitoring``: discharge meets it, a hold suspends it, and
  an unmet one climbs its escalation ladder like any other (``states/deadlines.py``).
"""

from __future__ import annotations

from datetime import datetime

from models.grading_record import ObservationRecord
from models.grading_rules import GradeRule
from models.notifications import Escalation
from models.protocol import Protocol
from models.record import Deadline, DeadlineStatus, PathwayRecord

PREFIX = "grade:"
MONITORING = "monitoring"


def _rule(protocol: Protocol, key: str) -> GradeRule | None:
    if protocol.grading is None or not key.startswith(PREFIX):
        return None
    name = key.removeprefix(PREFIX).split(":", 1)[0]
    return next((r for r in protocol.grading.escalation if r.key == name), None)


def _meet(deadline: Deadline, now: datetime) -> None:
    deadline.status = DeadlineStatus.MET
    deadline.closed_at = now
    deadline.next_escalation_at = None


def follow_grades(
    record: PathwayRecord,
    protocol: Protocol,
    observation: ObservationRecord | None,
    now: datetime,
) -> list[Escalation]:
    """Meet the grade deadlines whose state is reached; arm those ``observation`` (just
    recorded, or None) sets off; return the notifications to send at once."""
    active = set(record.configuration)
    for deadline in record.deadlines:
        rule = _rule(protocol, deadline.key) if deadline.open else None
        if rule is not None and rule.met_in is not None and rule.met_in in active:
            _meet(deadline, now)
    if observation is None or protocol.grading is None:
        return []
    out: list[Escalation] = []
    for graded in (observation.crs, observation.icans):
        if graded is None:
            continue
        episode = record.grading.course(graded.syndrome).episode_at
        for rule in protocol.grading.escalation:
            if graded.syndrome not in rule.syndromes or graded.grade < rule.at_least:
                continue
            if rule.met_in is not None and rule.met_in in active:
                continue
            prefix = f"{PREFIX}{rule.key}:{graded.syndrome}:"
            if any(
                d.key.startswith(prefix) and episode is not None and d.armed_at >= episode
                for d in record.deadlines
            ):
                continue  # already set off in this episode
            deadline = Deadline(
                key=f"{prefix}{observation.seq}",
                label=rule.label_for(graded.syndrome, graded.grade),
                state=MONITORING,
                waiting_on=rule.waiting_on,
                ladder=rule.ladder,
                armed_at=now,
                due_at=now + rule.within,
            )
            record.deadlines.append(deadline)
            out.append(
                Escalation(
                    pathway_id=record.pathway_id,
                    centre=record.centre,
                    therapy=record.therapy.value,
                    state=record.state,
                    deadline_key=deadline.key,
                    label=deadline.label,
                    due_at=deadline.due_at,
                    level=0,
                    notify=list(rule.notify),
                    waiting_on=rule.waiting_on,
                )
            )
    return out


def notified(record: PathwayRecord, protocol: Protocol, deadline_key: str, now: datetime) -> None:
    """The notification of a grade deadline was delivered: a rule without ``met_in`` is met."""
    rule = _rule(protocol, deadline_key)
    if rule is None or rule.met_in is not None:
        return
    for deadline in record.deadlines:
        if deadline.key == deadline_key and deadline.open:
            _meet(deadline, now)
