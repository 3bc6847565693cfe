"""The record store's repository: idempotent writes, reading a pathway back with its chain
intact, sealed fields, the look-back trace and the closed list, on SQLite and PostgreSQL."""

from __future__ import annotations

import threading
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from sqlalchemy import text
from sqlalchemy.engine import make_url

import store
from models.encryption import DecryptionError, EncryptionCodec, KeyRing
from store.facts import ProductEventKind
from store.trail_facts import product_events, visits
from tests.support.store_samples import (
    audit_chain,
    car_t_protocol,
    closing_record,
    facts,
    store_pathway,
)

pytest_plugins = ["tests.support.store_engines"]

CODEC = EncryptionCodec(KeyRing.generate("store-test"))


@pytest.fixture
def records(database_url: str) -> Iterator[store.RecordStore]:
    store.upgrade(database_url)
    opened = store.RecordStore.open(database_url, codec=CODEC)
    yield opened
    opened.dispose()


class TestIdempotentWrites:
    """A retried or replayed activity writes each fact once, and the pathway reads back
    exactly as written, its audit chain verifying against the outcome's head."""

    def test_second_write_adds_nothing(self, records: store.RecordStore) -> None:
        pathway = store_pathway(records, "LUP-001", lot="LOT-1")
        first = records.reader.pathway(pathway.pathway_id)
        assert first is not None
        # The replay: the very same writes again (store_pathway rebuilds identical facts).
        protocol = car_t_protocol()
        assert records.add_protocol(protocol) == 0
        assert records.add_pathway(pathway) == 0
        assert records.add_audit(pathway.pathway_id, run=1, entries=first.audit) == 0
        assert records.add_product_events(pathway.pathway_id, run=1, events=first.product) == 0
        assert records.add_visits(pathway.pathway_id, run=1, visits=first.visits) == 0
        assert records.add_incidents(pathway.pathway_id, run=1, incidents=first.incidents) == 0
        assert (
            records.add_adverse_events(pathway.pathway_id, run=1, events=first.adverse_events) == 0
        )
        assert first.outcome is not None
        assert records.close_pathway(pathway.pathway_id, first.outcome) == 0
        assert records.reader.pathway(pathway.pathway_id) == first

    def test_reads_back_what_was_written(self, records: store.RecordStore) -> None:
        pathway = store_pathway(records, "LUP-001", lot="LOT-1", secret="s3cret")
        stored = records.reader.pathway(pathway.pathway_id)
        assert stored is not None
        assert stored.facts == pathway
        assert stored.audit == audit_chain(pathway, secret="s3cret")
        assert stored.verify() == []
        assert stored.protocol.protocol().id == pathway.protocol_id
        assert stored.incidents[0].summary == "bag held s3cret"
        assert stored.adverse_events[0].reports == {"sponsor": stored.adverse_events[0].at}
        assert [e.kind for e in stored.product][-1] is ProductEventKind.INFUSED
        assert records.reader.pathway("pathway-centre-a-LUP-999") is None

    def test_later_run_appends_the_rest_of_the_chain(self, records: store.RecordStore) -> None:
        protocol = car_t_protocol()
        pathway = facts("LUP-002", protocol)
        records.add_protocol(protocol)
        records.add_pathway(pathway)
        chain = audit_chain(pathway, count=6)
        assert records.add_audit(pathway.pathway_id, run=1, entries=chain[:4]) == 4
        # The next run's write overlaps the last one (a retry that raced the first write).
        assert records.add_audit(pathway.pathway_id, run=2, entries=chain[2:]) == 2
        assert records.reader.audit(pathway.pathway_id) == chain

    def test_racing_retries_write_once(self, records: store.RecordStore) -> None:
        """An activity retried while its first attempt is still writing (a heartbeat or
        start-to-close timeout): every attempt succeeds, and each entry is stored once."""
        protocol = car_t_protocol()
        pathway = facts("LUP-004", protocol)
        records.add_protocol(protocol)
        records.add_pathway(pathway)
        chain = audit_chain(pathway, count=20)
        attempts = 4
        start = threading.Barrier(attempts)

        def attempt() -> int:
            start.wait(timeout=30)
            return records.add_audit(pathway.pathway_id, run=1, entries=chain)

        with ThreadPoolExecutor(attempts) as pool:
            added = list(pool.map(lambda _: attempt(), range(attempts)))
        assert sum(added) == len(chain)
        assert records.reader.audit(pathway.pathway_id) == chain

    def test_forked_chain_is_refused_whole(self, records: store.RecordStore) -> None:
        protocol = car_t_protocol()
        pathway = facts("LUP-003", protocol)
        records.add_protocol(protocol)
        records.add_pathway(pathway)
        chain = audit_chain(pathway, count=3)
        records.add_audit(pathway.pathway_id, run=1, entries=chain[:2])
        fork = audit_chain(pathway, count=3, secret="other")
        with pytest.raises(store.AuditConflict, match=r"\[1, 2\]"):
            records.add_audit(pathway.pathway_id, run=1, entries=fork)
        # Nothing of the refused write was kept, not even its new entry #3.
        assert records.reader.audit(pathway.pathway_id) == chain[:2]


