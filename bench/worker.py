"""A worker process for the bench: cellpath's production worker and/or the bare baseline.

Usage::

    python -m bench.worker --address 127.0.0.1:7233 --cellpath-queue q1 --bare-queue q2 \
        --actor-key-file actor-public.keys

It prints ``ready`` on stdout once its workers poll, and runs until SIGTERM or SIGINT; then
it prints ``escalations <n>`` (missed deadlines notified while it ran) and exits. The bench
runs workers in their own process so that their RSS can be read from ``/proc`` and so that
the clients' CPU does not hold their event loop.

Diagnosis: with ``--trace-memory FILE`` it traces allocations (slower) and, on SIGUSR1,
writes to FILE the 40 biggest allocation sites since start and where the five biggest were
called from (``docs/performance.md`` shows what this found an open pathway holds).

Escalations go to no-op activities registered under the production names: nothing leaves
the machine. The record store is written as in production (``keep_records``), to a throwaway
SQLite file unless ``CELLPATH_DATABASE_URL`` names one. With ``--actor-key-file`` the cellpath
worker verifies every action's signed actor assertion and co-signature, as production's does
(``bench/signing.py``). The bare worker uses the same sandbox configuration as the production
one. Logs go to stderr, as JSON lines.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
import tempfile
import tracemalloc
from contextlib import AsyncExitStack
from datetime import UTC, datetime
from pathlib import Path

from temporalio import activity
from temporalio.client import Client
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.worker import Worker
from temporalio.worker.workflow_sandbox import SandboxedWorkflowRunner, SandboxRestrictions

import store
from bench.bare import BareWorkflow
from client.logs import configure_logging
from models import contracts
from models.actor_keys import ActorKeyRing
from models.notifications import Escalation, NotificationReceipt
from models.settings import DEFAULT_WORKFLOW_CACHE
from worker import PASSTHROUGH, WORKFLOW_POLLERS, build_worker

ESCALATIONS = 0


@activity.defn(name=contracts.NOTIFY_ESCALATION)
async def notify_escalation(escalation: Escalation) -> NotificationReceipt:
    global ESCALATIONS
    ESCALATIONS += 1
    return NotificationReceipt(
        channel="bench", key=escalation.idempotency_key, delivered_at=datetime.now(UTC)
    )


@activity.defn(name=contracts.NOTIFY_FALLBACK)
async def notify_fallback(escalation: Escalation) -> NotificationReceipt:
    return await notify_escalation(escalation)


def bare_worker(client: Client, task_queue: str) -> Worker:
    return Worker(
        client,
        task_queue=task_queue,
        workflows=[BareWorkflow],
        # The production worker's cache and pollers (at rest: memory per cached workflow).
        max_cached_workflows=DEFAULT_WORKFLOW_CACHE,
        workflow_task_poller_behavior=WORKFLOW_POLLERS,
        workflow_runner=SandboxedWorkflowRunner(
            restrictions=SandboxRestrictions.default.with_passthrough_modules(*PASSTHROUGH)
        ),
    )


def bench_store() -> store.RecordStore:
    url = os.environ.get("CELLPATH_DATABASE_URL") or "sqlite:///" + os.path.join(
        tempfile.mkdtemp(prefix="bench-records-"), "records.db"
    )
    store.upgrade(url)
    return store.RecordStore.open(url, codec=None)


def dump_memory(path: str, since: tracemalloc.Snapshot) -> None:
    snapshot = tracemalloc.take_snapshot()
    stats = snapshot.compare_to(since, "lineno")
    total = sum(s.size_diff for s in stats)
    lines = [f"total {total / 1024 / 1024:.1f} MiB in {sum(s.count_diff for s in stats)} blocks"]
    lines += [str(s) for s in stats[:40]]
    # Where the five biggest were allocated from: the last 40 frames, innermost last.
    for stat in snapshot.compare_to(since, "traceback")[:5]:
        lines += ["", str(stat)] + [f"    {frame}" for frame in stat.traceback.format()[-40:]]
    with open(path, "w", encoding="utf-8") as out:
        out.write("\n".join(lines) + "\n")


async def serve(
    address: str,
    cellpath_queue: str | None,
    bare_queue: str | None,
    trace_memory: str | None = None,
    actor_keys: ActorKeyRing | None = None,
) -> None:
    client = await Client.connect(address, data_converter=pydantic_data_converter)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    if trace_memory:
        tracemalloc.start(25)
        since = tracemalloc.take_snapshot()
        loop.add_signal_handler(signal.SIGUSR1, dump_memory, trace_memory, since)
    async with AsyncExitStack() as stack:
        if cellpath_queue:
            records = bench_store()
            stack.callback(records.dispose)
            await stack.enter_async_context(
                build_worker(
                    client,
                    cellpath_queue,
                    activities=[notify_escalation, notify_fallback],
                    records=records,
                    actor_keys=actor_keys,
                )
            )
        if bare_queue:
            await stack.enter_async_context(bare_worker(client, bare_queue))
        print("ready", flush=True)
        await stop.wait()
    print(f"escalations {ESCALATIONS}", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--address", required=True)
    parser.add_argument("--cellpath-queue")
    parser.add_argument("--bare-queue")
    parser.add_argument("--trace-memory", metavar="FILE", help="allocation sites on SIGUSR1")
    parser.add_argument(
        "--actor-key-file", type=Path, help="verify signed actions with these public keys"
    )
    args = parser.parse_args()
    if not (args.cellpath_queue or args.bare_queue):
        parser.error("give --cellpath-queue, --bare-queue or both")
    # Logs go to stderr (the worker's log file), as the production service's do: stdout
    # says "ready" and "escalations <n>" only.
    configure_logging("json")
    ring = ActorKeyRing.from_file(args.actor_key_file) if args.actor_key_file else None
    asyncio.run(serve(args.address, args.cellpath_queue, args.bare_queue, args.trace_memory, ring))


if __name__ == "__main__":
    main()
