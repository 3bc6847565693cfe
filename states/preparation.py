"""Preparation tasks on a pathway: recording them, the steps they gate, their deadlines.

Pure, like the rest of ``states/``. The chart mixes in ``PreparationGuards``:

- ``guard_task_known`` validates ``record_task`` (a task of the protocol, not yet recorded,
  with the details it asks and an accepted value);
- ``guard_tasks_done`` refuses a step that an unrecorded task gates, naming the task;
- ``on_record_task`` and ``note_tasks_met`` (a task ``met_by`` the event sent) record them.

The workflow calls ``reconcile_tasks`` after every transition, beside ``reconcile``: a task
whose milestone (state) is entered gets its deadline, escalated by the protocol's ladders
like any other; recording the task meets it (the deadline leaves the record). A hold does
not suspend task deadlines (the work around the patient goes on), and a task opened by an
exit (the referring physician told of the end) is listed on the ended pathway's record:
the pathway does not wait for it. A pathway whose record has no
``preparation`` (started before tasks were tracked: the workflow decides it, with
``workflow.patched``) has no task, gate or task deadline.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

from models import actions as a
from models.actions import StaffAction
from models.preparation import PreparationRecord, TaskDone, TaskView
from models.protocol import Protocol
from models.record import Deadline, DeadlineStatus, PathwayRecord, protocol_days
from states import errors as e

TASKS = "preparation"  # task deadlines belong to no state: leaving one does not meet them


def task_key(key: str) -> str:
    return f"task:{key}"


class PreparationTaskOpen(e.SafetyRefusal):
    """A step refused while a preparation task that gates it is not recorded."""


class UnknownTask(e.PathwayError):
    """``record_task`` names no task of the pathway's protocol."""


class TaskAlreadyRecorded(e.PathwayError):
    pass


class TaskDetailsMissing(e.PathwayError):
    """The recording lacks a detail the task asks, or gives a value that does not complete it."""


class PreparationGuards:
    """Validators and callbacks of preparation tasks (mixed into ``PathwayChart``)."""

    record: PathwayRecord
    protocol: Protocol

    def guard_task_known(self, action: a.TaskRecord, now: datetime) -> None:
        done = self.record.preparation
        if done is None:
            raise UnknownTask(
                "This pathway started before preparation tasks were tracked; "
                "record the task in the patient's file."
            )
        task = self.protocol.task(action.task)
        if task is None:
            keys = ", ".join(t.key for t in self.protocol.preparation) or "none"
            raise UnknownTask(
                f"'{action.task}' is not a preparation task of protocol "
                f"{self.protocol.id}. Its tasks: {keys}."
            )
        if (earlier := done.done.get(task.key)) is not None:
            raise TaskAlreadyRecorded(
                f"'{task.label}' was already recorded on {earlier.at:%Y-%m-%d %H:%M} UTC "
                f"by {earlier.actor}."
            )
        missing = [f for f in task.fields if not action.details.get(f, "").strip()]
        if missing:
            raise TaskDetailsMissing(
                f"'{task.label}' needs these details: {', '.join(missing)} "
                f'(e.g. --data \'{{"task": "{task.key}", "details": {{"{missing[0]}": "…"}}}}\').'
            )
        unknown = sorted(set(action.details) - set(task.fields))
        if unknown:
            raise TaskDetailsMissing(
                f"'{task.label}' takes no detail {', '.join(unknown)}; it takes: "
                f"{', '.join(task.fields) or 'none'}."
            )
        for name, values in task.accept.items():
            given = action.details[name].strip().lower()
            if given not in [v.lower() for v in values]:
                raise TaskDetailsMissing(
                    f"'{task.label}' is done only when {name} is "
                    f"{' or '.join(repr(v) for v in values)}; got {action.details[name]!r}. "
                    "The task stays open: tell the binôme."
                )

    def guard_tasks_done(self, event: str) -> None:
        """Refuse ``event`` while a task gating it is not recorded."""
        if self.record.preparation is None:
            return
        open_tasks = [
            t
            for t in self.protocol.preparation
            if event in t.gates and t.key not in self.record.preparation.done
        ]
        if open_tasks:
            names = "; ".join(f"{t.label} (record_task {t.key})" for t in open_tasks)
            raise PreparationTaskOpen(
                f"'{event}' waits for preparation: {names}. "
                "Record each task when done (cellpath act … record_task)."
            )

    def on_record_task(self, action: a.TaskRecord, now: datetime) -> None:
        assert self.record.preparation is not None
        self.record.preparation.done[action.task] = TaskDone(
            at=now, actor=action.actor, role=action.role, details=dict(action.details)
        )

    def note_tasks_met(self, event: str, action: StaffAction, now: datetime) -> None:
        """Tasks ``met_by`` this event are recorded by it (consent recorded: consent task)."""
        done = self.record.preparation
        if done is None:
            return
        for task in self.protocol.preparation:
            if task.met_by == event and task.key not in done.done:
                done.done[task.key] = TaskDone(
                    at=now, actor=action.actor, role=action.role, event=event
                )


