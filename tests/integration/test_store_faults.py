"""Fault injection on the record store's writes: the worker SIGKILLed while pathways close
and their records are written; after restart each fact is in the store once, the chains whole.
And the store itself down for a while: the pathway goes on, and nothing is lost.

Pathways are walked to apheresis (a product event), concurrently, then withdrawn batch by
batch. The first batch's closing writes (``keep_records``, cause "closed") land; for each
later batch the test holds the SQLite write lock, withdraws the batch, waits until each of
its writes has started, kills the worker process and releases the lock: those writes are in
flight when the worker dies, whatever the machine's load (waiting for a share to land and
killing then was a race: on a loaded machine all had landed). A half-done attempt is retried
whole on the new worker, and the store's keys keep it from writing anything twice.
"""

from __future__ import annotations

import asyncio
import os
import sqlite3
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from sqlalchemy import func, select
from temporalio.api.enums.v1 import PendingActivityState
from temporalio.client import Client

import store
import store.schema as schema
from client import pathways as operations
from client.centres import load_centres
from devtools.demo_answers import AE_FACTS
from devtools.devserver import DevServer, free_port
from models.contracts import KEEP_RECORDS
from models.protocol import Protocol
from tests.integration.test_faults import WorkerProcess, act_until_done, connect, script
from tests.support.pathway_driver import ARD, NURSE, Driver, fast, referral
from tests.support.signing import TEST_SIGNERS
from tests.support.waiting import eventually, worker_polling
from worker import build_worker

pytestmark = pytest.mark.integration

PATHWAYS = int(os.environ.get("CELLPATH_STORE_FAULT_PATHWAYS", "4"))
WORKER_KILLS = int(os.environ.get("CELLPATH_STORE_FAULT_KILLS", "1"))


@contextmanager
def held_write_lock(database: Path) -> Iterator[None]:
    """Hold SQLite's write lock: the worker's writes wait (busy timeout, then a retry)."""
    conn = sqlite3.connect(database, isolation_level=None)
    try:
        conn.execute("BEGIN IMMEDIATE")
        yield
        conn.execute("ROLLBACK")
    finally:
        conn.close()


async def writes_started(client: Client, pathway_ids: list[str]) -> bool:
    """Each pathway's closing write is past its first attempt's start (running or retrying)."""
    for pathway_id in pathway_ids:
        described = await client.get_workflow_handle(pathway_id).describe()
        pending = described.raw_description.pending_activities
        if not any(
            a.activity_type.name == KEEP_RECORDS
            and (a.state == PendingActivityState.PENDING_ACTIVITY_STATE_STARTED or a.attempt > 1)
            for a in pending
        ):
            return False
    return True


def rows(records: store.RecordStore, table: str) -> dict[str, int]:
    """Rows per pathway in ``table``."""
    t = schema.metadata.tables[table]
    query = select(t.c.pathway_id, func.count()).group_by(t.c.pathway_id)
    with records.engine.connect() as conn:
        return {pid: n for pid, n in conn.execute(query).all()}


