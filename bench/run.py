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
import os
import shutil
import signal
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from dataclasses import asdict
from datetime import timedelta
from pathlib import Path
from typing import Any

from temporalio.client import WorkflowHistory

from bench.comparison import Stack, compare, latency_result, ratio, warm_up
from bench.config import HERE, SCENARIOS, THROUGHPUT_RATIO_MIN, BenchError, Config
from bench.pathways import (
    bench_protocol,
    cart_steps,
)
from bench.processes import WorkerProcess, connect, dev_server, pycache_dir
from bench.report import machine, update_docs, write_results
from bench.rest import rest_scenario
from bench.scenarios import chart_scenario, history_scenario
from bench.signing import bench_sign_in

FAILED_RUN_LOGS = HERE / "failed-run-logs"


def keep_logs(tmp: Path, log: Callable[[str], None]) -> None:
    """A failed run's server and worker logs, kept out of its temporary directory."""
    shutil.rmtree(FAILED_RUN_LOGS, ignore_errors=True)
    FAILED_RUN_LOGS.mkdir(parents=True)
    for found in tmp.glob("*.log"):
        shutil.copy(found, FAILED_RUN_LOGS / found.name)
    log(f"logs of the failed run in {FAILED_RUN_LOGS}")


def keep_histories(out: Path, histories: tuple[list[WorkflowHistory], ...]) -> None:
    """The warm-up pathways' runs as JSON (``cellpath-run01.json``…, ``bare-run01.json``…),
    for ``python -m bench.history_bytes`` or ``temporal workflow show``-like reading."""
    out.mkdir(parents=True, exist_ok=True)
    for side, runs in zip(("cellpath", "bare"), histories, strict=True):
        for number, history in enumerate(runs, 1):
            (out / f"{side}-run{number:02d}.json").write_text(history.to_json(), encoding="utf-8")


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
        # Every action signed by its client and verified by the cellpath worker.
        "signed": True,
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
            signing = bench_sign_in(tmp / "sign-in")
            async with dev_server(tmp, "drive") as server:
                client = await connect(server)
                worker = WorkerProcess(
                    server.address,
                    tmp / "drive-worker.log",
                    cellpath_queue="bench-cellpath",
                    bare_queue="bench-bare",
                    pycache=pycache_dir(config, tmp),
                    actor_key_file=signing.public_keys,
                )
                await worker.start()
                stack = Stack(
                    server,
                    client,
                    worker,
                    "bench-cellpath",
                    "bench-bare",
                    bench_protocol(config.seconds_per_day),
                    signing,
                )
                try:
                    log("warm-up: one pathway of each kind ...")
                    histories = await _timed(results, "warm_up", warm_up(stack))
                    if config.keep_histories:
                        keep_histories(Path(config.keep_histories), histories)
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
                except BaseException:
                    worker.stop()
                    keep_logs(tmp, log)
                    raise
                finally:
                    worker.stop()
                results["escalations_while_driving"] = worker.escalations
        if "rest" in wanted:
            log(f"rest: {config.rest} open workflows of each kind ...")
            scenarios["rest"] = await _timed(results, "rest", rest_scenario(config, tmp))
    results["machine"]["load_average_end"] = round(os.getloadavg()[0], 2)
    results["seconds"]["total"] = round(time.monotonic() - began, 1)
    return results


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
    parser.add_argument(
        "--keep-histories", type=Path, help="write the warm-up pathways' histories here (JSON)"
    )
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
            keep_histories=str(args.keep_histories) if args.keep_histories else None,
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
