"""A centre's trail in the record store: its audit entries and alerts, appended idempotently
before each continue-as-new of its workflow, and read back whole.

Usage::

    trail = CentreTrailStore(engine, sealer)         # or RecordStore.centres
    trail.add(write)                                 # a CentreRecordWrite; again: adds nothing
    trail.audit("centre-b"), trail.alerts("centre-b")   # earlier runs, in seq order

Every row is ``INSERT … ON CONFLICT DO NOTHING`` on (centre, seq), so a retried or replayed
activity writes each entry and alert once. An entry whose seq is stored with another hash is
a fork of the chain: ``AuditConflict``, and nothing of that write is kept. Actor, reason,
update ID, evidence data and alert labels are sealed with the payload codec's key ring.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Connection, Engine, Row, Table, select

import store.schema as schema
from models.centre_record import CentreAlertEntry, CentreAuditEntry
from models.centre_writes import CentreRecordsKept, CentreRecordWrite
from models.protocol import Therapy
from store.records import AuditConflict, insert_once
from store.sealing import Sealer


class CentreTrailStore:
    def __init__(self, engine: Engine, sealer: Sealer) -> None:
        self.engine = engine
        self.sealer = sealer

    def add(self, write: CentreRecordWrite) -> CentreRecordsKept:
        """Append the write's entries and alerts in one transaction; how many were new."""
        seal = self.sealer.seal
        entries = [
            {
                "centre": write.centre,
                "seq": e.seq,
                "run": write.run,
                "at": e.at,
                "event": e.event,
                "role": e.role.value,
                "item": e.item,
                "actor_sealed": seal(e.actor),
                "reason_sealed": seal(e.reason),
                "update_id_sealed": seal(e.update_id),
                "data_sealed": seal(e.data),
                "prev_hash": e.prev_hash,
                "hash": e.hash,
            }
            for e in write.audit
        ]
        alerts = [
            {
                "centre": write.centre,
                "seq": a.seq,
                "run": write.run,
                "at": a.at,
                "kind": a.kind.value,
                "item": a.key,
                "valid_until": a.valid_until,
                "therapies": ",".join(t.value for t in a.therapies),
                "label_sealed": seal(a.label),
            }
            for a in write.alerts
        ]
        with self.engine.begin() as conn:
            added = insert_once(conn, schema.centre_audit_entries, entries)
            if added < len(entries):
                _refuse_forks(conn, write)
            return CentreRecordsKept(
                audit=added, alerts=insert_once(conn, schema.centre_alerts, alerts)
            )

    def _rows(self, table: Table, centre: str) -> list[Row[Any]]:
        """``centre``'s rows of ``table``, in sequence order."""
        query = select(table).where(table.c.centre == centre).order_by(table.c.seq)
        with self.engine.connect() as conn:
            return list(conn.execute(query))

    def audit(self, centre: str) -> list[CentreAuditEntry]:
        unseal = self.sealer.unseal
        return [
            CentreAuditEntry(
                seq=r.seq,
                at=r.at,
                event=r.event,
                actor=unseal(r.actor_sealed, str),
                role=r.role,
                reason=unseal(r.reason_sealed),
                update_id=unseal(r.update_id_sealed),
                item=r.item,
                data=unseal(r.data_sealed, dict),
                prev_hash=r.prev_hash,
                hash=r.hash,
            )
            for r in self._rows(schema.centre_audit_entries, centre)
        ]

    def alerts(self, centre: str) -> list[CentreAlertEntry]:
        return [
            CentreAlertEntry(
                seq=r.seq,
                at=r.at,
                kind=r.kind,
                key=r.item,
                label=self.sealer.unseal(r.label_sealed, str),
                valid_until=r.valid_until,
                therapies=[Therapy(t) for t in r.therapies.split(",") if t],
            )
            for r in self._rows(schema.centre_alerts, centre)
        ]


def _refuse_forks(conn: Connection, write: CentreRecordWrite) -> None:
    table = schema.centre_audit_entries
    seqs = [e.seq for e in write.audit]
    query = select(table.c.seq, table.c.hash).where(
        table.c.centre == write.centre, table.c.seq.in_(seqs)
    )
    stored = {row.seq: row.hash for row in conn.execute(query)}
    forks = [e.seq for e in write.audit if stored.get(e.seq) != e.hash]
    if forks:
        raise AuditConflict(
            f"{write.centre}: centre audit entries {forks} are already stored with other "
            "content (a forked chain); nothing of this write was kept"
        )
