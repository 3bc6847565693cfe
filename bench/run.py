"""Run every benchmark scenario; write ``bench/results.json`` and ``bench/results.md``.

Usage::

    make bench                                        # default sizes, < 15 min on 2 cores
    .venv/bin/python -m bench.run --pathways 100 --rest 2000 --scenarios throughput,rest
    .venv/bin/python -m bench.run --update-docs docs/performance.md

Scenarios, each against a baseline measured in the same run:

1. ``throughput``: full CAR-T pathways driven by concurrent clients, against the bare
   workflow of ``bench/bare.py`` (same updates, timers and runs); pathways/s and the ratio.
2. ``latency``: p50/p95/p99 of staff actions and of the bare updates, at 1 and 8 clients
   (and at the throughput's client count, from the throughput run itself).
3. ``rest``: open pathways waiting on timers: worker RSS before and after, server DB size.
4. ``history``: events per run of a full 15-year pathway, replay time of its largest run.
5. ``chart``: microseconds per transition and per rebuild (``bench/chart.py``).

Bare and cellpath segments alternate (bare, cellpath, cellpath, bare) so that a change in
the machine's load during the run weighs on both sides alike. The bench starts its own dev
servers on free ports (in memory; SQLite in a temporary directory for ``rest``) and runs
workers in their own processes (``bench/worker.py``). Limitation: absolute figures move with
whatever else runs on the machine; the ratios much less.
"""

from __future__ import annotations

import argparse
import asyncio
import importlib.metadata
import json
import math
import os
import platform
import random
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from temporalio.client import Client, WorkflowHistory
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.worker import Replayer
from temporalio.worker.workflow_sandbox import SandboxedWorkflowRunner, SandboxRestrictions

from bench.bare import BareWorkflow
from bench.chart import chart_cost
from bench.pathways import (
    Tally,
    bench_protocol,
    cart_steps,
    drive_bare,
    drive_cellpath,
    history_counts,
    referral,
    run_histories,
    wake_plan,
)
from client import pathways as operations
from devtools.devserver import DevServer, free_port, temporal_binary
from models.protocol import Protocol, Therapy, load_default_protocol
from models.settings import DEFAULT_WORKFLOW_CACHE
from worker import PASSTHROUGH
from workflows.pathway import PathwayWorkflow

ROOT = Path(__file__).resolve().parent.parent
HERE = Path(__file__).resolve().parent
SCENARIOS = ("chart", "latency", "throughput", "history", "rest")
MB = 1024 * 1024

# Targets of issue 8.
THROUGHPUT_RATIO_MIN = 0.9
LATENCY_RATIO_MAX = 1.2
RSS_GROWTH_MAX_MB = 100
EVENTS_PER_RUN_MAX = 2000
CHART_US_MAX = 100


class BenchError(RuntimeError):
    """The bench could not measure something; the message says what and where to look."""


@dataclass
class Config:
    # Issue 8's sizes: 500 pathways a side, 10,000 at rest (docs/performance.md, "Sizes").
    pathways: int = 500
    clients: int = 50
    # Client count → pathways per side, for the latency-only runs.
    latency: dict[int, int] = field(default_factory=lambda: {1: 8, 8: 48})
    rest: int = 10_000
    rest_concurrency: int = 50
    # At rest: the worker idle this many seconds in a row, after a pause before "before".
    rest_quiet_seconds: int = 3
    rest_pause_seconds: float = 2.0
    replays: int = 5
    seconds_per_day: float = 5.0
    chart_rounds: int = 5
    chart_pathways: int = 50
    chart_rebuilds: int = 20
    # Workers read and write .pyc files (in the bench's temporary directory) even where
    # PYTHONDONTWRITEBYTECODE is set, as an installed worker does: without them the sandbox
    # compiles the workflow module again for every workflow run (docs/performance.md).
    bytecode_cache: bool = True
    scenarios: tuple[str, ...] = SCENARIOS

    def __post_init__(self) -> None:
        unknown = set(self.scenarios) - set(SCENARIOS)
        if unknown:
            raise ValueError(f"unknown scenarios {sorted(unknown)}; choose from {SCENARIOS}")
        if self.pathways < 1 or self.clients < 1 or self.rest < 1:
            raise ValueError("pathways, clients and rest must be at least 1")
        if self.seconds_per_day < 1:
            raise ValueError("seconds_per_day below 1 lets deadlines fall due under load")


