"""The protocol claim check (models/protocol_claim_check.py): a marked payload's protocol
goes to the shelf by content hash and comes back checked; the rest is compressed, then
encrypted like any payload; unmarked payloads are untouched."""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest
from temporalio.api.common.v1 import Payload
from temporalio.contrib.pydantic import pydantic_data_converter

from models.carried import ProtocolRef, content_hash, protocol_body
from models.encryption import ENCODING, EncryptionCodec, KeyRing
from models.pathway import PathwayInput
from models.protocol import Therapy, load_default_protocol
from models.protocol_claim_check import (
    CLAIM_CHECK,
    COMPRESSED,
    PROTOCOL_HASH,
    ProtocolClaimCheck,
    ProtocolMissing,
    ShelfOf,
    claim_checked,
)
from models.record_writes import Opening, RecordWrite, WriteCause
from tests.unit.test_lean_runs import stored_record

PROTOCOL = load_default_protocol(Therapy.CAR_T)
CONVERTER = pydantic_data_converter.payload_converter


def carried() -> PathwayInput:
    return PathwayInput(
        protocol=PROTOCOL, protocol_ref=ProtocolRef.of(PROTOCOL), record=stored_record()
    )


def marked() -> Payload:
    return claim_checked(carried(), CONVERTER, "protocol").payload


class CountingShelf(ShelfOf):
    def __init__(self, bodies: Any = ()) -> None:
        super().__init__(bodies)
        self.gets = 0
        self.puts = 0

    def get(self, digest: str) -> dict[str, Any] | None:
        self.gets += 1
        return super().get(digest)

    def put(self, digest: str, body: dict[str, Any]) -> None:
        self.puts += 1
        super().put(digest, body)


async def test_the_protocol_goes_to_the_shelf_and_comes_back() -> None:
    shelf = CountingShelf()
    codec = ProtocolClaimCheck(shelf)
    whole = marked()
    [sent] = await codec.encode([whole])
    digest = content_hash(protocol_body(PROTOCOL))
    assert list(shelf.bodies) == [digest] and shelf.puts == 1
    assert sent.metadata["encoding"] == COMPRESSED
    assert sent.ByteSize() < whole.ByteSize() / 3
    [back] = await ProtocolClaimCheck(ShelfOf(shelf.bodies.values())).decode([sent])
    assert CLAIM_CHECK not in back.metadata and PROTOCOL_HASH not in back.metadata
    [value] = CONVERTER.from_payloads([back], [PathwayInput])
    assert value == carried()


async def test_a_known_protocol_is_not_stored_again() -> None:
    shelf = CountingShelf([protocol_body(PROTOCOL)])
    codec = ProtocolClaimCheck(shelf)
    for _ in range(3):
        [sent] = await codec.encode([marked()])
        await codec.decode([sent])
    assert shelf.puts == 0
    assert shelf.gets == 1, "the codec remembers what it has seen"


async def test_unmarked_payloads_pass_untouched() -> None:
    codec = ProtocolClaimCheck(CountingShelf())
    [plain] = CONVERTER.to_payloads([carried()])
    assert await codec.encode([plain]) == [plain]
    assert await codec.decode([plain]) == [plain]


async def test_a_missing_protocol_fails_the_decode_unless_lenient() -> None:
    [sent] = await ProtocolClaimCheck(ShelfOf()).encode([marked()])
    with pytest.raises(ProtocolMissing):
        await ProtocolClaimCheck(ShelfOf()).decode([sent])
    [shown] = await ProtocolClaimCheck(ShelfOf(), lenient=True).decode([sent])
    assert shown.metadata[PROTOCOL_HASH].decode() == content_hash(protocol_body(PROTOCOL))


async def test_an_altered_protocol_is_refused() -> None:
    shelf = ShelfOf()
    [sent] = await ProtocolClaimCheck(shelf).encode([marked()])
    [digest] = shelf.bodies
    shelf.bodies[digest] = {**shelf.bodies[digest], "id": "another"}
    with pytest.raises(ProtocolMissing, match="does not hash"):
        await ProtocolClaimCheck(shelf).decode([sent])


async def test_a_shelf_that_fails_leaves_the_protocol_in_the_payload() -> None:
    class Down(ShelfOf):
        def get(self, digest: str) -> dict[str, Any] | None:
            raise ConnectionError("store down")

    [sent] = await ProtocolClaimCheck(Down()).encode([marked()])
    [back] = await ProtocolClaimCheck(ShelfOf()).decode([sent])
    assert CONVERTER.from_payloads([back], [PathwayInput])[0] == carried()


async def test_encrypted_after_the_claim_check() -> None:
    ring = KeyRing.generate("k1")
    shelf = ShelfOf()
    codec = ProtocolClaimCheck(shelf, inner=EncryptionCodec(ring))
    [sent] = await codec.encode([marked()])
    assert sent.metadata["encoding"] == ENCODING
    assert b"pathway" not in sent.data
    # The protocol (no patient data) is in the shelf in clear; the record never is.
    assert list(shelf.bodies) == [content_hash(protocol_body(PROTOCOL))]
    converter = dataclasses.replace(pydantic_data_converter, payload_codec=codec)
    [value] = await converter.decode([sent], [PathwayInput])
    assert value == carried()


async def test_a_store_write_keeps_its_opening_protocol_in_the_shelf() -> None:
    record = stored_record()
    write = RecordWrite(
        pathway_id=record.pathway_id,
        run=1,
        cause=WriteCause.INFUSION,
        opening=Opening.of(record, PROTOCOL),
        coi_id=None,
        audit=[],
        adverse_events=[],
        incidents=[],
    )
    shelf = ShelfOf()
    codec = ProtocolClaimCheck(shelf)
    [sent] = await codec.encode([claim_checked(write, CONVERTER, "opening.protocol").payload])
    assert list(shelf.bodies) == [content_hash(protocol_body(PROTOCOL))]
    [back] = await codec.decode([sent])
    [value] = CONVERTER.from_payloads([back], [RecordWrite])
    assert value == write
