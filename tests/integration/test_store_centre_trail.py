"""A centre's trail in the record store: entries and alerts written once however often the
write is retried, read back exactly (sealed fields included), a forked chain refused whole,
and the rows defended by the database like every table; on SQLite and PostgreSQL."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime

import pytest
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError

import store
from models.centre_audit import verify_centre_chain
from models.centre_writes import CentreRecordWrite
from models.encryption import EncryptionCodec, KeyRing
from store.centre_trail import CentreTrailStore
from tests.support.store_samples import centre_record, centre_write

pytest_plugins = ["tests.support.store_engines"]

NOW = datetime(2026, 11, 26, 12, 0, tzinfo=UTC)
CODEC = EncryptionCodec(KeyRing.generate("centre-trail-test"))


@pytest.fixture
def trail(database_url: str) -> Iterator[CentreTrailStore]:
    store.upgrade(database_url)
    records = store.RecordStore.open(database_url, codec=CODEC)
    yield CentreTrailStore(records.engine, records.sealer)
    records.dispose()


def test_a_retried_write_adds_nothing_and_reads_back_exactly(trail: CentreTrailStore) -> None:
    record = centre_record(3)
    first = trail.add(centre_write(record, 1))
    assert (first.audit, first.alerts) == (3, 1)
    again = trail.add(centre_write(record, 1))
    assert (again.audit, again.alerts) == (0, 0)
    assert trail.audit("centre-b") == record.audit
    assert trail.alerts("centre-b") == record.alerts
    assert trail.audit("centre-a") == []
    # The next run's write appends the rest of the chain; the whole trail verifies.
    record.stored_audit_seq, record.stored_alert_seq = 3, 1
    for n in (4, 5):
        record.append_audit(record.audit[0].model_copy(update={"update_id": f"click-{n}"}))
    assert trail.add(centre_write(record, 2)).audit == 2
    assert [e.seq for e in trail.audit("centre-b")] == [1, 2, 3, 4, 5]
    assert verify_centre_chain(trail.audit("centre-b"), "centre-b") == []
    with trail.engine.connect() as conn:
        sealed = conn.execute(text("SELECT reason_sealed FROM centre_audit_entries")).scalars()
        assert all(b"s3cret" not in bytes(blob) for blob in sealed)


def test_a_forked_chain_is_refused_whole(trail: CentreTrailStore) -> None:
    trail.add(centre_write(centre_record(2), 1))
    other = centre_record(1)  # the same first entry, then another seq 2 (and a seq 3)
    for doses in (42, 43):
        other.append_audit(other.audit[0].model_copy(update={"data": {"doses_on_site": doses}}))
    with pytest.raises(store.AuditConflict, match=r"centre audit entries \[2\]"):
        trail.add(CentreRecordWrite(centre="centre-b", run=2, audit=other.audit))
    assert [e.seq for e in trail.audit("centre-b")] == [1, 2]


def test_the_database_refuses_update_and_delete(trail: CentreTrailStore) -> None:
    record = centre_record(1)
    trail.add(centre_write(record, 1))
    for table in ("centre_audit_entries", "centre_alerts"):
        for statement in (f"UPDATE {table} SET run = 9", f"DELETE FROM {table}"):
            with pytest.raises(DBAPIError, match="append-only"), trail.engine.begin() as conn:
                conn.execute(text(statement))
    assert trail.audit("centre-b") == record.audit
