"""The centre record: the one state of a centre workflow, carried into its next run.

A ``CentreRecord`` holds the centre and its evidence, an expiry watch per evidence item
(warned ``warn_before`` ahead, lapsed on the day), the alerts raised (numbered ``seq``), the
audit of staff actions (a hash chain, models/centre_audit.py, whose head it keeps) and what
the open pathways were last told. ``CentreInput`` starts the workflow with a new centre or a
carried record, and always the policy.

Lean runs (patch ``centre-lean-runs``): before continuing as new, the workflow writes the
entries and alerts the record store does not hold yet (``unstored_audit``,
``unstored_alerts``), marks them stored, and carries ``lean()``: the open alerts, the last
``RECENT_ENTRIES`` entries (a repeated Update is still recognised) and anything not stored,
with the chain's head seq and hash instead of the whole trail.

Usage::

    record = CentreRecord(centre=centre, opened_at=now)
    record.sync_watches(policy, now)     # RENEWED alerts for renewed items
    record.due_alerts(policy, now)       # EXPIRING / LAPSED alerts whose time has come
    record.next_wake(policy)             # the watch to sleep until
    record.append_audit(entry)           # numbered and chained to the head
    record.lean()                        # what the next run carries, once stored

Pure: ``now`` is always passed in.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

from pydantic import BaseModel, Field, model_validator

from models.centre_audit import centre_genesis, chain_centre_entry
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


#: entries of earlier runs carried for their update IDs (a retried click is applied once)
RECENT_ENTRIES = 20


class CentreAlertEntry(BaseModel):
    #: numbered across runs, from 1 (0: not numbered yet, e.g. carried from before)
    seq: int = 0
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
    prev_hash: str = ""
    hash: str = ""


class CentreRecord(BaseModel):
    """The single state of a centre workflow, carried by continue-as-new (lean since the
    patch ``centre-lean-runs``: what is open, and the audit head)."""

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
    #: the audit chain's head (its last entry's seq and hash; "" before any entry)
    audit_head_seq: int = 0
    audit_head_hash: str = ""
    #: the last alert seq given
    alert_seq: int = 0
    #: what the record store holds: entries and alerts up to these seqs
    stored_audit_seq: int = 0
    stored_alert_seq: int = 0

    @model_validator(mode="after")
    def _carried_from_before(self) -> CentreRecord:
        """A record carried from before the chain and the numbered alerts: its entries are
        chained and its alerts numbered, in order (pure, the same on every replay)."""
        for entry in self.audit:
            if not entry.hash and entry.seq == self.audit_head_seq + 1:
                self._chain(entry)
        for alert in self.alerts:
            if alert.seq == 0:
                self.alert_seq += 1
                alert.seq = self.alert_seq
        return self

    def _chain(self, entry: CentreAuditEntry) -> None:
        entry.prev_hash = self.audit_head_hash or centre_genesis(self.centre.id)
        entry.hash = chain_centre_entry(entry.prev_hash, entry)
        self.audit_head_seq, self.audit_head_hash = entry.seq, entry.hash

    def append_audit(self, entry: CentreAuditEntry) -> CentreAuditEntry:
        """Number ``entry`` after the head, chain it and append it."""
        entry.seq = self.audit_head_seq + 1
        self._chain(entry)
        self.audit.append(entry)
        return entry

    def raise_alerts(self, alerts: list[CentreAlertEntry]) -> list[CentreAlertEntry]:
        """Number the alerts after the last one and keep them."""
        for alert in alerts:
            self.alert_seq += 1
            alert.seq = self.alert_seq
        self.alerts.extend(alerts)
        return alerts

    def open_alerts(self) -> list[CentreAlertEntry]:
        """The alerts still in force: the newest of its item, and the item still as it
        says (expiring or lapsed: not renewed since; withdrawn: not recorded again)."""
        newest = {a.key: a for a in self.alerts}
        items = {i.key: i for i in self.centre.items()}

        def in_force(alert: CentreAlertEntry) -> bool:
            item = items.get(alert.key)
            if alert.kind is AlertKind.WITHDRAWN:
                return item is None
            if alert.kind in (AlertKind.EXPIRING, AlertKind.LAPSED):
                return item is not None and item.valid_until == alert.valid_until
            return False

        return [a for a in self.alerts if newest[a.key] is a and in_force(a)]

    def unstored_audit(self) -> list[CentreAuditEntry]:
        return [e for e in self.audit if e.seq > self.stored_audit_seq]

    def unstored_alerts(self) -> list[CentreAlertEntry]:
        return [a for a in self.alerts if a.seq > self.stored_alert_seq]

    def lean(self) -> CentreRecord:
        """What the next run carries: open alerts, the last entries (for their update IDs),
        anything the store does not hold yet, and the audit head."""
        recent = {e.seq for e in self.audit[-RECENT_ENTRIES:]}
        keep_open = {a.seq for a in self.open_alerts()}
        return self.model_copy(
            update={
                "audit": [
                    e for e in self.audit if e.seq in recent or e.seq > self.stored_audit_seq
                ],
                "alerts": [
                    a for a in self.alerts if a.seq in keep_open or a.seq > self.stored_alert_seq
                ],
            },
            deep=True,
        )

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
        return self.raise_alerts(alerts)

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
        return self.raise_alerts(alerts)


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