class TestTamperEvidence:
    """A stored audit row changed in SQL (after disabling the guard, as an intruder with
    the database owner's rights could) no longer verifies."""

    def test_edited_row_is_detected(self, records: store.RecordStore) -> None:
        pathway = store_pathway(records, "LUP-001", lot="LOT-1")
        with records.engine.begin() as conn:
            if conn.dialect.name == "sqlite":
                conn.execute(text("DROP TRIGGER audit_entries_no_update"))
            else:
                conn.execute(text("ALTER TABLE audit_entries DISABLE TRIGGER USER"))
            conn.execute(text("UPDATE audit_entries SET to_state = 'forged' WHERE seq = 2"))
        stored = records.reader.pathway(pathway.pathway_id)
        assert stored is not None
        assert [(p.seq, p.kind) for p in stored.verify()] == [(2, "edited")]

    def test_changed_signature_meaning_is_detected(self, records: store.RecordStore) -> None:
        """Chain version 2 seals what a signature meant and who co-signed it."""
        pathway = store_pathway(records, "LUP-001", lot="LOT-1")
        with records.engine.begin() as conn:
            if conn.dialect.name == "sqlite":
                conn.execute(text("DROP TRIGGER audit_entries_no_update"))
            else:
                conn.execute(text("ALTER TABLE audit_entries DISABLE TRIGGER USER"))
            conn.execute(text("UPDATE audit_entries SET meaning = 'rejected' WHERE seq = 3"))
            conn.execute(text("UPDATE audit_entries SET cosigner_role = 'nurse' WHERE seq = 4"))
        stored = records.reader.pathway(pathway.pathway_id)
        assert stored is not None
        assert [(p.seq, p.kind) for p in stored.verify()] == [(3, "edited"), (4, "edited")]


class TestTrace:
    """The look-back question: which pathways touched this lot, bag or COI, and when."""

    def test_lot_bag_and_coi(self, records: store.RecordStore) -> None:
        first = store_pathway(records, "LUP-001", lot="LOT-A")
        second = store_pathway(records, "LUP-020", lot="LOT-A", closed=False)
        store_pathway(records, "LUP-300", lot="LOT-B")

        hits = records.reader.trace("LOT-A")
        assert [h.pathway_id for h in hits] == [first.pathway_id, second.pathway_id]
        for hit in hits:
            assert [e.kind for e in hit.events] == ["released", "received", "thawed", "infused"]
            assert hit.first_at == hit.events[0].at < hit.last_at == hit.events[-1].at
            assert all(e.names("LOT-A") for e in hit.events)

        (bag,) = records.reader.trace("BAG-020")
        assert (bag.pathway_id, bag.pseudonym, bag.centre) == (
            second.pathway_id,
            "LUP-020",
            "centre-a",
        )
        assert [e.kind for e in bag.events] == ["received", "thawed", "infused"]
        (coi,) = records.reader.trace("COI-LUP-300")
        assert len(coi.events) == 5
        assert records.reader.trace("LOT-NEVER") == []


class TestClosed:
    def test_lists_closed_pathways_only(self, records: store.RecordStore) -> None:
        closed = store_pathway(records, "LUP-001", lot="LOT-A")
        store_pathway(records, "LUP-020", lot="LOT-A", closed=False)
        later = store_pathway(records, "LUP-300", lot="LOT-B")
        listed = records.reader.list_closed()
        assert [(c.pathway_id, c.outcome) for c in listed] == [
            (later.pathway_id, "completed"),
            (closed.pathway_id, "completed"),
        ]
        assert records.reader.list_closed(centre="centre-b") == []


