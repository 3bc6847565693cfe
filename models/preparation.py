"""Patient preparation as tasks: what a coordinator must see done around the pathway.

Usage (in a protocol file)::

    preparation:
      - key: pregnancy_test
        label: Pregnancy test negative
        phase: treatment
        armed_on: [stored]              # the milestone (state entered) that opens the task
        within: 14d                     # due this long after it
        gates: [start_lymphodepletion]  # refused while the task is not recorded
        waiting_on: care_coordinator
        fields: [result]                # details the recording must give
        accept: {result: [negative, not applicable]}
        source: "label: EU SmPC (pregnancy test before lymphodepletion)"

A task is open from its milestone until a staff member records it (``record_task``); a task
``met_by`` an event (consent) is recorded by that event. An open task's deadline escalates
like any other (states/deadlines.py's ladders); a step a task ``gates`` is refused, naming
the task, until it is recorded, whether or not its milestone has come. ``flag`` marks a task
that stands as an instruction once recorded (irradiated blood products), shown on the
pathway until ``flag.until`` after D0.

The record keeps what was done (``PreparationRecord``): a pathway started before tasks
existed has none, and no task applies to it.
"""

from __future__ import annotations

import re
from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, model_validator

from models.durations import Duration
from models.roles import Role
from models.sources import Sourced

TASK_KEY = r"^[a-z][a-z0-9_]{1,47}$"
FIELD_NAME = r"^[a-z][a-z0-9_]{0,31}$"


class StandingFlag(Sourced):
    """A task that stands as an instruction once recorded, until D0 + ``until``."""

    NUMBERS = ("until",)

    until: Duration


class PreparationTask(Sourced):
    """One task of a protocol: its milestone, deadline, gated steps and required details."""

    NUMBERS = ("within",)

    key: str = Field(pattern=TASK_KEY)
    label: str = Field(min_length=3, max_length=120)
    phase: str = Field(min_length=3, max_length=40)
    armed_on: list[str] = Field(min_length=1, description="states whose entry opens the task")
    within: Duration = Field(description="due this long after the milestone")
    gates: list[str] = Field(default=[], description="events refused while it is not recorded")
    waiting_on: Role = Role.CARE_COORDINATOR
    ladder: str = "default"
    fields: list[str] = Field(default=[], description="details the recording must give")
    accept: dict[str, list[str]] = Field(
        default={}, description="for a field, the only values that complete the task"
    )
    met_by: str | None = Field(default=None, description="an event that records the task")
    flag: StandingFlag | None = Field(default=None, description="a standing flag once recorded")

    @model_validator(mode="after")
    def _consistent(self) -> PreparationTask:
        for name in self.fields:
            if not re.fullmatch(FIELD_NAME, name):
                raise ValueError(f"task {self.key!r}: field {name!r} is not a field name")
        unknown = sorted(set(self.accept) - set(self.fields))
        if unknown:
            raise ValueError(f"task {self.key!r}: accept names unlisted fields {unknown}")
        return self


def check_tasks(protocol: Any) -> None:
    """A protocol's checks of its tasks, registry and visit content (raises ValueError):
    unique task keys, known ladders, visit content naming only the protocol's visits."""
    keys = [t.key for t in protocol.preparation]
    if len(keys) != len(set(keys)):
        raise ValueError("preparation task keys must be unique")
    ladders = set(protocol.escalation)
    for task in protocol.preparation:
        if task.ladder not in ladders:
            raise ValueError(f"preparation task {task.key!r} names unknown ladder {task.ladder!r}")
    if protocol.registry is not None and protocol.registry.ladder not in ladders:
        raise ValueError(f"registry names unknown ladder {protocol.registry.ladder!r}")
    labels = {v.label for v in protocol.visits}
    for item in protocol.visit_content:
        if unknown := sorted(set(item.visits) - labels):
            raise ValueError(f"visit content {item.key!r} names unknown visits {unknown}")


class TaskDone(BaseModel):
    """A task recorded: when, by whom, in which role, with which details."""

    at: datetime
    actor: str
    role: Role
    details: dict[str, str] = {}
    event: str = "record_task"


class PreparationRecord(BaseModel):
    """The preparation tasks recorded on a pathway, by task key."""

    done: dict[str, TaskDone] = {}


class TaskView(BaseModel):
    """A task as ``show`` and the Web UI list it."""

    model_config = ConfigDict(frozen=True)

    key: str
    label: str
    phase: str
    status: str = Field(description="open, due later, or done")
    due_at: datetime | None = None
    overdue: bool = False
    gates: list[str] = []
    waiting_on: Role
    done_at: datetime | None = None
