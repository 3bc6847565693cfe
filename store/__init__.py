"""The record store: the system of record for pathways, beside Temporal.

Usage::

    import store

    url = store.database_url()        # CELLPATH_DATABASE_URL, else .cellpath/records.db
    store.upgrade(url)                # Alembic migrations shipped in store/migrations
    records = store.RecordStore.open(url, codec=codec_from_settings(settings))
    records.add_audit(pathway_id, run=1, entries=[...])   # idempotent
    records.trace("LOT-2026-0042")    # every pathway that touched a lot, bag or COI

Temporal keeps a closed workflow only for its namespace's retention; the store keeps the
pathway's facts, audit chain and incidents for as long as the law asks (docs/records.md).
Limitations: nothing writes it from the workflows yet, and the CLI does not read it yet.
"""

from store.engine import database_url, make_engine
from store.migrate import upgrade
from store.reading import RecordReader
from store.records import AuditConflict, RecordStore

__all__ = [
    "AuditConflict",
    "RecordReader",
    "RecordStore",
    "database_url",
    "make_engine",
    "upgrade",
]
