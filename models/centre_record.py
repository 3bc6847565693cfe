"""The centre record: the one state of a centre workflow, carried whole by continue-as-new.

A ``CentreRecord`` holds the centre and its evidence, an expiry watch per evidence item
(warned ``warn_before`` ahead, lapsed on the day), the alerts raised so far, the audit of
every staff action and what the open pathways were last told. ``CentreInput`` starts the
workflow with a new centre or a carried record, and always the policy.

Usage::

    record = CentreRecord(centre=centre, opened_at=now)
    record.sync_watches(policy, now)     # RENEWED alerts for renewed items
    record.due_alerts(policy, now)       # EXPIRING / LAPSED alerts whose time has come
    record.next_wake(policy)             # the watch to sleep until

Pure: ``now`` is always passed in.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

from pydantic import BaseModel, Field, model_validator

from models.centre_policy import CentrePolicy
from models.evidence import Centre, when_text
from models.protocol import Therapy
from models.roles import Role


class ItemWatch(BaseModel):
    """The expiry watch of one evidence item: warned ``warn_before`` ahead, lapsed on the day."""

    key: str
    label: str
    valid_until: datetime
    warned_at: datetime | None = None
    lapsed_at: datetime | None = None

    def wakes_at(self, policy: CentrePolicy) -> datetime | None:
        if self.lapsed_at is not None:
            return None
        if self.warned_at is None:
            return self.valid_until - policy.warn_before
        return self.valid_until


class AlertKind(StrEnum):
    EXPIRING = "expiring"
    LAPSED = "lapsed"
    RENEWED = "renewed"
    WITHDRAWN = "withdrawn"


class CentreAlertEntry(BaseModel):
    at: datetime
    kind: AlertKind
    key: str
    label: str
    valid_until: datetime | None = None
    therapies: list[Therapy] = []

    def text(self, policy: CentrePolicy) -> str:
        if self.kind is AlertKind.EXPIRING and self.valid_until is not None:
            left = policy.days(self.valid_until - self.at)
            return f"{self.label} expires on {when_text(self.valid_until)} (in {left:.0f} days)"
        if self.kind is AlertKind.LAPSED:
            return f"{self.label} lapsed on {when_text(self.valid_until or self.at)}"
        if self.kind is AlertKind.RENEWED:
            return f"{self.label} renewed, valid until {when_text(self.valid_until or self.at)}"
        return f"{self.label} withdrawn"


class CentreAuditEntry(BaseModel):
    seq: int
    at: datetime
    event: str
    actor: str
    role: Role
    reason: str | None = None
    update_id: str | None = None
    item: str
    data: dict[str, Any] = {}


class CentreRecord(BaseModel):
    """The single state of a centre workflow, carried whole by continue-as-new."""

    centre: Centre
    opened_at: datetime
    watches: dict[str, ItemWatch] = {}
    alerts: list[CentreAlertEntry] = []
    audit: list[CentreAuditEntry] = []
    told: dict[str, list[str]] | None = Field(
        default=None, description="missing keys per therapy that open pathways were last told"
    )
    told_doses: int | None = None
    version: int = 0
    run: int = 1

    def entry_for_update(self, update_id: str | None) -> CentreAuditEntry | None:
        """The entry an Update with this ID already wrote (a retried click), if any."""
        if not update_id:
            return None
        return next((e for e in self.audit if e.update_id == update_id), None)

    def next_wake(self, policy: CentrePolicy) -> ItemWatch | None:
        pending = [w for w in self.watches.values() if w.wakes_at(policy) is not None]
        return min(pending, key=lambda w: w.wakes_at(policy) or w.valid_until, default=None)

    def next_expiry(self, now: datetime) -> datetime | None:
        return min(
            (i.valid_until for i in self.centre.items() if i.valid_until > now), default=None
        )

    def sync_watches(self, policy: CentrePolicy, now: datetime) -> list[CentreAlertEntry]:
        """Watch every item's current ``valid_until``; renewing a lapsed or warned item
        starts its watch afresh and is reported."""
        alerts = []
        items = {i.key: i for i in self.centre.items()}
        for key in list(self.watches):
            if key not in items:
                del self.watches[key]
        for key, item in items.items():
            watch = self.watches.get(key)
            if watch is not None and watch.valid_until == item.valid_until:
                continue
            if watch is not None and (watch.lapsed_at or watch.warned_at):
                alerts.append(
                    CentreAlertEntry(
                        at=now,
                        kind=AlertKind.RENEWED,
                        key=key,
                        label=item.label,
                        valid_until=item.valid_until,
                        therapies=policy.concerns(item),
                    )
                )
            self.watches[key] = ItemWatch(key=key, label=item.label, valid_until=item.valid_until)
        self.alerts.extend(alerts)
        return alerts

    def due_alerts(self, policy: CentrePolicy, now: datetime) -> list[CentreAlertEntry]:
        """Warnings and lapses whose time has come (each once per ``valid_until``)."""
        alerts = []
        for watch in sorted(self.watches.values(), key=lambda w: (w.valid_until, w.key)):
            item = self.centre.item(watch.key)
            therapies = policy.concerns(item) if item else []
            if watch.lapsed_at is None and now >= watch.valid_until:
                watch.lapsed_at = now
                kind = AlertKind.LAPSED
            elif watch.warned_at is None and now >= watch.valid_until - policy.warn_before:
                watch.warned_at = now
                kind = AlertKind.EXPIRING
            else:
                continue
            alerts.append(
                CentreAlertEntry(
                    at=now,
                    kind=kind,
                    key=watch.key,
                    label=watch.label,
                    valid_until=watch.valid_until,
                    therapies=therapies,
                )
            )
        self.alerts.extend(alerts)
        return alerts


class CentreInput(BaseModel):
    """Starts a centre workflow: a new ``centre`` or the ``record`` carried by
    continue-as-new, and always the policy (so the workflow never reads a file)."""

    policy: CentrePolicy
    centre: Centre | None = None
    record: CentreRecord | None = None

    @model_validator(mode="after")
    def _one_source(self) -> CentreInput:
        if (self.centre is None) == (self.record is None):
            raise ValueError("give either a centre or a carried record")
        return self