class TestClosingRecord:
    """The record a closed pathway's workflow held reads back whole: its fields from the
    sealed closing row, its trail from the audit rows (so a changed row shows in verify)."""

    def test_reads_back_as_the_workflow_held_it(self, records: store.RecordStore) -> None:
        pathway = store_pathway(records, "LUP-001", lot="LOT-1", secret="s3cret")
        stored = records.reader.pathway(pathway.pathway_id)
        assert stored is not None
        expected = closing_record(pathway, stored.audit)
        assert records.reader.closing_record(pathway.pathway_id) == expected
        assert records.add_closing_record(expected, run=1) == 0
        assert records.reader.closing_record("pathway-centre-a-LUP-404") is None

    def test_open_pathway_has_none(self, records: store.RecordStore) -> None:
        pathway = store_pathway(records, "LUP-002", lot="LOT-2", closed=False)
        assert records.reader.closing_record(pathway.pathway_id) is None


class TestTrailFacts:
    """The product events and visits read from an audit trail take their entry's seq."""

    def test_product_steps_and_visits(self) -> None:
        pathway = facts("LUP-003", car_t_protocol())
        entries = audit_chain(pathway, count=4)
        steps = ["record_apheresis", "release_product", "infuse", "record_visit"]
        data = [{"coi_id": "COI-3"}, {"lot": "LOT-3"}, {"bag_coi_id": "COI-3"}, {"visit": "M3"}]
        trail = [
            e.model_copy(update={"event": event, "data": d})
            for e, event, d in zip(entries, steps, data, strict=True)
        ]
        events = product_events(trail, coi_id=None)
        assert [(p.seq, p.kind.value, p.coi_id, p.lot, p.bag_id) for p in events] == [
            (1, "collected", "COI-3", None, None),
            (2, "released", "COI-3", "LOT-3", None),
            (3, "infused", "COI-3", None, "COI-3"),
        ]
        assert [(v.seq, v.visit) for v in visits(trail)] == [(4, "M3")]


class TestSealedOnDisk:
    """Sealed fields never reach the SQLite file in clear; pseudonyms and codes do."""

    def _bytes(self, url: str) -> bytes:
        folder = Path(make_url(url).database or "").parent
        # WAL mode: recent pages live in records.db-wal until a checkpoint.
        return b"".join(p.read_bytes() for p in sorted(folder.glob("records.db*")))

    @pytest.mark.parametrize("encrypted", [True, False], ids=["key", "no-key"])
    def test_canary(self, tmp_path: Path, encrypted: bool) -> None:
        url = f"sqlite:///{tmp_path / 'records.db'}"
        store.upgrade(url)
        records = store.RecordStore.open(url, codec=CODEC if encrypted else None)
        canary = uuid.uuid4().hex
        try:
            pathway = store_pathway(records, "LUP-001", lot="LOT-A", secret=canary)
            on_disk = self._bytes(url)
            stored = records.reader.pathway(pathway.pathway_id)
        finally:
            records.dispose()
        assert b"LUP-001" in on_disk and b"LOT-A" in on_disk
        # Without a key the canary is on disk: proof that this test can see it.
        assert (canary.encode() in on_disk) is not encrypted
        assert stored is not None
        assert stored.facts.disease.endswith(canary) and stored.audit[0].data["note"] == canary

    def test_reading_sealed_rows_without_the_key_says_so(self, tmp_path: Path) -> None:
        url = f"sqlite:///{tmp_path / 'records.db'}"
        store.upgrade(url)
        records = store.RecordStore.open(url, codec=CODEC)
        blind = store.RecordStore.open(url, codec=None)
        try:
            pathway = store_pathway(records, "LUP-001", lot="LOT-A")
            with pytest.raises(DecryptionError, match="CELLPATH_ENCRYPTION_KEYS"):
                blind.reader.pathway(pathway.pathway_id)
            # What an inspector's trace needs is in clear: it works without the key.
            assert [h.pseudonym for h in blind.reader.trace("LOT-A")] == ["LUP-001"]
        finally:
            records.dispose()
            blind.dispose()
