"""What a pathway hands the record store in one write: the contract of the ``keep_records``
activity, and the mark of what the store already holds.

Usage::

    write = RecordWrite(pathway_id=..., run=3, cause=WriteCause.RUN_END, audit=[...])
    # the workflow sends it (workflows/record_keeping.py); activities/record_store.py writes it
    record.stored = write.mark_after(record.stored)

A write carries only what the store does not hold yet: the audit entries after
``StoredMark.audit_seq``, the adverse events and incidents after their counts, the referral's
facts and the protocol on the first write only, the closing record when the pathway closes.
Every fact is keyed (pathway + seq, or pathway + run + seq), so a retried or replayed
activity writes nothing twice (docs/records.md).
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Annotated, Any

from pydantic import BaseModel

from models.carried import PACKED
from models.protocol import Protocol, Therapy
from models.record import AdverseEventRecord, AuditEntry, PathwayRecord, StoredMark
from models.referral import Binome


class WriteCause(StrEnum):
    """Why the workflow writes now (what the activity's summary says)."""

    INFUSION = "infusion"
    INCIDENT = "incident"
    RUN_END = "run end"
    CLOSED = "closed"


class IncidentFact(BaseModel):
    """An incident as the store keeps it (store/facts.py ``Incident``): numbered within its
    pathway, with what happened in words and its data. The incident log writes these."""

    seq: int
    at: datetime
    kind: str
    summary: str
    data: dict[str, Any] = {}


class Opening(BaseModel):
    """The referral's pseudonymous facts and the protocol: sent with the first write only."""

    pseudonym: str
    centre: str
    therapy: Therapy
    disease: str
    age_band: str | None = None
    binome: Binome
    referred_at: datetime
    #: packed in the activity's input (models.carried.PACKED: ~35 KB of history → ~7 KB)
    protocol: Annotated[Protocol, *PACKED]

    @classmethod
    def of(cls, record: PathwayRecord, protocol: Protocol) -> Opening:
        return cls(
            **record.model_dump(
                include={"pseudonym", "centre", "therapy", "disease", "age_band", "binome"}
            ),
            referred_at=record.referred_at,
            protocol=protocol,
        )


class Closing(BaseModel):
    """How the pathway closed, and its record as it stood then (the audit trail apart: the
    store keeps that entry by entry)."""

    closed_at: datetime
    outcome: str
    final_state: str
    #: the audit chain's last entry when it closed (0 and the genesis hash: no entry)
    head_seq: int
    head_hash: str
    #: the record with an empty ``audit`` (packed in history)
    record: Annotated[PathwayRecord, *PACKED]


class RecordWrite(BaseModel):
    pathway_id: str
    run: int
    cause: WriteCause
    opening: Opening | None = None
    #: the chain-of-identity ID the product events before it in this write name
    coi_id: str | None = None
    #: packed in history: the entries' data is most of a write's bytes
    audit: Annotated[list[AuditEntry], *PACKED] = []
    adverse_events: list[AdverseEventRecord] = []
    incidents: list[IncidentFact] = []
    closing: Closing | None = None

    def mark_after(self, before: StoredMark | None) -> StoredMark:
        """The mark once this write is stored."""
        before = before or StoredMark()
        return StoredMark(
            audit_seq=max([before.audit_seq, *(e.seq for e in self.audit)]),
            adverse_events=before.adverse_events + len(self.adverse_events),
            incidents=before.incidents + len(self.incidents),
        )


class RecordsKept(BaseModel):
    """How many rows of each kind were new (a retried write: zeros)."""

    audit: int = 0
    product_events: int = 0
    visits: int = 0
    adverse_events: int = 0
    incidents: int = 0
    closed: bool = False
