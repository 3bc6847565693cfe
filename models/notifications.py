"""What the workflow asks the notification activities to send.

Only pseudonymous data: pathway ID, centre, state, deadline and roles to alert.
"""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel

from models.roles import Role


class Escalation(BaseModel):
    """A missed deadline climbing one step of its ladder (level 1 and up), or, at level 0, the
    people informed at once when a deadline is armed (states/grade_escalation.py)."""

    pathway_id: str
    centre: str
    therapy: str
    state: str
    deadline_key: str
    label: str
    due_at: datetime
    level: int
    notify: list[Role]
    waiting_on: Role

    @property
    def idempotency_key(self) -> str:
        return f"{self.pathway_id}:{self.deadline_key}:{self.due_at.isoformat()}:{self.level}"

    def text(self) -> str:
        who = ", ".join(r.label for r in self.notify)
        if self.level == 0:
            # Level 0: sent when something happens (a CRS/ICANS grade), before any deadline.
            return (
                f"[{self.centre}] {self.pathway_id}: {self.label} (by {self.due_at:%Y-%m-%d %H:%M} "
                f"UTC, waiting on the {self.waiting_on.label}). Informed at once: {who}."
            )
        return (
            f"[{self.centre}] {self.pathway_id}: {self.label} (was due {self.due_at:%Y-%m-%d %H:%M} "
            f"UTC, waiting on the {self.waiting_on.label}). Escalation level {self.level}: {who}."
        )


class NotificationReceipt(BaseModel):
    channel: str
    key: str
    delivered_at: datetime
