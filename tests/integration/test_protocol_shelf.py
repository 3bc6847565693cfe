"""The record store as the protocol claim check's shelf (store/protocol_shelf.py), on
SQLite and PostgreSQL: a protocol kept once by its content hash, read back equal, shared
with the first store write's row; a reader never writes."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from temporalio.contrib.pydantic import pydantic_data_converter

import store
from models.carried import content_hash, protocol_body
from models.pathway import PathwayInput
from models.protocol import Therapy, load_default_protocol
from models.protocol_claim_check import ProtocolClaimCheck, claim_checked
from store.facts import ProtocolVersion
from store.protocol_shelf import ReaderShelf, StoreShelf
from tests.unit.test_lean_runs import stored_record

pytestmark = pytest.mark.integration
pytest_plugins = ["tests.support.store_engines"]

PROTOCOL = load_default_protocol(Therapy.CAR_T)


@pytest.fixture
def records(database_url: str) -> Iterator[store.RecordStore]:
    store.upgrade(database_url)
    opened = store.RecordStore.open(database_url, codec=None)
    yield opened
    opened.dispose()


def test_kept_once_read_back_equal(records: store.RecordStore) -> None:
    body = protocol_body(PROTOCOL)
    digest = content_hash(body)
    shelf = StoreShelf(records)
    assert shelf.get(digest) is None
    shelf.put(digest, body)
    shelf.put(digest, body)
    # The first store write's row for the same version adds nothing either.
    assert records.add_protocol(ProtocolVersion.of(PROTOCOL)) == 0
    assert shelf.get(digest) == body
    assert ReaderShelf(records.reader).get(digest) == body
    with pytest.raises(PermissionError):
        ReaderShelf(records.reader).put(digest, body)


async def test_a_claim_checked_input_round_trips_through_the_store(
    records: store.RecordStore,
) -> None:
    converter = pydantic_data_converter.payload_converter
    carried = PathwayInput(protocol=PROTOCOL, record=stored_record())
    marked = claim_checked(carried, converter, "protocol").payload
    [sent] = await ProtocolClaimCheck(StoreShelf(records)).encode([marked])
    [back] = await ProtocolClaimCheck(ReaderShelf(records.reader)).decode([sent])
    assert converter.from_payloads([back], [PathwayInput]) == [carried]
