"""What a lean run carries instead of what the record store already holds (issue 13).

A pathway continues as new at each follow-up year. Since ``workflow.patched("lean-runs")``
the next run's input names its protocol by ID and content hash (``ProtocolRef``, fetched
from the store's ``protocol_versions`` by an activity) and its record leaves behind what
earlier runs wrote to the store, keeping only ``EarlierRuns``: the audit chain's head (seq
and hash) and how many incidents the store holds.

Usage::

    ref = ProtocolRef.of(protocol)           # in the workflow, before continue-as-new
    ref.matches(protocol)                    # the fetched protocol is the one named
    record.earlier = EarlierRuns(audit_seq=41, audit_hash="3f2a…", incidents=2)
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

from pydantic import BaseModel, ConfigDict

from models.protocol import Protocol


def protocol_body(protocol: Protocol) -> dict[str, Any]:
    """A protocol as the store keeps it (JSON)."""
    return protocol.model_dump(mode="json")


def content_hash(body: dict[str, Any]) -> str:
    """The SHA-256 of a protocol body's canonical JSON: what names a protocol version."""
    canonical = json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(canonical.encode()).hexdigest()


class ProtocolRef(BaseModel):
    """A protocol version by its ID and content hash (the key of ``protocol_versions``)."""

    model_config = ConfigDict(frozen=True)

    protocol_id: str
    content_hash: str

    @classmethod
    def of(cls, protocol: Protocol) -> ProtocolRef:
        return cls(protocol_id=protocol.id, content_hash=content_hash(protocol_body(protocol)))

    def matches(self, protocol: Protocol) -> bool:
        return ProtocolRef.of(protocol) == self


class EarlierRuns(BaseModel):
    """What earlier runs of a pathway wrote to the record store and its record no longer
    carries: its audit trail up to ``audit_seq`` (whose entry's hash is ``audit_hash``, the
    link the next entry chains to) and its first ``incidents`` incidents."""

    audit_seq: int = 0
    audit_hash: str
    incidents: int = 0