async def test_worker_killed_during_store_writes_keeps_each_fact_once(
    tmp_path: Path, cart_protocol: Protocol
) -> None:
    protocol = cart_protocol.compressed(seconds_per_day=1.0)
    url = f"sqlite:///{tmp_path / 'records.db'}"
    store.upgrade(url)
    # The worker process writes without a key (test_faults.WorkerProcess clears it): clear.
    records = store.RecordStore.open(url, codec=None)
    port = free_port()
    server = DevServer(port=port, db_file=tmp_path / "temporal.db", log_file=tmp_path / "s.log")
    task_queue = f"store-faults-{uuid.uuid4()}"
    worker = WorkerProcess(server.address, task_queue, tmp_path / "worker.log")
    worker.env["CELLPATH_DATABASE_URL"] = url
    server.start()
    try:
        await server.wait_ready()
        client = await connect(server.address)
        worker.start()
        await worker_polling(client, task_queue)
        await load_centres(client, task_queue)
        ids = []
        for n in range(PATHWAYS):
            handle = await operations.refer(
                client, referral(f"STF-{n:03d}"), task_queue=task_queue, protocol=protocol
            )
            ids.append(handle.id)

        steps = [*script(protocol, "x"), ("withdraw", {**ARD, "reason": "moved away"})]

        async def walk(index: int, pathway_id: str) -> None:
            for step, (event, data) in enumerate(script(protocol, f"COI-STF-{index:03d}")):
                await act_until_done(client, pathway_id, event, data, f"{pathway_id}:{step}")

        async def withdraw(batch: list[str]) -> None:
            event, data = steps[-1]
            last = len(steps) - 1
            await asyncio.gather(
                *(act_until_done(client, p, event, data, f"{p}:{last}") for p in batch)
            )

        await asyncio.gather(*(walk(i, pid) for i, pid in enumerate(ids)))
        batches = [ids[k :: WORKER_KILLS + 1] for k in range(WORKER_KILLS + 1)]
        await withdraw(batches[0])  # these writes land before any kill
        await eventually(
            lambda: set(batches[0]) <= set(rows(records, "outcomes")),
            timeout=120,
            what="the first batch closed in the store",
        )
        for batch in batches[1:]:
            with held_write_lock(tmp_path / "records.db"):
                await withdraw(batch)
                await eventually(
                    lambda b=batch: writes_started(client, b),
                    timeout=120,
                    interval=0.1,
                    what="the batch's closing writes started",
                )
                assert not set(batch) & set(rows(records, "outcomes")), "a held write landed"
                worker.kill()
            worker.start()
        for pathway_id in ids:
            await asyncio.wait_for(client.get_workflow_handle(pathway_id).result(), 120)

        audit, product, outcomes = (
            rows(records, t) for t in ("audit_entries", "product_events", "outcomes")
        )
        for pathway_id in ids:
            stored = records.reader.pathway(pathway_id)
            assert stored is not None and stored.outcome is not None, pathway_id
            assert [e.event for e in stored.audit] == [e for e, _ in steps], pathway_id
            assert audit[pathway_id] == len(steps) and outcomes[pathway_id] == 1
            # One collection, once, whichever run or attempt wrote it.
            assert [p.kind for p in stored.product] == ["collected"], pathway_id
            assert product[pathway_id] == 1
            assert stored.verify() == [], pathway_id
            assert records.reader.closing_record(pathway_id) is not None
        log = (tmp_path / "worker.log").read_text(encoding="utf-8", errors="replace")
        assert log.count('"records kept"') >= PATHWAYS
    finally:
        records.dispose()
        worker.stop()
        server.stop()


async def test_store_down_then_back_loses_nothing(
    client: Client,
    task_queue: str,
    demo_centres: dict[str, str],
    cart_protocol: Protocol,
    tmp_path: Path,
) -> None:
    """A store without its schema (down, or not migrated yet) fails the infusion's write:
    the pathway goes on, and once the store is back the closing write carries everything."""
    url = f"sqlite:///{tmp_path / 'records.db'}"
    records = store.RecordStore.open(url, codec=None)
    protocol = fast(cart_protocol)
    try:
        async with build_worker(client, task_queue, records=records, actor_keys=TEST_SIGNERS):
            handle = await operations.refer(
                client, referral("STD-001"), task_queue=task_queue, protocol=protocol
            )
            go = Driver(client, handle.id, protocol)
            await go.to_infusion()

            async def gave_up() -> bool:
                history = await handle.fetch_history()
                return any(
                    e.HasField("activity_task_failed_event_attributes") for e in history.events
                )

            await eventually(gave_up, timeout=90, interval=0.5, what="infusion write given up")
            infused = len((await operations.record(client, handle.id)).audit)
            receipt = await go("record_adverse_event", NURSE, kind="CRS", grade=1, **AE_FACTS)
            assert receipt.seq == infused + 1, "the pathway goes on while the store is down"
            store.upgrade(url)
            await go("record_death", ARD, reason="unrelated cardiac arrest")
            await asyncio.wait_for(handle.result(), 60)
        stored = records.reader.pathway(handle.id)
        assert stored is not None and stored.outcome is not None
        assert [e.seq for e in stored.audit] == list(range(1, infused + 3))
        assert [p.kind for p in stored.product][-1] == "infused"
        assert len(stored.adverse_events) == 1 and stored.verify() == []
    finally:
        records.dispose()
