"""Writing a pathway's record to the store: idempotent appends, never an update.

Usage::

    records = RecordStore.open(url, codec=codec)         # after store.upgrade(url)
    records.add_protocol(ProtocolVersion.of(protocol))
    records.add_pathway(facts)
    records.add_audit(pathway_id, run=3, entries=record.audit)   # again: writes nothing
    records.add_product_events(pathway_id, run=3, events=[...])
    records.close_pathway(pathway_id, outcome)
    records.reader.pathway(pathway_id)                   # read it back (store/reading.py)

Every write is ``INSERT … ON CONFLICT DO NOTHING`` on its key (audit: pathway + seq; other
facts: pathway + run + seq; a pathway, a protocol version, an outcome: once), so an
activity that is retried, or replayed after a worker crash, writes each fact exactly once
and returns how many rows were new. An audit entry whose seq is stored with another hash
is a fork of the chain: ``AuditConflict``, and nothing of that write is kept.

There is no update or delete here, by design; the database refuses them too (triggers).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Connection, Engine, Table, select, tuple_
from sqlalchemy.dialects import postgresql, sqlite

import store.schema as schema
from models.encryption import EncryptionCodec
from models.record import AdverseEventRecord, AuditEntry, PathwayRecord
from store.engine import make_engine
from store.facts import (
    Incident,
    Outcome,
    PathwayFacts,
    ProductEvent,
    ProtocolVersion,
    VisitRecord,
)
from store.reading import RecordReader
from store.sealing import Sealer

# Adverse-event facts kept in the sealed detail: the reports and the explicit safety facts.
SEALED_AE_FACTS = {"reports", "hospitalised", "outcome", "aware_at"}

# Rows per INSERT statement: well under SQLite's 32,766 bound parameters at 14 columns.
BATCH = 500


class AuditConflict(RuntimeError):
    """An audit entry was written with a seq the store already holds under another hash."""


class RecordStore:
    def __init__(self, engine: Engine, sealer: Sealer) -> None:
        self.engine = engine
        self.sealer = sealer
        self.reader = RecordReader(engine, sealer)

    @classmethod
    def open(cls, url: str, *, codec: EncryptionCodec | None) -> RecordStore:
        return cls(make_engine(url), Sealer(codec))

    def dispose(self) -> None:
        self.engine.dispose()

    def add_protocol(self, version: ProtocolVersion) -> int:
        row = {
            "content_hash": version.content_hash,
            "protocol_id": version.protocol_id,
            "version": version.version,
            "body": json.dumps(version.body, sort_keys=True, ensure_ascii=False),
            "recorded_at": datetime.now(UTC),
        }
        with self.engine.begin() as conn:
            return insert_once(conn, schema.protocol_versions, [row])

    def add_pathway(self, facts: PathwayFacts) -> int:
        seal = self.sealer.seal
        row = {
            **facts.model_dump(exclude={"disease", "binome"}),
            "therapy": facts.therapy.value,
            "disease_sealed": seal(facts.disease),
            "binome_sealed": seal(facts.binome),
        }
        with self.engine.begin() as conn:
            return insert_once(conn, schema.pathways, [row])

    def add_audit(self, pathway_id: str, *, run: int, entries: Sequence[AuditEntry]) -> int:
        seal = self.sealer.seal
        rows = [
            {
                "pathway_id": pathway_id,
                "seq": e.seq,
                "run": run,
                "at": e.at,
                "event": e.event,
                "role": e.role.value,
                "from_state": e.from_state,
                "to_state": e.to_state,
                "actor_sealed": seal(e.actor),
                "reason_sealed": seal(e.reason),
                "update_id_sealed": seal(e.update_id),
                "data_sealed": seal(e.data),
                "prev_hash": e.prev_hash,
                "hash": e.hash,
                "meaning": e.meaning,
                "cosigner_sealed": seal(e.cosigner) if e.cosigner is not None else None,
                "cosigner_role": e.cosigner_role.value if e.cosigner_role else None,
                "cosigner_meaning": e.cosigner_meaning,
                "chain": e.chain,
            }
            for e in entries
        ]
        with self.engine.begin() as conn:
            added = insert_once(conn, schema.audit_entries, rows)
            if added < len(rows):
                _refuse_forks(conn, pathway_id, entries)
            return added

    def add_incidents(self, pathway_id: str, *, run: int, incidents: Iterable[Incident]) -> int:
        seal = self.sealer.seal
        rows = [
            {
                "pathway_id": pathway_id,
                "run": run,
                "seq": i.seq,
                "at": i.at,
                "kind": i.kind,
                "summary_sealed": seal(i.summary),
                "data_sealed": seal(i.data),
            }
            for i in incidents
        ]
        return self._append(schema.incidents, rows)

    def add_product_events(
        self, pathway_id: str, *, run: int, events: Iterable[ProductEvent]
    ) -> int:
        rows = [
            {"pathway_id": pathway_id, "run": run, **e.model_dump(), "kind": e.kind.value}
            for e in events
        ]
        return self._append(schema.product_events, rows)

    def add_visits(self, pathway_id: str, *, run: int, visits: Iterable[VisitRecord]) -> int:
        rows = [{"pathway_id": pathway_id, "run": run, **v.model_dump()} for v in visits]
        return self._append(schema.visits, rows)

    def add_adverse_events(
        self, pathway_id: str, *, run: int, events: Iterable[AdverseEventRecord]
    ) -> int:
        rows = [
            {
                "pathway_id": pathway_id,
                "run": run,
                **e.model_dump(exclude=SEALED_AE_FACTS),
                # Facts the table has no column for travel sealed, and come back on reading.
                "detail_sealed": self.sealer.seal(
                    e.model_dump(mode="json", include=SEALED_AE_FACTS)
                ),
            }
            for e in events
        ]
        return self._append(schema.adverse_events, rows)

    def close_pathway(self, pathway_id: str, outcome: Outcome) -> int:
        return self._append(schema.outcomes, [{"pathway_id": pathway_id, **outcome.model_dump()}])

    def add_closing_record(self, record: PathwayRecord, *, run: int) -> int:
        """The record as it stood when the pathway closed, its audit trail apart (the
        audit_entries rows hold it, and ``reader.closing_record`` puts it back)."""
        row = {
            "pathway_id": record.pathway_id,
            "run": run,
            "record_sealed": self.sealer.seal(record.model_dump(mode="json", exclude={"audit"})),
        }
        return self._append(schema.closing_records, [row])

    def _append(self, table: Table, rows: list[dict[str, Any]]) -> int:
        with self.engine.begin() as conn:
            return insert_once(conn, table, rows)


def insert_once(conn: Connection, table: Table, rows: Sequence[Mapping[str, Any]]) -> int:
    """Insert the rows whose key is not stored yet; the number of rows inserted."""
    dialect = conn.dialect.name
    if dialect not in ("sqlite", "postgresql"):
        raise ValueError(f"the record store runs on SQLite or PostgreSQL, not {dialect}")
    insert = sqlite.insert if dialect == "sqlite" else postgresql.insert
    key = next(iter(table.primary_key.columns))
    added = 0
    for start in range(0, len(rows), BATCH):
        chunk = list(rows[start : start + BATCH])
        # RETURNING yields only the rows inserted; psycopg reports no rowcount here (-1).
        statement = insert(table).values(chunk).on_conflict_do_nothing().returning(key)
        added += len(conn.execute(statement).all())
    return added


def _refuse_forks(conn: Connection, pathway_id: str, entries: Sequence[AuditEntry]) -> None:
    table = schema.audit_entries
    keys = [(pathway_id, e.seq) for e in entries]
    query = select(table.c.seq, table.c.hash).where(
        tuple_(table.c.pathway_id, table.c.seq).in_(keys)
    )
    stored = {row.seq: row.hash for row in conn.execute(query)}
    forks = [e.seq for e in entries if stored.get(e.seq) != e.hash]
    if forks:
        raise AuditConflict(
            f"{pathway_id}: audit entries {forks} are already stored with other content "
            "(a forked chain); nothing of this write was kept"
        )
