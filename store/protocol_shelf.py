"""The record store as the protocol claim check's shelf: protocol bodies by content hash,
in ``protocol_versions`` (models/protocol_claim_check.py).

Usage::

    codec = ProtocolClaimCheck(StoreShelf(records), inner=codec)     # the worker's
    codec = ProtocolClaimCheck(ReaderShelf(reader), inner=codec)     # the codec server's

The table is the one the pathway's first write fills (``keep_records``): content-addressed,
append-only, in clear (a protocol holds no patient data), one row per version for every
pathway that runs it. A version the codec stores first is the same row the first write
would add (``INSERT … ON CONFLICT DO NOTHING``); a ``ReaderShelf`` never writes.
"""

from __future__ import annotations

from typing import Any

from store.facts import ProtocolVersion
from store.reading import RecordReader
from store.records import RecordStore


class ReaderShelf:
    """Protocol bodies read from the store; nothing written."""

    def __init__(self, reader: RecordReader) -> None:
        self.reader = reader

    def get(self, digest: str) -> dict[str, Any] | None:
        found = self.reader.protocol_version(digest)
        return found.body if found is not None else None

    def put(self, digest: str, body: dict[str, Any]) -> None:
        raise PermissionError("this shelf reads the record store only")


class StoreShelf(ReaderShelf):
    """Protocol bodies read from and added to the store."""

    def __init__(self, records: RecordStore) -> None:
        super().__init__(records.reader)
        self.records = records

    def put(self, digest: str, body: dict[str, Any]) -> None:
        self.records.add_protocol(
            ProtocolVersion(protocol_id=body["id"], version="1", content_hash=digest, body=body)
        )
