"""Open pathways at rest: worker memory and server database growth, against the bare baseline.

Usage::

    scenarios["rest"] = await rest_scenario(config, tmp)

Each side runs on its own SQLite server and worker process; the worker is "at rest" once idle
for ``config.rest_quiet_seconds`` in a row and a sample of its workflows has no task pending.
"""

from __future__ import annotations

import asyncio
import random
import time
from contextlib import AsyncExitStack
from pathlib import Path
from typing import Any

from temporalio.client import Client

from bench.bare import BareWorkflow
from bench.comparison import ratio
from bench.config import MB, RSS_GROWTH_MAX_MB, BenchError, Config
from bench.pathways import (
    referral,
)
from bench.processes import WorkerProcess, connect, dev_server, pycache_dir
from client import pathways as operations
from devtools.devserver import DevServer
from models.protocol import Therapy, load_default_protocol
from models.settings import DEFAULT_WORKFLOW_CACHE


def db_bytes(db: Path) -> int:
    return sum(p.stat().st_size for p in db.parent.glob(db.name + "*") if p.is_file())


async def _first_tasks_done(client: Client, ids: list[str]) -> bool:
    sample = ids[-10:] + random.sample(ids, min(10, len(ids)))
    for workflow_id in sample:
        desc = await client.get_workflow_handle(workflow_id).describe()
        if desc.raw_description.HasField("pending_workflow_task") or desc.history_length < 4:
            return False
    return True


async def wait_at_rest(
    client: Client,
    worker: WorkerProcess,
    ids: list[str],
    *,
    quiet_seconds: int = 3,
    timeout: float = 900.0,
) -> None:
    """Until the worker has been idle ``quiet_seconds`` in a row and a sample of the
    workflows has no workflow task pending."""
    deadline = time.monotonic() + timeout
    quiet = 0
    while time.monotonic() < deadline:
        before = worker.cpu()
        await asyncio.sleep(1.0)
        quiet = quiet + 1 if worker.cpu() - before < 0.05 else 0
        if quiet >= quiet_seconds and await _first_tasks_done(client, ids):
            return
    raise BenchError(f"{len(ids)} workflows did not come to rest within {timeout:.0f} s")


async def rest_side(
    kind: str, config: Config, server: DevServer, worker: WorkerProcess
) -> dict[str, Any]:
    """``config.rest`` workflows of one kind waiting on timers; the worker's RSS around it."""
    client = await connect(server)
    await asyncio.sleep(config.rest_pause_seconds)  # pollers up, start-up settled
    rss_before = worker.rss()
    protocol = load_default_protocol(Therapy.CAR_T)
    queue = f"rest-{kind}"
    numbers = iter(range(config.rest))
    ids: list[str] = []

    async def start_one(number: int) -> None:
        if kind == "cellpath":
            handle = await operations.refer(
                client,
                referral(f"RST-{number:06d}", "bench-rest"),
                task_queue=queue,
                protocol=protocol,
                check_centre=False,
            )
            ids.append(handle.id)
        else:
            workflow_id = f"rest-bare-{number:06d}"
            # Waits on a 30-day timer, as a new pathway waits on its work-up deadline.
            await client.start_workflow(
                BareWorkflow.run,
                args=[[[True, False]], 30 * 86400.0],
                id=workflow_id,
                task_queue=queue,
            )
            ids.append(workflow_id)

    async def starter() -> None:
        for number in numbers:
            await start_one(number)

    started = time.perf_counter()
    await asyncio.gather(*(starter() for _ in range(config.rest_concurrency)))
    start_seconds = time.perf_counter() - started
    await wait_at_rest(client, worker, ids, quiet_seconds=config.rest_quiet_seconds)
    settle_seconds = time.perf_counter() - started
    rss_after, rss_peak = worker.rss(), worker.peak_rss()
    return {
        "pathways": len(ids),
        "start_seconds": round(start_seconds, 1),
        "settle_seconds": round(settle_seconds, 1),
        "rss_before_mb": round(rss_before / MB, 1),
        "rss_after_mb": round(rss_after / MB, 1),
        "rss_peak_mb": round(rss_peak / MB, 1),
        "rss_growth_mb": round((rss_after - rss_before) / MB, 1),
    }


async def rest_scenario(config: Config, tmp: Path) -> dict[str, Any]:
    """Each side on its own SQLite server and worker process (started together, measured
    one after the other); the database is measured once its server has stopped."""
    sides: dict[str, dict[str, Any]] = {}
    empty: dict[str, int] = {}
    async with AsyncExitStack() as stack:
        servers, workers = {}, {}
        for kind in ("bare", "cellpath"):
            server = await stack.enter_async_context(dev_server(tmp, f"rest-{kind}", sqlite=True))
            assert server.db_file is not None
            empty[kind] = db_bytes(server.db_file)
            queue = {"cellpath_queue" if kind == "cellpath" else "bare_queue": f"rest-{kind}"}
            workers[kind] = WorkerProcess(
                server.address,
                tmp / f"rest-{kind}-worker.log",
                pycache=pycache_dir(config, tmp),
                **queue,
            )
            stack.callback(workers[kind].stop)
            servers[kind] = server
        await asyncio.gather(*(w.start() for w in workers.values()))
        for kind in ("bare", "cellpath"):
            sides[kind] = await rest_side(kind, config, servers[kind], workers[kind])
            workers[kind].stop()
    for kind, side in sides.items():
        after = db_bytes(servers[kind].db_file)  # type: ignore[arg-type]
        side["db_mb"] = round(after / MB, 1)
        side["db_growth_mb"] = round((after - empty[kind]) / MB, 1)
        side["db_kb_per_pathway"] = round(
            (after - empty[kind]) / 1024 / max(side["pathways"], 1), 2
        )
    bare, cellpath = sides["bare"], sides["cellpath"]
    cached = min(config.rest, DEFAULT_WORKFLOW_CACHE)
    for side in (bare, cellpath):
        # What the worker holds is its cache: the growth per cached workflow.
        side["rss_kb_per_cached"] = round(side["rss_growth_mb"] * 1024 / cached, 1)
    return {
        "pathways": config.rest,
        "worker_cache": DEFAULT_WORKFLOW_CACHE,
        "bare": bare,
        "cellpath": cellpath,
        "ratio": {
            "rss_growth": ratio(cellpath["rss_growth_mb"], bare["rss_growth_mb"]),
            "db_growth": ratio(cellpath["db_growth_mb"], bare["db_growth_mb"]),
        },
        "target": f"worker RSS growth < {RSS_GROWTH_MAX_MB} MB",
        "met": cellpath["rss_growth_mb"] < RSS_GROWTH_MAX_MB,
    }