# ----- processes ---------------------------------------------------------------------------
def _proc_status(pid: int, key: str) -> int:
    """A ``/proc/<pid>/status`` size field (VmRSS, VmHWM), in bytes."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(key + ":"):
            return int(line.split()[1]) * 1024
    raise BenchError(f"no {key} in /proc/{pid}/status")


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process, from ``/proc/<pid>/stat``."""
    stat = Path(f"/proc/{pid}/stat").read_text()
    fields = stat[stat.rindex(")") + 2 :].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


class WorkerProcess:
    """``python -m bench.worker`` in its own process, for its RSS and CPU time."""

    def __init__(
        self,
        address: str,
        log_file: Path,
        *,
        cellpath_queue: str | None = None,
        bare_queue: str | None = None,
        pycache: Path | None = None,
    ):
        self.command = [sys.executable, "-m", "bench.worker", "--address", address]
        self.env = dict(os.environ)
        if pycache is not None:
            self.env.pop("PYTHONDONTWRITEBYTECODE", None)
            self.env["PYTHONPYCACHEPREFIX"] = str(pycache)
        if cellpath_queue:
            self.command += ["--cellpath-queue", cellpath_queue]
        if bare_queue:
            self.command += ["--bare-queue", bare_queue]
        self.log_file = log_file
        self.process: subprocess.Popen[str] | None = None
        self.escalations = 0

    @property
    def pid(self) -> int:
        assert self.process is not None
        return self.process.pid

    async def start(self, timeout: float = 60.0) -> None:
        with open(self.log_file, "ab") as log:
            self.process = subprocess.Popen(
                self.command,
                cwd=ROOT,
                stdout=subprocess.PIPE,
                stderr=log,
                stdin=subprocess.DEVNULL,
                text=True,
                env=self.env,
            )
        assert self.process.stdout is not None
        try:
            line = await asyncio.wait_for(asyncio.to_thread(self.process.stdout.readline), timeout)
        except TimeoutError:
            line = ""
        if line.strip() != "ready":
            self.stop()
            tail = self.log_file.read_text(errors="replace")[-2000:]
            raise BenchError(f"the bench worker did not start ({self.log_file}):\n{tail}")

    def rss(self) -> int:
        return _proc_status(self.pid, "VmRSS")

    def peak_rss(self) -> int:
        return _proc_status(self.pid, "VmHWM")

    def cpu(self) -> float:
        return cpu_seconds(self.pid)

    def stop(self, timeout: float = 60.0) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        self.process.send_signal(signal.SIGTERM)
        try:
            out, _ = self.process.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.process.kill()
            out, _ = self.process.communicate()
        found = re.search(r"escalations (\d+)", out or "")
        self.escalations = int(found.group(1)) if found else 0


@asynccontextmanager
async def dev_server(tmp: Path, name: str, *, sqlite: bool = False) -> AsyncIterator[DevServer]:
    server = DevServer(
        port=free_port(),
        db_file=tmp / f"{name}.db" if sqlite else None,
        log_file=tmp / f"{name}-server.log",
        # The rest scenario measures the database's size, not its speed: without a sync per
        # write, the dev server takes 10,000 starts in minutes instead of a quarter hour.
        sqlite_pragmas=REST_SQLITE_PRAGMAS if sqlite else (),
    )
    server.start()
    try:
        await server.wait_ready()
        yield server
    finally:
        server.stop()


async def connect(server: DevServer) -> Client:
    return await Client.connect(server.address, data_converter=pydantic_data_converter)


# ----- statistics ----------------------------------------------------------------------------
def percentiles(seconds: list[float]) -> dict[str, float | int]:
    """Nearest-rank p50/p95/p99, in milliseconds."""
    ranked = sorted(seconds)
    if not ranked:
        return {"count": 0, "p50_ms": math.nan, "p95_ms": math.nan, "p99_ms": math.nan}

    def rank(q: float) -> float:
        return round(ranked[max(0, math.ceil(q * len(ranked)) - 1)] * 1000, 2)

    return {"count": len(ranked), "p50_ms": rank(0.50), "p95_ms": rank(0.95), "p99_ms": rank(0.99)}


