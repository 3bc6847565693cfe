"""The record store's own time per pathway: the ``keep_records`` writes a pathway's
histories hold, replayed into a fresh SQLite store and timed (issue 13).

Usage::

    writes = await keep_records_writes(histories, converter)
    store_write_time(writes)      # {"writes": 17, "write_ms": 310.2, "write_ms_max": 41.0, ...}

Each write is what the workflow sent (the activity's input in history), written by the
activity's own code (``RecordKeeping.write``) into a throwaway store without a key, as the
bench worker writes it; then the same writes again, as retries would (they add nothing).
The time is the store's (SQLAlchemy and SQLite, a WAL commit per table a write touches),
without Temporal's activity round trip, which the history's events already count.
"""

from __future__ import annotations

import tempfile
import time
from pathlib import Path
from typing import Any

from temporalio.api.enums.v1 import EventType
from temporalio.client import WorkflowHistory
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.converter import DataConverter

import store
from activities.record_store import RecordKeeping
from models.contracts import KEEP_RECORDS
from models.record_writes import RecordWrite


async def keep_records_writes(
    histories: list[WorkflowHistory], converter: DataConverter = pydantic_data_converter
) -> list[RecordWrite]:
    """Every ``keep_records`` input of the histories, in order (``converter``: one whose
    codec resolves the protocol claim checks of the histories, when they have any)."""
    writes = []
    for history in histories:
        for event in history.events:
            if event.event_type != EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED:
                continue
            attrs = event.activity_task_scheduled_event_attributes
            if attrs.activity_type.name == KEEP_RECORDS:
                writes += await converter.decode(list(attrs.input.payloads), [RecordWrite])
    return writes


def store_write_time(writes: list[RecordWrite]) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="bench-store-") as tmp:
        url = f"sqlite:///{Path(tmp) / 'records.db'}"
        store.upgrade(url)
        records = store.RecordStore.open(url, codec=None)
        try:
            keeping = RecordKeeping(records)
            first = [_timed(keeping, w) for w in writes]
            again = [_timed(keeping, w) for w in writes]
        finally:
            records.dispose()
    return {
        "writes": len(writes),
        "write_ms": round(sum(first), 1),
        "write_ms_max": round(max(first, default=0.0), 1),
        "retry_ms": round(sum(again), 1),
    }


def _timed(keeping: RecordKeeping, write: RecordWrite) -> float:
    started = time.perf_counter()
    keeping.write(write)
    return (time.perf_counter() - started) * 1000
