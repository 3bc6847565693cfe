"""Reading a pathway's record back from the store: one pathway, a trace, the closed ones.

Usage::

    reader = RecordReader(engine, Sealer(codec))      # or RecordStore.reader
    stored = reader.pathway("pathway-centre-a-LUP-001")   # None when never stored
    stored.verify()                                    # [] when the audit chain is intact
    reader.trace("LOT-2026-0042")                      # who received lot X, and when
    reader.list_closed()

Sealed columns are decrypted with the same key ring that sealed them; an audit entry is
rebuilt from its columns and so re-hashed by ``verify``: a row changed in SQL no longer
matches its hash.
"""

from __future__ import annotations

import json
from collections import defaultdict
from typing import Any

from sqlalchemy import Connection, Engine, Row, RowMapping, Table, or_, select

import store.schema as schema
from models.record import AdverseEventRecord, AuditEntry, PathwayRecord
from models.referral import Binome
from store.facts import (
    ClosedPathway,
    Incident,
    Outcome,
    PathwayFacts,
    ProductEvent,
    ProtocolVersion,
    StoredPathway,
    TraceHit,
    VisitRecord,
)
from store.sealing import Sealer


class RecordReader:
    def __init__(self, engine: Engine, sealer: Sealer) -> None:
        self.engine = engine
        self.sealer = sealer

    def pathway(self, pathway_id: str) -> StoredPathway | None:
        with self.engine.connect() as conn:
            head = conn.execute(
                select(schema.pathways).where(schema.pathways.c.pathway_id == pathway_id)
            ).first()
            if head is None:
                return None
            protocol = conn.execute(
                select(schema.protocol_versions).where(
                    schema.protocol_versions.c.content_hash == head.protocol_hash
                )
            ).one()
            outcome = conn.execute(
                select(schema.outcomes).where(schema.outcomes.c.pathway_id == pathway_id)
            ).first()
            rows = {t.name: _rows(conn, t, pathway_id) for t in _FACT_TABLES}
        unseal = self.sealer.unseal
        return StoredPathway(
            facts=PathwayFacts(
                **_plain(head._mapping, "disease_sealed", "binome_sealed"),
                disease=unseal(head.disease_sealed, str),
                binome=unseal(head.binome_sealed, Binome),
            ),
            protocol=ProtocolVersion(
                protocol_id=protocol.protocol_id,
                version=protocol.version,
                content_hash=protocol.content_hash,
                body=json.loads(protocol.body),
            ),
            audit=[self._audit_entry(r) for r in rows["audit_entries"]],
            incidents=[
                Incident(
                    seq=r.seq,
                    at=r.at,
                    kind=r.kind,
                    summary=unseal(r.summary_sealed, str),
                    data=unseal(r.data_sealed, dict),
                )
                for r in rows["incidents"]
            ],
            product=[
                ProductEvent.model_validate(_plain(r._mapping)) for r in rows["product_events"]
            ],
            visits=[VisitRecord.model_validate(_plain(r._mapping)) for r in rows["visits"]],
            adverse_events=[
                AdverseEventRecord(
                    **_plain(r._mapping, "detail_sealed"), **unseal(r.detail_sealed, dict)
                )
                for r in rows["adverse_events"]
            ],
            outcome=Outcome.model_validate(_plain(outcome._mapping)) if outcome else None,
        )

    def closing_record(self, pathway_id: str) -> PathwayRecord | None:
        """The record of a closed pathway as its workflow last held it, with the audit trail
        rebuilt from the stored entries (and, for a pathway that ran lean, its deviation
        log from the stored incidents); None while the pathway has not closed."""
        table = schema.closing_records
        with self.engine.connect() as conn:
            row = conn.execute(select(table).where(table.c.pathway_id == pathway_id)).first()
            if row is None:
                return None
            audit = _rows(conn, schema.audit_entries, pathway_id)
            incidents = _rows(conn, schema.incidents, pathway_id)
        body = self.sealer.unseal(row.record_sealed, dict)
        whole: dict[str, Any] = {**body, "audit": [self._audit_entry(r) for r in audit]}
        if body.get("earlier") is not None:
            whole["incidents"] = [self.sealer.unseal(r.data_sealed, dict) for r in incidents]
            whole["earlier"] = None
        return PathwayRecord.model_validate(whole)

    def protocol_version(self, content_hash: str) -> ProtocolVersion | None:
        """The protocol version stored under ``content_hash``, if any."""
        table = schema.protocol_versions
        with self.engine.connect() as conn:
            row = conn.execute(select(table).where(table.c.content_hash == content_hash)).first()
        if row is None:
            return None
        return ProtocolVersion(
            protocol_id=row.protocol_id,
            version=row.version,
            content_hash=row.content_hash,
            body=json.loads(row.body),
        )

    def stored_seqs(self, table: str, pathway_id: str) -> set[int]:
        """The seqs a pathway has in ``table``, whatever run wrote them."""
        t = schema.metadata.tables[table]
        with self.engine.connect() as conn:
            return set(conn.scalars(select(t.c.seq).where(t.c.pathway_id == pathway_id)))

    def audit(self, pathway_id: str) -> list[AuditEntry]:
        with self.engine.connect() as conn:
            rows = _rows(conn, schema.audit_entries, pathway_id)
        return [self._audit_entry(r) for r in rows]

    def trace(self, identifier: str) -> list[TraceHit]:
        """Every pathway whose product events name ``identifier`` as a COI, bag or lot,
        earliest first, with those events and the first and last dates."""
        events, pathways = schema.product_events, schema.pathways
        query = (
            select(events, pathways.c.pseudonym, pathways.c.centre, pathways.c.therapy)
            .join(pathways, pathways.c.pathway_id == events.c.pathway_id)
            .where(
                or_(
                    events.c.coi_id == identifier,
                    events.c.bag_id == identifier,
                    events.c.lot == identifier,
                )
            )
            .order_by(events.c.at, events.c.pathway_id, events.c.run, events.c.seq)
        )
        with self.engine.connect() as conn:
            rows = conn.execute(query).all()
        grouped: dict[str, list[Row[Any]]] = defaultdict(list)
        for row in rows:
            grouped[row.pathway_id].append(row)
        hits = []
        for pathway_id, found in grouped.items():
            product = [ProductEvent.model_validate(_plain(r._mapping)) for r in found]
            hits.append(
                TraceHit(
                    pathway_id=pathway_id,
                    pseudonym=found[0].pseudonym,
                    centre=found[0].centre,
                    therapy=found[0].therapy,
                    first_at=product[0].at,
                    last_at=product[-1].at,
                    events=product,
                )
            )
        return hits

    def list_closed(self, *, centre: str | None = None) -> list[ClosedPathway]:
        """Pathways that closed, most recently closed first."""
        pathways, outcomes = schema.pathways, schema.outcomes
        query = (
            select(
                pathways.c.pathway_id,
                pathways.c.pseudonym,
                pathways.c.centre,
                pathways.c.therapy,
                outcomes.c.outcome,
                outcomes.c.closed_at,
            )
            .join(outcomes, outcomes.c.pathway_id == pathways.c.pathway_id)
            .order_by(outcomes.c.closed_at.desc(), pathways.c.pathway_id)
        )
        if centre is not None:
            query = query.where(pathways.c.centre == centre)
        with self.engine.connect() as conn:
            return [ClosedPathway.model_validate(_plain(r._mapping)) for r in conn.execute(query)]

    def _audit_entry(self, row: Row[Any]) -> AuditEntry:
        unseal = self.sealer.unseal
        sealed = ("actor_sealed", "reason_sealed", "update_id_sealed", "data_sealed")
        return AuditEntry(
            **_plain(row._mapping, *sealed, "cosigner_sealed", "chain"),
            chain=row.chain or 1,  # rows written before chain versions: version 1
            cosigner=unseal(row.cosigner_sealed, str) if row.cosigner_sealed else None,
            actor=unseal(row.actor_sealed, str),
            reason=unseal(row.reason_sealed),
            update_id=unseal(row.update_id_sealed),
            data=unseal(row.data_sealed, dict),
        )


_FACT_TABLES = (
    schema.audit_entries,
    schema.incidents,
    schema.product_events,
    schema.visits,
    schema.adverse_events,
)


def _rows(conn: Connection, table: Table, pathway_id: str) -> list[Row[Any]]:
    # The chain's order is its seq, across runs; other facts number within their run.
    order = [table.c.seq] if table is schema.audit_entries else [table.c.run, table.c.seq]
    query = select(table).where(table.c.pathway_id == pathway_id).order_by(*order)
    return list(conn.execute(query))


def _plain(row: RowMapping, *sealed: str) -> dict[str, Any]:
    """A row's clear columns; the models ignore the keys they do not name (``run``…)."""
    return {k: v for k, v in row.items() if k not in sealed}