def ratio(numerator: float, denominator: float) -> float:
    return round(numerator / denominator, 3) if denominator else math.nan


# ----- driving -------------------------------------------------------------------------------
@dataclass
class Stack:
    """The in-memory server, its client and one worker process serving both task queues."""

    server: DevServer
    client: Client
    worker: WorkerProcess
    cellpath_queue: str
    bare_queue: str
    protocol: Protocol
    plan: list[list[bool]] = field(default_factory=list)
    serial: Iterator[int] = field(default_factory=lambda: iter(range(1, 1_000_000)))


@dataclass
class Side:
    """One side (cellpath or bare) of a comparison, summed over its segments."""

    seconds: float = 0.0
    pathways: int = 0
    latencies: list[float] = field(default_factory=list)
    worker_cpu: float = 0.0
    server_cpu: float = 0.0

    def summary(self, updates_per_pathway: int) -> dict[str, Any]:
        per = max(self.pathways, 1)
        return {
            "pathways": self.pathways,
            "seconds": round(self.seconds, 2),
            "pathways_per_s": round(self.pathways / self.seconds, 3) if self.seconds else 0.0,
            "updates_per_s": round(self.pathways * updates_per_pathway / self.seconds, 1)
            if self.seconds
            else 0.0,
            "worker_cpu_ms_per_pathway": round(self.worker_cpu / per * 1000, 1),
            "server_cpu_ms_per_pathway": round(self.server_cpu / per * 1000, 1),
            "latency": percentiles(self.latencies),
        }


async def segment(stack: Stack, kind: str, count: int, clients: int, label: str) -> Side:
    """``count`` pathways of one kind, ``clients`` at a time; timed from first to last."""
    protocol = stack.protocol
    steps = cart_steps(protocol)
    tally = Tally()
    numbers = iter([next(stack.serial) for _ in range(count)])

    async def one(number: int) -> None:
        if kind == "cellpath":
            await drive_cellpath(
                stack.client,
                stack.cellpath_queue,
                protocol,
                steps,
                f"BEN-{number:06d}",
                f"bench-{label}",
                tally,
            )
        else:
            await drive_bare(
                stack.client,
                stack.bare_queue,
                stack.plan,
                steps,
                protocol,
                f"bare-{label}-{number:06d}",
                tally,
            )

    async def client_loop() -> None:
        for number in numbers:
            try:
                await one(number)
            except Exception as err:
                raise BenchError(
                    f"{kind} pathway {number} ({label}) failed: {type(err).__name__}: {err}"
                ) from err

    server_pid = stack.server.process.pid if stack.server.process else None
    worker0 = stack.worker.cpu()
    server0 = cpu_seconds(server_pid) if server_pid else 0.0
    started = time.perf_counter()
    await asyncio.gather(*(client_loop() for _ in range(min(clients, count))))
    side = Side(
        seconds=time.perf_counter() - started,
        pathways=tally.pathways,
        latencies=tally.latencies,
        worker_cpu=stack.worker.cpu() - worker0,
        server_cpu=(cpu_seconds(server_pid) - server0) if server_pid else 0.0,
    )
    return side


async def compare(stack: Stack, clients: int, count: int, label: str) -> dict[str, Side]:
    """Bare and cellpath, ``count`` pathways each, in the order bare, cellpath, cellpath, bare."""
    first, second = count // 2, count - count // 2
    sides = {"bare": Side(), "cellpath": Side()}
    for kind, n in (("bare", first), ("cellpath", first), ("cellpath", second), ("bare", second)):
        if n == 0:
            continue
        part = await segment(stack, kind, n, clients, label)
        total = sides[kind]
        total.seconds += part.seconds
        total.pathways += part.pathways
        total.latencies += part.latencies
        total.worker_cpu += part.worker_cpu
        total.server_cpu += part.server_cpu
    return sides


