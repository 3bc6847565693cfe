"""Writing a pathway's facts to the record store (the ``keep_records`` activity), and
reading back the protocol version a lean run names (``fetch_protocol_version``).

Usage (worker)::

    keeping = RecordKeeping(RecordStore.open(url, codec=codec))
    Worker(..., activities=[keeping.keep_records, keeping.fetch_protocol, ...])

The workflow sends only what the store does not hold yet (models/record_writes.py); this
writes it, parents first: the protocol version and the pathway's row (first write), the audit
entries, the product events and visits they record (store/trail_facts.py), adverse events,
incidents, and, when the pathway closes, its closing record and outcome. Each write is
``INSERT … ON CONFLICT DO NOTHING`` on its key, so an attempt retried after a worker crash
(some rows written, some not) completes the write and adds nothing twice; and a fact whose
seq the pathway already has in its table (written by a write that gave up half done, whose
facts the next run's write carries again) is not written under the new run.

Limitations: the database calls block, so they run in a thread; an audit fork
(``AuditConflict``) fails the attempt and is retried like any error, visible in the Web UI
as a failing activity until someone looks.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Protocol, TypeVar

import structlog
from temporalio import activity
from temporalio.exceptions import ApplicationError

from models import contracts
from models.carried import ProtocolRef, content_hash, packed_body
from models.record_writes import RecordsKept, RecordWrite
from store.facts import Incident, Outcome, PathwayFacts, ProtocolVersion
from store.records import RecordStore
from store.trail_facts import product_events, visits

log = structlog.get_logger("cellpath.records")


class Numbered(Protocol):
    @property
    def seq(self) -> int: ...


Fact = TypeVar("Fact", bound=Numbered)


class RecordKeeping:
    """The activity that needs the record store."""

    def __init__(self, records: RecordStore) -> None:
        self.records = records

    @activity.defn(name=contracts.KEEP_RECORDS)
    async def keep_records(self, write: RecordWrite) -> RecordsKept:
        kept = await asyncio.to_thread(self.write, write)
        log.info(
            "records kept",
            pathway_id=write.pathway_id,
            run=write.run,
            cause=write.cause.value,
            **kept.model_dump(),
        )
        return kept

    @activity.defn(name=contracts.FETCH_PROTOCOL)
    async def fetch_protocol(self, ref: ProtocolRef) -> bytes:
        """The protocol version ``ref`` names, as the pathway's first write stored it,
        compressed. A version the store lacks, or whose content does not hash to ``ref``,
        fails for good: a run never picks up another protocol than its pathway's."""
        found = await asyncio.to_thread(self.records.reader.protocol_version, ref.content_hash)
        if found is None or found.protocol_id != ref.protocol_id:
            raise ApplicationError(
                f"The record store holds no protocol version {ref.content_hash[:12]}… of "
                f"{ref.protocol_id}; the pathway cannot go on without it.",
                type="ProtocolVersionMissing",
                non_retryable=True,
            )
        if content_hash(found.body) != ref.content_hash:
            raise ApplicationError(
                f"The stored protocol version {ref.content_hash[:12]}… does not hash to its "
                "key (edited in the store?); the pathway cannot go on with it.",
                type="ProtocolVersionAltered",
                non_retryable=True,
            )
        return packed_body(found.body)

    def write(self, write: RecordWrite) -> RecordsKept:
        records, pid, run = self.records, write.pathway_id, write.run
        if write.opening is not None:
            opening = write.opening
            version = ProtocolVersion.of(opening.protocol)
            records.add_protocol(version)
            records.add_pathway(
                PathwayFacts(
                    pathway_id=pid,
                    **opening.model_dump(exclude={"protocol", "referred_at"}),
                    protocol_id=version.protocol_id,
                    protocol_version=version.version,
                    protocol_hash=version.content_hash,
                    referred_at=opening.referred_at,
                    started_at=opening.referred_at,
                )
            )
        new = self._not_stored
        kept = RecordsKept(
            audit=records.add_audit(pid, run=run, entries=write.audit),
            product_events=records.add_product_events(
                pid,
                run=run,
                events=new("product_events", pid, product_events(write.audit, coi_id=write.coi_id)),
            ),
            visits=records.add_visits(pid, run=run, visits=new("visits", pid, visits(write.audit))),
            adverse_events=records.add_adverse_events(
                pid, run=run, events=new("adverse_events", pid, write.adverse_events)
            ),
            incidents=records.add_incidents(
                pid,
                run=run,
                incidents=new(
                    "incidents",
                    pid,
                    [Incident.model_validate(i.model_dump()) for i in write.incidents],
                ),
            ),
        )
        if write.closing is not None:
            closing = write.closing
            records.add_closing_record(closing.record, run=run)
            records.close_pathway(
                pid,
                Outcome(
                    run=run,
                    closed_at=closing.closed_at,
                    outcome=closing.outcome,
                    final_state=closing.final_state,
                    audit_head_seq=closing.head_seq,
                    audit_head_hash=closing.head_hash,
                ),
            )
            kept.closed = True
        return kept

    def _not_stored(self, table: str, pathway_id: str, facts: Sequence[Fact]) -> list[Fact]:
        """The facts whose seq ``table`` does not hold for the pathway under any run: a write
        given up half done in one run and carried by the next run's adds nothing twice."""
        if not facts:
            return []
        stored = self.records.reader.stored_seqs(table, pathway_id)
        return [f for f in facts if f.seq not in stored]
