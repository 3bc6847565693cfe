"""The bench's worker process keeps answering whatever it prints (make bench, 8 clients).

``make bench`` stopped at the latency scenario with 8 clients: Updates were refused with
"Workflow Task in failed state" and others timed out. The bench worker left structlog
unconfigured, so each ``records kept`` line went to its stdout, a pipe the bench read only
up to "ready"; once the pipe held 64 KiB, the worker's event loop blocked in ``write``
(``/proc/<pid>/wchan``: ``anon_pipe_write``), its workflow tasks timed out, and after three
attempts the server refused Updates. Now the bench worker logs to stderr (its log file), as
the production service does, and ``WorkerProcess`` keeps reading its stdout.
"""

from __future__ import annotations

import asyncio
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

import pytest

from bench.pathways import bench_protocol, cart_steps, referral
from bench.processes import WorkerProcess, connect, dev_server
from bench.signing import bench_sign_in
from client import pathways as operations
from client.errors import ActionRefused

pytestmark = pytest.mark.integration

#: a stand-in worker: says ready, prints far more than a pipe holds, then leaves a mark
CHATTY = """
import pathlib, signal, sys, time
print("ready", flush=True)
for _ in range(4000):
    sys.stdout.write("records kept " + "x" * 100 + "\\n")
sys.stdout.flush()
pathlib.Path(sys.argv[1]).write_text("done")
signal.signal(signal.SIGTERM, lambda *_: (print("escalations 3", flush=True), sys.exit(0)))
time.sleep(60)
"""


async def test_a_worker_printing_past_a_pipe_full_is_not_blocked(tmp_path: Path) -> None:
    mark = tmp_path / "mark"
    worker = WorkerProcess("unused", tmp_path / "worker.log")
    worker.command = [sys.executable, "-c", CHATTY, str(mark)]
    await worker.start(timeout=20)
    try:
        deadline = time.monotonic() + 15
        while not mark.exists() and time.monotonic() < deadline:
            await asyncio.sleep(0.05)
        assert mark.exists(), "the worker is blocked writing to its stdout"
    finally:
        worker.stop(timeout=10)
    assert worker.escalations == 3


async def test_concurrent_signed_actions_and_the_worker_logs_to_its_file(
    tmp_path: Path,
) -> None:
    """8 pathways driven at once, every action signed and verified (an unsigned one is
    refused); the worker's log lines land in its log file, never on its stdout."""
    signing = bench_sign_in(tmp_path / "sign-in")
    protocol = bench_protocol(5.0)
    steps = cart_steps(protocol)[:3]
    async with dev_server(tmp_path, "drive") as server:
        client = await connect(server)
        worker = WorkerProcess(
            server.address,
            tmp_path / "worker.log",
            cellpath_queue="q",
            actor_key_file=signing.public_keys,
        )
        await worker.start()
        try:

            async def refer(n: int) -> str:
                handle = await operations.refer(
                    client,
                    referral(f"OUT-{n:03d}", "bench-out"),
                    task_queue="q",
                    protocol=protocol,
                    check_centre=False,
                )
                return handle.id

            async def one(n: int) -> None:
                pathway_id = await refer(n)
                for step in steps:
                    data = step.payload(datetime.now(UTC), protocol, f"COI-{n}")
                    update_id, data = signing.sign(pathway_id, step.event, data)
                    receipt = await operations.act(
                        client, pathway_id, step.event, data, update_id=update_id
                    )
                    assert receipt.event == step.event

            await asyncio.wait_for(asyncio.gather(*(one(n) for n in range(8))), 60)
            # The bench's worker verifies: an action without its assertion is refused.
            unsigned = steps[0].payload(datetime.now(UTC), protocol, "COI-x")
            with pytest.raises(ActionRefused) as refused:
                await operations.act(client, await refer(900), steps[0].event, unsigned)
            assert refused.value.kind == "AssertionMissing"
        finally:
            worker.stop()
    # Its log lines (JSON) in its log file; on stdout only what the bench reads.
    log = (tmp_path / "worker.log").read_text()
    assert '"level": "info"' in log
    assert [line.split()[0] for line in worker._printed] == ["escalations"]
