"""The protocol claim check: a payload codec that keeps a pathway's protocol out of its
history, in the record store by content hash (Temporal's "claim check" pattern; issue 13).

A pathway's protocol (~35 KB of JSON, ~7 KB packed) is the same for every run of every
pathway on that version, and holds no patient data. Workflow code marks the payloads that
carry one (``claim_checked``: the JSON path of the protocol field); on its way out this codec
takes the protocol out of such a payload, makes sure the store's ``protocol_versions`` holds
it (content-addressed: the SHA-256 of its canonical JSON, shared by every pathway), and
leaves its hash in the payload's metadata; then it compresses what is left (zlib), when that
makes it smaller: these payloads carry the record and audit entries packed (zlib and base64,
models/carried.py), and compressing them again wins back the base64 (~25 %). On the way in it
decompresses and puts the protocol back, from the store, checked against its hash. History
keeps ~100 bytes instead of the protocol.

Codec order: this codec sees payloads in clear and hands them on to ``inner`` (the
encryption codec) on the way out, and takes them from it on the way in: everything but the
protocol, patient data included, stays encrypted as before; the protocol is stored in clear.

Usage::

    codec = ProtocolClaimCheck(StoreShelf(records), inner=EncryptionCodec(ring))
    converter = dataclasses.replace(converter, payload_codec=codec)        # the worker's

    # workflow code: the input of the next run, its protocol kept in the store
    workflow.continue_as_new(claim_checked(next_input, "protocol"))

Limitations: only a payload marked by workflow code is touched (a run's input, a store
write's input), so a client (CLI, web app) never meets a claim check in what it reads; reading a marked payload back needs a codec with
a shelf that holds its protocol (the worker's, the codec server's, a replay test's). Without
this codec a marked payload travels whole, as before. A payload whose protocol cannot be
stored travels whole too.
"""

from __future__ import annotations

import asyncio
import json
import zlib
from collections import OrderedDict
from collections.abc import Iterable, Sequence
from typing import Any, Protocol

from temporalio.api.common.v1 import Payload
from temporalio.common import RawValue
from temporalio.converter import PayloadCodec, PayloadConverter

from models.carried import content_hash, pack, unpack

#: metadata set by workflow code: the JSON path of the payload's protocol field (``a.b``)
CLAIM_CHECK = "cellpath-claim-check"
#: metadata of a payload whose protocol the codec took out: its content hash
PROTOCOL_HASH = "cellpath-protocol"
#: ... and where it was (the JSON path)
PROTOCOL_AT = "cellpath-protocol-at"
#: protocols kept per process (each ~9 KB packed)
CACHE_SIZE = 32
#: the encoding of a marked payload compressed: zlib of the payload it replaces (serialized)
COMPRESSED = b"binary/zlib"


class ProtocolMissing(LookupError):
    """A claim-checked payload names a protocol that the shelf does not hold."""


class ProtocolShelf(Protocol):
    """Where protocol bodies are kept by content hash (blocking calls: run in a thread)."""

    def get(self, digest: str) -> dict[str, Any] | None: ...

    def put(self, digest: str, body: dict[str, Any]) -> None: ...


class ShelfOf:
    """A shelf in memory, of the protocols given (replay tests, the bench's own readers)."""

    def __init__(self, bodies: Iterable[dict[str, Any]] = ()) -> None:
        self.bodies = {content_hash(body): body for body in bodies}

    def get(self, digest: str) -> dict[str, Any] | None:
        return self.bodies.get(digest)

    def put(self, digest: str, body: dict[str, Any]) -> None:
        self.bodies[digest] = body


def claim_checked(value: Any, converter: PayloadConverter, at: str) -> RawValue:
    """``value`` as a payload marked for the claim check (workflow code: pass
    ``workflow.payload_converter()``); ``at``: the JSON path of its protocol field."""
    [payload] = converter.to_payloads([value])
    payload.metadata[CLAIM_CHECK] = at.encode()
    return RawValue(payload)


def _parent(data: Any, at: str) -> tuple[dict[str, Any] | None, str]:
    """The object holding the field at dotted path ``at``, and the field's name."""
    *path, field = at.split(".")
    for name in path:
        data = data.get(name) if isinstance(data, dict) else None
    return (data if isinstance(data, dict) else None), field


def _dumps(data: Any) -> bytes:
    # As the pydantic converter writes JSON: compact, UTF-8.
    return json.dumps(data, separators=(",", ":"), ensure_ascii=False).encode()


def _compressed(payload: Payload) -> Payload:
    """``payload`` serialized and compressed, when that is smaller; else as it is."""
    packed = zlib.compress(payload.SerializeToString(), 9)
    if len(packed) >= payload.ByteSize():
        return payload
    return Payload(metadata={"encoding": COMPRESSED}, data=packed)


