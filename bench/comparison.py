"""Side-by-side driving of cellpath and the bare baseline: segments, sides and their latencies.

Usage::

    sides = await compare(stack, clients=8, count=48, label="c8")
    latency_result(8, sides)["ratio"]      # cellpath / bare, at p50, p95 and p99

Bare and cellpath segments alternate (bare, cellpath, cellpath, bare) so that a change in the
machine's load during the run weighs on both sides alike.
"""

from __future__ import annotations

import asyncio
import math
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from temporalio.client import Client, WorkflowHistory

from bench.config import LATENCY_RATIO_MAX, BenchError
from bench.pathways import (
    Tally,
    cart_steps,
    drive_bare,
    drive_cellpath,
    run_histories,
    wake_plan,
)
from bench.processes import WorkerProcess, cpu_seconds
from bench.signing import BenchSigning
from devtools.devserver import DevServer
from models.protocol import Protocol


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
    #: who signs the actions (the worker verifies them with its public keys)
    signing: BenchSigning
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
                stack.signing,
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
                stack.signing,
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


async def warm_up(stack: Stack) -> tuple[list[WorkflowHistory], list[WorkflowHistory]]:
    """One pathway of each kind: warms the worker, yields the bare plan and the histories."""
    protocol = stack.protocol
    steps = cart_steps(protocol)
    # Its runs as in real time, one per follow-up year: the history scenario's pathway.
    wid, run_id = await drive_cellpath(
        stack.client,
        stack.cellpath_queue,
        protocol,
        steps,
        "BEN-000000",
        "bench-warm",
        Tally(),
        stack.signing,
        runs_apart=True,
    )
    cellpath = await run_histories(stack.client, wid, run_id)
    stack.plan = wake_plan(cellpath)
    if sum(len(run) - 1 for run in stack.plan) != len(steps):
        raise BenchError(
            f"the warm-up pathway took {sum(len(r) - 1 for r in stack.plan)} updates over "
            f"{len(stack.plan)} runs, not {len(steps)}"
        )
    bid, bare_run = await drive_bare(
        stack.client,
        stack.bare_queue,
        stack.plan,
        steps,
        protocol,
        "bare-warm-000000",
        Tally(),
        stack.signing,
    )
    bare = await run_histories(stack.client, bid, bare_run)
    return cellpath, bare