def latency_result(clients: int, sides: dict[str, Side]) -> dict[str, Any]:
    bare, cellpath = percentiles(sides["bare"].latencies), percentiles(sides["cellpath"].latencies)
    ratios = {q: ratio(cellpath[f"{q}_ms"], bare[f"{q}_ms"]) for q in ("p50", "p95", "p99")}
    return {
        "clients": clients,
        "pathways_per_side": sides["cellpath"].pathways,
        "bare": bare,
        "cellpath": cellpath,
        "ratio": ratios,
        "target": f"each ratio <= {LATENCY_RATIO_MAX}",
        "met": all(r <= LATENCY_RATIO_MAX for r in ratios.values()),
    }


# ----- scenarios -----------------------------------------------------------------------------
async def warm_up(stack: Stack) -> tuple[list[WorkflowHistory], list[WorkflowHistory]]:
    """One pathway of each kind: warms the worker, yields the bare plan and the histories."""
    protocol = stack.protocol
    steps = cart_steps(protocol)
    wid, run_id = await drive_cellpath(
        stack.client, stack.cellpath_queue, protocol, steps, "BEN-000000", "bench-warm", Tally()
    )
    cellpath = await run_histories(stack.client, wid, run_id)
    stack.plan = wake_plan(cellpath)
    if sum(len(run) - 1 for run in stack.plan) != len(steps):
        raise BenchError(
            f"the warm-up pathway took {sum(len(r) - 1 for r in stack.plan)} updates over "
            f"{len(stack.plan)} runs, not {len(steps)}"
        )
    bid, bare_run = await drive_bare(
        stack.client, stack.bare_queue, stack.plan, steps, protocol, "bare-warm-000000", Tally()
    )
    bare = await run_histories(stack.client, bid, bare_run)
    return cellpath, bare


def _replayer(workflow: type) -> Replayer:
    return Replayer(
        workflows=[workflow],
        data_converter=pydantic_data_converter,
        workflow_runner=SandboxedWorkflowRunner(
            restrictions=SandboxRestrictions.default.with_passthrough_modules(*PASSTHROUGH)
        ),
    )


