"""What the record store keeps about a pathway, as pydantic models beside models/record.py.

The workflow's own models stay the contract where they fit: audit entries are
``models.record.AuditEntry`` and adverse events ``models.record.AdverseEventRecord``. The
models here cover what the workflow record does not name one by one: a protocol version
keyed by its content hash, the referral's pseudonymous facts, incidents, the product's
chain-of-identity events, visits, the outcome, and the answers to a read (a stored
pathway, a trace, a closed pathway).
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

from pydantic import BaseModel, ConfigDict

from models.audit import ChainProblem, verify_chain
from models.carried import content_hash, protocol_body
from models.protocol import Protocol, Therapy
from models.record import AdverseEventRecord, AuditEntry
from models.referral import Binome


class ProtocolVersion(BaseModel):
    """One version of a protocol, named by the SHA-256 of its canonical JSON."""

    model_config = ConfigDict(frozen=True)
    protocol_id: str
    version: str
    content_hash: str
    body: dict[str, Any]

    @classmethod
    def of(cls, protocol: Protocol, *, version: str = "1") -> ProtocolVersion:
        body = protocol_body(protocol)
        return cls(
            protocol_id=protocol.id, version=version, content_hash=content_hash(body), body=body
        )

    def protocol(self) -> Protocol:
        return Protocol.model_validate(self.body)


class PathwayFacts(BaseModel):
    """The referral's pseudonymous facts and the protocol version the pathway runs."""

    pathway_id: str
    pseudonym: str
    centre: str
    therapy: Therapy
    disease: str
    age_band: str | None = None
    binome: Binome
    protocol_id: str
    protocol_version: str
    protocol_hash: str
    referred_at: datetime
    started_at: datetime


class Incident(BaseModel):
    """Something an inspector must see at once: a quarantine, an out-of-specification
    finding, a missed deadline, a lapsed centre prerequisite."""

    seq: int
    at: datetime
    kind: str
    summary: str
    data: dict[str, Any] = {}


class ProductEventKind(StrEnum):
    COLLECTED = "collected"
    SHIPPED = "shipped"
    RELEASED = "released"
    ORDERED = "ordered"
    RECEIVED = "received"
    QUARANTINED = "quarantined"
    THAWED = "thawed"
    INFUSED = "infused"
    DISCARDED = "discarded"


class ProductEvent(BaseModel):
    """One step of the product's chain of identity, with the identifiers it names."""

    seq: int
    at: datetime
    kind: ProductEventKind
    coi_id: str | None = None
    bag_id: str | None = None
    lot: str | None = None
    manufacturer: str | None = None
    storage_location: str | None = None

    def names(self, identifier: str) -> bool:
        return identifier in (self.coi_id, self.bag_id, self.lot)


class VisitRecord(BaseModel):
    seq: int
    visit: str
    at: datetime


class Outcome(BaseModel):
    """How the pathway closed, and the audit chain's head at that moment (its anchor)."""

    run: int
    closed_at: datetime
    outcome: str
    final_state: str
    audit_head_seq: int
    audit_head_hash: str


class StoredPathway(BaseModel):
    """Everything the store holds about one pathway."""

    facts: PathwayFacts
    protocol: ProtocolVersion
    audit: list[AuditEntry]
    incidents: list[Incident]
    product: list[ProductEvent]
    visits: list[VisitRecord]
    adverse_events: list[AdverseEventRecord]
    outcome: Outcome | None = None

    def verify(self) -> list[ChainProblem]:
        """The audit chain's problems; a closed pathway's chain must end at its outcome's head."""
        head = self.outcome.audit_head_hash if self.outcome else None
        return verify_chain(self.audit, self.facts.pathway_id, head=head)


class TraceHit(BaseModel):
    """A pathway that touched a lot, bag or COI, and the product events that name it."""

    pathway_id: str
    pseudonym: str
    centre: str
    therapy: Therapy
    first_at: datetime
    last_at: datetime
    events: list[ProductEvent]


class ClosedPathway(BaseModel):
    pathway_id: str
    pseudonym: str
    centre: str
    therapy: Therapy
    outcome: str
    closed_at: datetime