def reconcile_tasks(
    record: PathwayRecord, protocol: Protocol, before: Iterable[str], now: datetime
) -> list[Deadline]:
    """Meet the deadlines of tasks recorded; arm those whose milestone was entered."""
    if record.preparation is None:
        return []
    done = record.preparation.done
    entered = set(record.configuration) - set(before)
    # A task recorded meets its deadline, which then leaves the record (the task's record
    # says when it was done): a 15-year pathway carries only what is still owed.
    record.deadlines = [
        d
        for d in record.deadlines
        if not (d.state == TASKS and d.key.removeprefix("task:") in done)
    ]
    keys = {d.key for d in record.deadlines if d.state == TASKS}
    armed = [
        Deadline(
            key=task_key(task.key),
            label=f"Preparation: {task.label} due",
            state=TASKS,
            waiting_on=task.waiting_on,
            ladder=task.ladder,
            armed_at=now,
            due_at=now + task.within,
        )
        for task in protocol.preparation
        if entered & set(task.armed_on) and task.key not in done and task_key(task.key) not in keys
    ]
    record.deadlines.extend(armed)
    return armed


def task_views(record: PathwayRecord, protocol: Protocol) -> list[TaskView]:
    """Every task of the protocol on this pathway: open (milestone reached), due later
    (milestone to come) or done; empty for a pathway without tracked tasks."""
    if record.preparation is None:
        return []
    by_key = {d.key: d for d in record.deadlines if d.state == TASKS}
    views = []
    for task in protocol.preparation:
        done = record.preparation.done.get(task.key)
        deadline = by_key.get(task_key(task.key))
        status = "done" if done else "open" if deadline is not None else "due later"
        views.append(
            TaskView(
                key=task.key,
                label=task.label,
                phase=task.phase,
                status=status,
                due_at=deadline.due_at if deadline is not None else None,
                overdue=bool(deadline and deadline.status is DeadlineStatus.OVERDUE and not done),
                gates=list(task.gates),
                waiting_on=task.waiting_on,
                done_at=done.at if done else None,
            )
        )
    return views


def standing_flags(
    record: PathwayRecord, protocol: Protocol, now: datetime | None = None
) -> list[str]:
    """Flags that stand while their window lasts (irradiated blood products to D0 + 90 d);
    without ``now``, every flag of an open pathway whose window has not been passed."""
    if record.preparation is None or record.outcome is not None:
        return []
    out = []
    for task in protocol.preparation:
        if task.flag is None:
            continue
        done = record.preparation.done.get(task.key)
        if done is None:
            continue
        end = record.d0 + task.flag.until if record.d0 is not None else None
        if end is None or now is None or now < end:
            days = protocol_days(task.flag.until, protocol.time_scale)
            until = f"until {end:%Y-%m-%d}" if end else f"until D0 + {days:.0f} days"
            out.append(f"{task.label} ({until})")
    return out


def fresh_preparation() -> PreparationRecord:
    return PreparationRecord()