async def replay_ms(workflow: type, history: WorkflowHistory, times: int) -> float:
    replayer = _replayer(workflow)
    await replayer.replay_workflow(history)  # warm: sandbox and imports
    spent = []
    for _ in range(max(times, 1)):
        started = time.perf_counter()
        await replayer.replay_workflow(history)
        spent.append(time.perf_counter() - started)
    spent.sort()
    return round(spent[len(spent) // 2] * 1000, 2)


async def history_scenario(
    config: Config, cellpath: list[WorkflowHistory], bare: list[WorkflowHistory]
) -> dict[str, Any]:
    counts = {"cellpath": history_counts(cellpath), "bare": history_counts(bare)}
    largest = {
        "cellpath": max(cellpath, key=lambda h: len(h.events)),
        "bare": max(bare, key=lambda h: len(h.events)),
    }
    replay = {
        "cellpath": await replay_ms(PathwayWorkflow, largest["cellpath"], config.replays),
        "bare": await replay_ms(BareWorkflow, largest["bare"], config.replays),
    }
    return {
        "cellpath": counts["cellpath"],
        "bare": counts["bare"],
        "replay_largest_run_ms": replay,
        "ratio": {
            "events_max": ratio(counts["cellpath"]["events_max"], counts["bare"]["events_max"]),
            "replay": ratio(replay["cellpath"], replay["bare"]),
        },
        "parity": {
            name: [counts["cellpath"][name], counts["bare"][name]]
            for name in ("runs", "updates", "timers")
        },
        "target": f"events per run < {EVENTS_PER_RUN_MAX}",
        "met": counts["cellpath"]["events_max"] < EVENTS_PER_RUN_MAX,
    }


REST_SQLITE_PRAGMAS = ("journal_mode=wal", "synchronous=off")


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


def _pycache(config: Config, tmp: Path) -> Path | None:
    return tmp / "pycache" if config.bytecode_cache else None


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
                pycache=_pycache(config, tmp),
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


def chart_scenario(config: Config) -> dict[str, Any]:
    cost = chart_cost(
        rounds=config.chart_rounds, pathways=config.chart_pathways, rebuilds=config.chart_rebuilds
    )
    base = cost["baseline"]
    cost["ratio"] = {
        "transition": ratio(cost["transition_us"], base["transition_us"]),
        "rebuild": ratio(cost["rebuild_us"], base["rebuild_us"]),
    }
    cost["target"] = f"< {CHART_US_MAX} us per transition and per rebuild"
    cost["met"] = cost["transition_us"] < CHART_US_MAX and cost["rebuild_us"] < CHART_US_MAX
    return cost


# ----- the run -------------------------------------------------------------------------------
def _version(dist: str) -> str:
    try:
        return importlib.metadata.version(dist)
    except importlib.metadata.PackageNotFoundError:
        return "?"


def machine() -> dict[str, Any]:
    cpu = "?"
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.exists():
        found = re.search(r"^model name\s*:\s*(.+)$", cpuinfo.read_text(), re.MULTILINE)
        cpu = found.group(1).strip() if found else cpu
    memory = 0
    meminfo = Path("/proc/meminfo")
    if meminfo.exists():
        found = re.search(r"^MemTotal:\s*(\d+) kB", meminfo.read_text(), re.MULTILINE)
        memory = int(found.group(1)) * 1024 if found else 0
    try:
        server = subprocess.run(
            [temporal_binary(), "--version"], capture_output=True, text=True, timeout=30
        ).stdout.strip()
    except Exception:  # the version line is informative only
        server = "?"
    return {
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "cpu": cpu,
        "cores": os.cpu_count(),
        "memory_gb": round(memory / 1024**3, 1),
        "os": platform.platform(),
        "python": platform.python_version(),
        "temporalio": _version("temporalio"),
        "python-statemachine": _version("python-statemachine"),
        "pydantic": _version("pydantic"),
        "temporal": server,
        "load_average_start": round(os.getloadavg()[0], 2),
    }


async def _timed(results: dict[str, Any], name: str, work: Awaitable[Any]) -> Any:
    started = time.monotonic()
    value = await work
    results["seconds"][name] = round(time.monotonic() - started, 1)
    return value


async def run_bench(config: Config, *, log: Callable[[str], None] = print) -> dict[str, Any]:
    """Every scenario of ``config.scenarios``; returns the results (see ``bench/results.json``)."""
    began = time.monotonic()
    wanted = set(config.scenarios)
    results: dict[str, Any] = {
        "machine": machine(),
        "config": asdict(config),
        "scenarios": {},
        "seconds": {},
    }
    scenarios = results["scenarios"]
    if "chart" in wanted:
        log("chart cost ...")
        started = time.monotonic()
        scenarios["chart"] = await asyncio.to_thread(chart_scenario, config)
        results["seconds"]["chart"] = round(time.monotonic() - started, 1)
    with tempfile.TemporaryDirectory(prefix="cellpath-bench-") as tmpdir:
        tmp = Path(tmpdir)
        if wanted & {"latency", "throughput", "history"}:
            async with dev_server(tmp, "drive") as server:
                client = await connect(server)
                worker = WorkerProcess(
                    server.address,
                    tmp / "drive-worker.log",
                    cellpath_queue="bench-cellpath",
                    bare_queue="bench-bare",
                    pycache=_pycache(config, tmp),
                )
                await worker.start()
                stack = Stack(
                    server,
                    client,
                    worker,
                    "bench-cellpath",
                    "bench-bare",
                    bench_protocol(config.seconds_per_day),
                )
                try:
                    log("warm-up: one pathway of each kind ...")
                    histories = await _timed(results, "warm_up", warm_up(stack))
                    latency: dict[str, Any] = {}
                    if "latency" in wanted:
                        for clients, count in sorted(config.latency.items()):
                            log(f"latency: {clients} client(s), {count} pathways per side ...")
                            sides = await _timed(
                                results,
                                f"latency_{clients}",
                                compare(stack, clients, count, f"c{clients}"),
                            )
                            latency[str(clients)] = latency_result(clients, sides)
                    if "throughput" in wanted:
                        log(
                            f"throughput: {config.pathways} pathways per side, "
                            f"{config.clients} clients ..."
                        )
                        sides = await _timed(
                            results,
                            "throughput",
                            compare(stack, config.clients, config.pathways, "tp"),
                        )
                        per = len(cart_steps(stack.protocol))
                        bare, cellpath = sides["bare"].summary(per), sides["cellpath"].summary(per)
                        tp_ratio = ratio(cellpath["pathways_per_s"], bare["pathways_per_s"])
                        scenarios["throughput"] = {
                            "clients": config.clients,
                            "pathways_per_side": config.pathways,
                            "updates_per_pathway": per,
                            "bare": bare,
                            "cellpath": cellpath,
                            "ratio": tp_ratio,
                            "worker_cpu_ratio": ratio(
                                cellpath["worker_cpu_ms_per_pathway"],
                                bare["worker_cpu_ms_per_pathway"],
                            ),
                            "target": f"ratio >= {THROUGHPUT_RATIO_MIN}",
                            "met": tp_ratio >= THROUGHPUT_RATIO_MIN,
                        }
                        latency[str(config.clients)] = latency_result(config.clients, sides)
                    if latency:
                        scenarios["latency"] = dict(
                            sorted(latency.items(), key=lambda item: int(item[0]))
                        )
                    if "history" in wanted:
                        log("history: event counts and replay ...")
                        scenarios["history"] = await _timed(
                            results, "history", history_scenario(config, *histories)
                        )
                finally:
                    worker.stop()
                results["escalations_while_driving"] = worker.escalations
        if "rest" in wanted:
            log(f"rest: {config.rest} open workflows of each kind ...")
            scenarios["rest"] = await _timed(results, "rest", rest_scenario(config, tmp))
    results["machine"]["load_average_end"] = round(os.getloadavg()[0], 2)
    results["seconds"]["total"] = round(time.monotonic() - began, 1)
    return results


# ----- the report ----------------------------------------------------------------------------
def _met(value: bool | None) -> str:
    return "—" if value is None else ("yes" if value else "**no**")


def _trio(p: dict[str, Any]) -> str:
    return f"{p['p50_ms']:.1f} / {p['p95_ms']:.1f} / {p['p99_ms']:.1f}"


def markdown(results: dict[str, Any]) -> str:
    m = results["machine"]
    s = results["scenarios"]
    minutes, secs = divmod(int(results["seconds"].get("total", 0)), 60)
    lines = [
        "# cellpath benchmark results",
        "",
        f"{m['date']} · {m['cpu']} · {m['cores']} cores · {m['memory_gb']} GB · {m['os']} · "
        f"Python {m['python']} · temporalio {m['temporalio']} · python-statemachine "
        f"{m['python-statemachine']} · {m['temporal']} · load average "
        f"{m['load_average_start']} at start, {m.get('load_average_end', '?')} at end · "
        f"workers {'with' if results['config'].get('bytecode_cache') else 'without'} .pyc · "
        f"{minutes} min {secs} s",
        "",
        "| Scenario | Measure | cellpath | bare baseline | ratio | target | met |",
        "|---|---|---:|---:|---:|---|---|",
    ]
    row = lines.append
    if "throughput" in s:
        t = s["throughput"]
        c, b = t["cellpath"], t["bare"]
        row(
            f"| 1. Throughput ({t['pathways_per_side']} pathways × {t['updates_per_pathway']} "
            f"actions, {t['clients']} clients) | pathways/s | {c['pathways_per_s']:.2f} | "
            f"{b['pathways_per_s']:.2f} | {t['ratio']:.2f} | ≥ {THROUGHPUT_RATIO_MIN} | "
            f"{_met(t['met'])} |"
        )
        row(
            f"| | worker CPU per pathway (ms) | {c['worker_cpu_ms_per_pathway']:.0f} | "
            f"{b['worker_cpu_ms_per_pathway']:.0f} | {t['worker_cpu_ratio']:.2f} | — | |"
        )
        row(
            f"| | server CPU per pathway (ms) | {c['server_cpu_ms_per_pathway']:.0f} | "
            f"{b['server_cpu_ms_per_pathway']:.0f} | "
            f"{ratio(c['server_cpu_ms_per_pathway'], b['server_cpu_ms_per_pathway']):.2f} | — | |"
        )
    for clients, lat in s.get("latency", {}).items():
        r = lat["ratio"]
        row(
            f"| 2. Update latency, {clients} client{'s' if clients != '1' else ''} "
            f"({lat['cellpath']['count']} actions) | p50 / p95 / p99 (ms) | "
            f"{_trio(lat['cellpath'])} | {_trio(lat['bare'])} | "
            f"{r['p50']:.2f} / {r['p95']:.2f} / {r['p99']:.2f} | ≤ {LATENCY_RATIO_MAX} each | "
            f"{_met(lat['met'])} |"
        )
    if "rest" in s:
        r = s["rest"]
        c, b = r["cellpath"], r["bare"]
        row(
            f"| 3. {r['pathways']:,} open pathways at rest | worker RSS growth (MB) | "
            f"{c['rss_growth_mb']:.0f} ({c['rss_before_mb']:.0f} → {c['rss_after_mb']:.0f}) | "
            f"{b['rss_growth_mb']:.0f} ({b['rss_before_mb']:.0f} → {b['rss_after_mb']:.0f}) | "
            f"{r['ratio']['rss_growth']:.2f} | < {RSS_GROWTH_MAX_MB} MB | {_met(r['met'])} |"
        )
        if "rss_kb_per_cached" in c:
            row(
                f"| | worker RSS per cached workflow (KB; cache {r['worker_cache']}) | "
                f"{c['rss_kb_per_cached']:.0f} | {b['rss_kb_per_cached']:.0f} | "
                f"{c['rss_kb_per_cached'] / max(b['rss_kb_per_cached'], 0.1):.2f} | — | |"
            )
        row(
            f"| | server DB growth (MB) | {c['db_growth_mb']:.0f} | {b['db_growth_mb']:.0f} | "
            f"{r['ratio']['db_growth']:.2f} | — | |"
        )
    if "history" in s:
        h = s["history"]
        c, b = h["cellpath"], h["bare"]
        row(
            f"| 4. History of a 15-year CAR-T pathway | events per run: max (mean), runs | "
            f"{c['events_max']} ({c['events_mean']:.0f}), {c['runs']} | "
            f"{b['events_max']} ({b['events_mean']:.0f}), {b['runs']} | "
            f"{h['ratio']['events_max']:.2f} | < {EVENTS_PER_RUN_MAX:,} | {_met(h['met'])} |"
        )
        rep = h["replay_largest_run_ms"]
        row(
            f"| | replay of the largest run (ms) | {rep['cellpath']:.1f} | {rep['bare']:.1f} | "
            f"{h['ratio']['replay']:.2f} | — | |"
        )
    if "chart" in s:
        ch = s["chart"]
        base = ch["baseline"]
        row(
            f"| 5. Chart cost ({ch['chart']}, {ch['states']} states; baseline: 3-state chart) "
            f"| µs per transition | {ch['transition_us']:.0f} | {base['transition_us']:.0f} | "
            f"{ch['ratio']['transition']:.1f} | < {CHART_US_MAX} µs | "
            f"{_met(ch['transition_us'] < CHART_US_MAX)} |"
        )
        row(
            f"| | µs per rebuild from a record | {ch['rebuild_us']:.0f} | "
            f"{base['rebuild_us']:.0f} | {ch['ratio']['rebuild']:.1f} | < {CHART_US_MAX} µs | "
            f"{_met(ch['rebuild_us'] < CHART_US_MAX)} |"
        )
    if "escalations_while_driving" in results:
        lines += [
            "",
            f"Escalations while driving: {results['escalations_while_driving']} (0 expected: "
            "every deadline of the compressed protocol is longer than an action's latency).",
        ]
    if "history" in s:
        p = s["history"]["parity"]
        lines.append(
            f"Bare twin parity (cellpath, bare): runs {p['runs']}, updates {p['updates']}, "
            f"timers {p['timers']}."
        )
    return "\n".join(lines) + "\n"


DOCS_BEGIN = "<!-- bench:results -->"
DOCS_END = "<!-- /bench:results -->"


def update_docs(path: Path, table: str) -> None:
    """Replace the block between the bench markers of ``path`` with the latest table."""
    text = path.read_text(encoding="utf-8")
    if DOCS_BEGIN not in text or DOCS_END not in text:
        raise BenchError(f"{path} has no {DOCS_BEGIN} … {DOCS_END} block to update")
    head, rest = text.split(DOCS_BEGIN, 1)
    _, tail = rest.split(DOCS_END, 1)
    body = table.split("\n", 2)[2]  # without the "# cellpath benchmark results" title
    path.write_text(f"{head}{DOCS_BEGIN}\n{body}{DOCS_END}{tail}", encoding="utf-8")


def write_results(results: dict[str, Any], out: Path) -> str:
    out.mkdir(parents=True, exist_ok=True)
    (out / "results.json").write_text(json.dumps(results, indent=2) + "\n", encoding="utf-8")
    table = markdown(results)
    (out / "results.md").write_text(table, encoding="utf-8")
    return table


def _latency_arg(text: str) -> dict[int, int]:
    try:
        pairs = [item.split(":") for item in text.split(",") if item.strip()]
        return {int(c): int(n) for c, n in pairs}
    except ValueError:
        raise argparse.ArgumentTypeError("use CLIENTS:PATHWAYS pairs, e.g. 1:8,8:48") from None


def main(argv: list[str] | None = None) -> int:
    defaults = Config()
    parser = argparse.ArgumentParser(
        prog="python -m bench.run", description=__doc__.splitlines()[0]
    )
    parser.add_argument("--pathways", type=int, default=defaults.pathways)
    parser.add_argument("--clients", type=int, default=defaults.clients)
    parser.add_argument(
        "--latency",
        type=_latency_arg,
        default=defaults.latency,
        help="latency-only runs, CLIENTS:PATHWAYS per side (default 1:8,8:48)",
    )
    parser.add_argument("--rest", type=int, default=defaults.rest)
    parser.add_argument("--rest-concurrency", type=int, default=defaults.rest_concurrency)
    parser.add_argument("--replays", type=int, default=defaults.replays)
    parser.add_argument("--seconds-per-day", type=float, default=defaults.seconds_per_day)
    parser.add_argument("--chart-rounds", type=int, default=defaults.chart_rounds)
    parser.add_argument(
        "--scenarios", default=",".join(SCENARIOS), help=f"comma-separated, of {SCENARIOS}"
    )
    parser.add_argument(
        "--no-bytecode-cache",
        action="store_true",
        help="workers without .pyc files when PYTHONDONTWRITEBYTECODE is set (see docs)",
    )
    parser.add_argument("--out", type=Path, default=HERE, help="where results.json/.md go")
    parser.add_argument("--update-docs", type=Path, help="also refresh the table in this file")
    args = parser.parse_args(argv)
    try:
        config = Config(
            pathways=args.pathways,
            clients=args.clients,
            latency=args.latency,
            rest=args.rest,
            rest_concurrency=args.rest_concurrency,
            replays=args.replays,
            seconds_per_day=args.seconds_per_day,
            chart_rounds=args.chart_rounds,
            bytecode_cache=not args.no_bytecode_cache,
            scenarios=tuple(s.strip() for s in args.scenarios.split(",") if s.strip()),
        )
    except ValueError as err:
        parser.error(str(err))

    def log(message: str) -> None:
        print(f"[{timedelta(seconds=int(time.monotonic() - began))}] {message}", flush=True)

    pycache = tempfile.mkdtemp(prefix="cellpath-bench-pycache-") if config.bytecode_cache else None
    if pycache:
        # Replays in this process (history scenario) import the workflow module as workers do.
        sys.dont_write_bytecode = False
        sys.pycache_prefix = pycache
    began = time.monotonic()
    # SIGTERM unwinds like Ctrl-C, so that the servers and workers started here are stopped.
    signal.signal(signal.SIGTERM, lambda signum, frame: sys.exit(128 + signum))
    try:
        results = asyncio.run(run_bench(config, log=log))
    except BenchError as err:
        print(f"bench: {err}", file=sys.stderr)
        return 1
    finally:
        if pycache:
            shutil.rmtree(pycache, ignore_errors=True)
    table = write_results(results, args.out)
    if args.update_docs:
        update_docs(args.update_docs, table)
    print()
    print(table)
    return 0


if __name__ == "__main__":
    sys.exit(main())