def _decompressed(payload: Payload) -> Payload:
    if payload.metadata.get("encoding") != COMPRESSED:
        return payload
    return Payload.FromString(zlib.decompress(payload.data))


class ProtocolClaimCheck(PayloadCodec):
    """Protocols of marked payloads out to ``shelf`` on encode, back on decode; every
    payload then through ``inner`` (encode) or from it (decode)."""

    def __init__(
        self, shelf: ProtocolShelf, inner: PayloadCodec | None = None, *, lenient: bool = False
    ) -> None:
        """``lenient``: a protocol that cannot be read leaves its payload as it is (claim
        check and all), instead of failing the decode (the codec server's, for display)."""
        super().__init__()
        self.shelf = shelf
        self.inner = inner
        self.lenient = lenient
        #: protocols by content hash, packed (what a payload gets back)
        self._bodies: OrderedDict[str, str] = OrderedDict()
        #: content hash by packed protocol (what a payload carries), not to unpack each time
        self._digests: dict[str, str] = {}

    def __repr__(self) -> str:
        return f"ProtocolClaimCheck(inner={self.inner!r})"

    async def encode(self, payloads: Sequence[Payload]) -> list[Payload]:
        out = [await self._check(p) if CLAIM_CHECK in p.metadata else p for p in payloads]
        return await self.inner.encode(out) if self.inner else out

    async def decode(self, payloads: Sequence[Payload]) -> list[Payload]:
        plain = await self.inner.decode(payloads) if self.inner else list(payloads)
        plain = [_decompressed(p) for p in plain]
        return [await self._resolved(p) if PROTOCOL_HASH in p.metadata else p for p in plain]

    async def _resolved(self, payload: Payload) -> Payload:
        try:
            return await self._resolve(payload)
        except Exception:
            if self.lenient:
                return payload
            raise

    async def _check(self, payload: Payload) -> Payload:
        at = payload.metadata[CLAIM_CHECK].decode()
        out = Payload()
        out.CopyFrom(payload)
        del out.metadata[CLAIM_CHECK]
        data = json.loads(payload.data)
        parent, field = _parent(data, at)
        value = parent.get(field) if parent is not None else None
        if parent is not None and value is not None:
            try:
                digest = await self._keep(value)
            except Exception:  # the store unreachable: the protocol stays in the payload
                return _compressed(out)
            parent[field] = None
            out.data = _dumps(data)
            out.metadata[PROTOCOL_HASH] = digest.encode()
            out.metadata[PROTOCOL_AT] = at.encode()
        return _compressed(out)

    async def _resolve(self, payload: Payload) -> Payload:
        digest = payload.metadata[PROTOCOL_HASH].decode()
        at = payload.metadata[PROTOCOL_AT].decode()
        body = await self._body(digest)
        data = json.loads(payload.data)
        parent, field = _parent(data, at)
        if parent is None:
            raise ProtocolMissing(f"a claim-checked payload has no {at!r} to put its protocol in")
        parent[field] = body
        out = Payload()
        out.CopyFrom(payload)
        del out.metadata[PROTOCOL_HASH]
        del out.metadata[PROTOCOL_AT]
        out.data = _dumps(data)
        return out

    async def _keep(self, value: Any) -> str:
        """The content hash of the protocol ``value`` (as a payload carries it: packed or
        not), once the shelf holds it."""
        key = value if isinstance(value, str) else None
        digest = self._digests.get(key) if key is not None else None
        if digest is not None and digest in self._bodies:
            self._bodies.move_to_end(digest)
            return digest
        body = unpack(value)
        digest = content_hash(body)
        if digest not in self._bodies:
            if await asyncio.to_thread(self.shelf.get, digest) is None:
                await asyncio.to_thread(self.shelf.put, digest, body)
            self._remember(digest, body)
        if key is not None:
            self._digests[key] = digest
            while len(self._digests) > CACHE_SIZE:
                self._digests.pop(next(iter(self._digests)))
        return digest

    async def _body(self, digest: str) -> str:
        """The protocol ``digest`` names, packed (models.carried.pack) as payloads carry it."""
        body = self._bodies.get(digest)
        if body is not None:
            self._bodies.move_to_end(digest)
            return body
        found = await asyncio.to_thread(self.shelf.get, digest)
        if found is None:
            raise ProtocolMissing(
                f"protocol version {digest[:12]}… is not in the record store: a payload that "
                "names it cannot be read (docs/performance.md, the protocol claim check)"
            )
        if content_hash(found) != digest:
            raise ProtocolMissing(f"the stored protocol version {digest[:12]}… does not hash to it")
        return self._remember(digest, found)

    def _remember(self, digest: str, body: dict[str, Any]) -> str:
        packed = self._bodies[digest] = pack(body)
        while len(self._bodies) > CACHE_SIZE:
            self._bodies.popitem(last=False)
        return packed
