"""Writing a centre's trail to the record store: the ``keep_centre_records`` activity.

Usage (worker)::

    keeping = CentreRecordKeeping(RecordStore.open(url, codec=codec))
    Worker(..., activities=[keeping.keep_centre_records, ...])

A centre workflow calls it before it continues as new, with the audit entries and alerts the
store does not hold yet (models/centre_writes.py); the next run then carries only what is
open. Idempotent: each row is keyed by (centre, seq), so a retry after a worker crash writes
what is missing and nothing twice (store/centre_trail.py).

Limitations: the database calls block, so they run in a thread.
"""

from __future__ import annotations

import asyncio

import structlog
from temporalio import activity

from models import contracts
from models.centre_writes import CentreRecordsKept, CentreRecordWrite
from store.centre_trail import CentreTrailStore
from store.records import RecordStore

log = structlog.get_logger("cellpath.records")


class CentreRecordKeeping:
    """The centre activity that needs the record store."""

    def __init__(self, records: RecordStore) -> None:
        self.trail = CentreTrailStore(records.engine, records.sealer)

    @activity.defn(name=contracts.KEEP_CENTRE_RECORDS)
    async def keep_centre_records(self, write: CentreRecordWrite) -> CentreRecordsKept:
        kept = await asyncio.to_thread(self.trail.add, write)
        log.info("centre records kept", centre=write.centre, run=write.run, **kept.model_dump())
        return kept
