"""Fault injection on the record store's writes: the worker SIGKILLed while pathways close
and their records are written; after restart each fact is in the store once, the chains whole.
And the store itself down for a while: the pathway goes on, and nothing is lost.

Pathways are walked to apheresis (a product event) and withdrawn, concurrently, so their
closing writes (``keep_records``, cause "closed") follow one another while the worker
process is killed and restarted each time a share of them is stored: some writes have
landed, others are scheduled, running or half done. A half-done attempt is retried whole on
the new worker, and the store's keys keep it from writing anything twice.
"""

from __future__ import annotations

import asyncio
import os
import uuid
from pathlib import Path

import pytest
from sqlalchemy import func, select
from temporalio.client import Client

import store
import store.schema as schema
from client import pathways as operations
from client.centres import load_centres
from devtools.demo_answers import AE_FACTS
from devtools.devserver import DevServer, free_port
from models.protocol import Protocol
from tests.integration.test_faults import WorkerProcess, act_until_done, connect, script
from tests.support.pathway_driver import ARD, NURSE, Driver, fast, referral
from tests.support.signing import TEST_SIGNERS
from tests.support.waiting import eventually, worker_polling
from worker import build_worker

pytestmark = pytest.mark.integration

PATHWAYS = int(os.environ.get("CELLPATH_STORE_FAULT_PATHWAYS", "4"))
WORKER_KILLS = int(os.environ.get("CELLPATH_STORE_FAULT_KILLS", "1"))


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

        async def drive(index: int, pathway_id: str) -> None:
            walk = [*script(protocol, f"COI-STF-{index:03d}"), steps[-1]]
            for step, (event, data) in enumerate(walk):
                await act_until_done(client, pathway_id, event, data, f"{pathway_id}:{step}")

        drivers = asyncio.gather(*(drive(i, pid) for i, pid in enumerate(ids)))

        async def chaos() -> None:
            # Each kill waits for a share of the closing writes to land, and falls before
            # the last one has: writes are in flight on either side of it.
            for kill in range(1, WORKER_KILLS + 1):
                share = PATHWAYS * kill // (WORKER_KILLS + 1)
                await eventually(
                    lambda n=share: len(rows(records, "outcomes")) >= n,
                    timeout=180,
                    interval=0.05,
                    what=f"{share} pathways closed in the store",
                )
                assert len(rows(records, "outcomes")) < PATHWAYS, "all written before chaos"
                worker.kill()
                worker.start()

        await asyncio.gather(drivers, chaos())
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
