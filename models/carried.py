"""What a lean run carries instead of what the record store already holds (issue 13).

A pathway continues as new at each follow-up year. Since ``workflow.patched("lean-runs")``
the next run's input names its protocol by ID and content hash (``ProtocolRef``, fetched
from the store's ``protocol_versions`` by an activity) and its record leaves behind what
earlier runs wrote to the store, keeping only ``EarlierRuns``: the audit chain's head (seq
and hash) and how many incidents the store holds.

Usage::

    ref = ProtocolRef.of(protocol)           # in the workflow, before continue-as-new
    data = packed_body(body)                  # the fetch activity's answer: compressed
    unpacked_body(data, ref.content_hash)     # back, its hash checked
    record.earlier = EarlierRuns(audit_seq=41, audit_hash="3f2a…", incidents=2)
"""

from __future__ import annotations

import base64
import hashlib
import json
import zlib
from typing import Any

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    SerializerFunctionWrapHandler,
    WrapSerializer,
)

from models.protocol import Protocol


def protocol_body(protocol: Protocol) -> dict[str, Any]:
    """A protocol as the store keeps it (JSON)."""
    return protocol.model_dump(mode="json")


def canonical_json(body: Any) -> bytes:
    return json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def content_hash(body: dict[str, Any]) -> str:
    """The SHA-256 of a protocol body's canonical JSON: what names a protocol version."""
    return hashlib.sha256(canonical_json(body)).hexdigest()


class ProtocolAltered(ValueError):
    """A protocol body that does not hash to the version it was fetched as."""


def packed_body(body: dict[str, Any]) -> bytes:
    """A protocol body as a lean run's fetch returns it: its canonical JSON, compressed
    (zlib; a binary payload, ~7 KB of history instead of ~35 KB, docs/performance.md)."""
    return zlib.compress(canonical_json(body), 9)


def unpacked_body(data: bytes, expected_hash: str) -> dict[str, Any]:
    """The protocol body of ``packed_body``, checked against ``expected_hash``."""
    body: dict[str, Any] = json.loads(zlib.decompress(data))
    if content_hash(body) != expected_hash:
        raise ProtocolAltered(
            f"the protocol fetched as version {expected_hash[:12]}… does not hash to it"
        )
    return body


def pack(value: Any) -> str:
    """JSON-able ``value`` compressed into a string (zlib, base64): what a lean run's input
    and the store's first write carry in place of a record or a protocol."""
    # Keys in their order (not canonical): a record's dicts read back as they were written.
    text = json.dumps(value, separators=(",", ":"), ensure_ascii=False)
    return base64.b64encode(zlib.compress(text.encode(), 9)).decode()


def unpack(value: Any) -> Any:
    """``value`` as ``pack`` took it; anything but a string is returned as it is."""
    if not isinstance(value, str):
        return value
    return json.loads(zlib.decompress(base64.b64decode(value)))


def _packed_json(value: Any, handler: SerializerFunctionWrapHandler) -> str:
    return pack(handler(value))


#: ``Annotated[T, *PACKED]``: a field written packed in JSON (Temporal payloads), read back
#: packed or not (inputs written before it was packed still load)
PACKED = (BeforeValidator(unpack), WrapSerializer(_packed_json, when_used="json"))


class ProtocolRef(BaseModel):
    """A protocol version by its ID and content hash (the key of ``protocol_versions``)."""

    model_config = ConfigDict(frozen=True)

    protocol_id: str
    content_hash: str

    @classmethod
    def of(cls, protocol: Protocol) -> ProtocolRef:
        return cls(protocol_id=protocol.id, content_hash=content_hash(protocol_body(protocol)))


class EarlierRuns(BaseModel):
    """What earlier runs of a pathway wrote to the record store and its record no longer
    carries: its audit trail up to ``audit_seq`` (whose entry's hash is ``audit_hash``, the
    link the next entry chains to) and its first ``incidents`` incidents."""

    audit_seq: int = 0
    audit_hash: str
    incidents: int = 0
