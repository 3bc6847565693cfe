"""The deviation log: an incident of a pathway, what an inspector reads first.

An incident is kept for every action refused on a safety rule (a
``states.errors.SafetyRefusal``: a chain-of-identity mismatch, a missing two-person check,
a window, a lapsed centre prerequisite…) and for every product deviation that was recorded
(a temperature excursion or quarantine at receipt, an out-of-specification release, a
thawed bag discarded). It says who, in which role, when, what was presented and which rule,
and it is kept on the record (``PathwayRecord.incidents``) even when the action itself
changed nothing.

Usage::

    incident = Incident(seq=1, at=now, kind=IncidentKind.REFUSED, event="thaw_product", ...)
    record.incidents.append(incident)
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

from pydantic import BaseModel

from models.roles import Role


class IncidentKind(StrEnum):
    #: an action refused on a safety rule: the pathway did not move
    REFUSED = "refused"
    #: a product deviation recorded by an accepted action (excursion, quarantine, discard…)
    PRODUCT = "product"


class Incident(BaseModel):
    """One entry of the deviation log: who, when, what was presented, which rule."""

    seq: int
    at: datetime
    kind: IncidentKind
    event: str
    actor: str
    role: Role
    #: the rule refused (the refusal's ``rule``) or the deviation recorded
    rule: str
    message: str
    #: where the pathway was when it happened
    state: str
    update_id: str | None = None
    #: the details the action was sent with (never the actor assertion)
    presented: dict[str, Any] = {}

    def describe(self) -> str:
        """One line for people: "refused thaw_product (IdentityMismatch): …"."""
        what = "refused" if self.kind is IncidentKind.REFUSED else "recorded"
        return f"{what} {self.event} ({self.rule}): {self.message}"
