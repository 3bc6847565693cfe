"""What is a signed-in person's to do now: the open deadlines waiting on one of their roles
at their centres, overdue first, then by due time; and the pathways where one of their roles
may act although no deadline waits on them.

Usage::

    work = await my_work(client, staff.roles, staff.centres)
    for item in work.due: print(item.pathway_id, item.label, item.due_at, item.overdue)
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from datetime import UTC, datetime

from temporalio.client import Client

from client import pathways
from client.survey import survey
from models.action_fields import ANY_TIME
from models.pathway import AllowedActions, DeadlineView
from models.roles import Role
from web.pathway_view import state_name


@dataclasses.dataclass(frozen=True)
class DueItem:
    pathway_id: str
    state: str
    label: str
    due_at: datetime
    overdue: bool
    level: int
    waiting_on: Role


@dataclasses.dataclass(frozen=True)
class OpenItem:
    pathway_id: str
    state: str
    role: Role
    events: list[str]


@dataclasses.dataclass(frozen=True)
class MyWork:
    due: list[DueItem]
    open: list[OpenItem]
    unanswered: list[str]  # pathways whose worker did not answer


def due_first(items: list[DueItem]) -> list[DueItem]:
    """Overdue first (the longest overdue at the top), then by due time."""
    return sorted(items, key=lambda d: (not d.overdue, d.due_at))


def centre_query(centres: Sequence[str]) -> str:
    base = pathways.list_query()
    if not centres:
        return base + ' AND Centre = ""'
    # Centre IDs are checked identifiers (models/validation), never free text.
    listed = ", ".join(f'"{c}"' for c in centres)
    return f'{base} AND ExecutionStatus = "Running" AND Centre IN ({listed})'


async def _ask(
    client: Client, pid: str, roles: Sequence[Role]
) -> tuple[list[DeadlineView], list[tuple[Role, AllowedActions]]]:
    views = await pathways.deadlines(client, pid)
    allowed = [(role, await pathways.allowed_actions(client, pid, role)) for role in roles]
    return views, allowed


def _items(
    row: dict[str, object],
    roles: Sequence[Role],
    views: list[DeadlineView],
    allowed: list[tuple[Role, AllowedActions]],
) -> tuple[list[DueItem], list[OpenItem]]:
    pid = str(row["pathway_id"])
    now = datetime.now(UTC)
    due = [
        DueItem(
            pathway_id=pid,
            state=state_name(str(row.get("therapy") or ""), str(row.get("state") or "")),
            label=v.label,
            due_at=v.due_at,
            overdue=v.status == "overdue" or v.due_at <= now,
            level=v.level,
            waiting_on=v.waiting_on,
        )
        for v in views
        if v.waiting_on in roles and v.status in ("armed", "overdue")
    ]
    opened = [
        OpenItem(pid, state_name(str(row.get("therapy") or ""), a.state), role, events)
        for role, a in allowed
        if (events := [e for e in a.events if e not in ANY_TIME])
    ]
    return due, ([] if due else opened)


async def my_work(client: Client, roles: Sequence[Role], centres: Sequence[str]) -> MyWork:
    rows = {
        str(row["pathway_id"]): row
        for row in await pathways.list_pathways(client, centre_query(centres))
    }
    found = await survey(rows, lambda pid: _ask(client, pid, roles))
    due: list[DueItem] = []
    opened: list[OpenItem] = []
    for pid, (views, allowed) in found.answers.items():
        more_due, more_open = _items(rows[pid], roles, views, allowed)
        due.extend(more_due)
        opened.extend(more_open)
    return MyWork(due_first(due), opened, list(found.unanswered))
