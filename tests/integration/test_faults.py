"""Fault injection on the real dev server: nothing lost, nothing applied twice.

Pathways are driven by concurrent staff clients while the worker process is SIGKILLed and
restarted several times, then the Temporal server itself is stopped and restarted on the
same SQLite file. Every pathway must end in the expected state with each action applied
exactly once, and deadlines that fell due while the worker was dead must still escalate.

``make test`` runs a small variant; ``make test-faults`` (CELLPATH_FAULT_PATHWAYS=200) the
large one.
"""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import subprocess
import sys
import uuid
from pathlib import Path
from typing import Any

import pytest
from temporalio.client import Client, RPCTimeoutOrCancelledError
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.service import RPCError

from client import pathways as operations
from client.centres import load_centres
from devtools.demo_answers import CONSENTED, ORGANS
from devtools.demo_eligibility import no_exclusions
from devtools.devserver import DevServer, free_port
from models.protocol import Protocol
from tests.support.pathway_driver import APH, ARD, CTS, ago, referral, signed
from tests.support.waiting import eventually, worker_polling

pytestmark = pytest.mark.integration

PATHWAYS = int(os.environ.get("CELLPATH_FAULT_PATHWAYS", "12"))
WORKER_KILLS = int(os.environ.get("CELLPATH_FAULT_KILLS", "2"))


def script(protocol: Protocol, coi: str) -> list[tuple[str, dict[str, Any]]]:
    return [
        (
            "record_work_up",
            {
                **ARD,
                "completed_at": ago(protocol, 5),
                **ORGANS,
                "exclusions": no_exclusions(protocol),
            },
        ),
        ("approve_at_mdtm", {**ARD, **signed(protocol)}),
        ("record_consent", {**ARD, **CONSENTED}),
        # The blood bank is told before leukapheresis (a preparation task that gates it).
        ("record_task", {**ARD, "task": "irradiated_blood", "details": {}}),
        ("record_washout", {**CTS, "stopped": [], "treatments": ["none"]}),
        ("book_apheresis", {**CTS, "slot_at": ago(protocol, 0)}),
        ("record_apheresis", {**APH, "coi_id": coi}),
    ]


class WorkerProcess:
    """``cellpath worker`` in its own process, so that it can be SIGKILLed."""

    def __init__(self, address: str, task_queue: str, log: Path):
        self.env = {
            **os.environ,
            "TEMPORAL_ADDRESS": address,
            "CELLPATH_TASK_QUEUE": task_queue,
            "CELLPATH_LOG_FORMAT": "json",
            # Its own state dir: never a developer's dev key; payloads in clear here.
            "CELLPATH_STATE_DIR": str(log.parent),
        }
        self.env.pop("CELLPATH_ENCRYPTION_KEYS", None)
        self.env.pop("CELLPATH_ENCRYPTION_KEY_FILE", None)
        self.log = log
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        with open(self.log, "ab") as out:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "cli.main", "worker"],
                env=self.env,
                stdout=out,
                stderr=subprocess.STDOUT,
            )

    def kill(self) -> None:
        assert self.process is not None
        self.process.send_signal(signal.SIGKILL)
        self.process.wait()

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()


async def act_until_done(
    client: Client, pathway_id: str, event: str, data: dict[str, Any], update_id: str
) -> None:
    """A staff client that retries the same click (same update ID) until it is accepted."""

    async def accepted() -> bool:
        try:
            await asyncio.wait_for(
                operations.act(client, pathway_id, event, data, update_id=update_id), timeout=20
            )
        except (
            RPCError,
            RPCTimeoutOrCancelledError,
            TimeoutError,
            operations.OperationError,
            RuntimeError,
        ) as err:
            task = asyncio.current_task()
            # The SDK reports its own cancellation as an RPC timeout: let cancellation through.
            if isinstance(err, operations.ActionRefused | operations.BadInput) or (
                task is not None and task.cancelling()
            ):
                raise
            return False
        return True

    await eventually(accepted, timeout=120, interval=0.3, what=f"{event} on {pathway_id}")


async def connect(address: str) -> Client:
    async def connected() -> Client | None:
        try:
            return await Client.connect(address, data_converter=pydantic_data_converter)
        except RuntimeError:
            return None

    return await eventually(connected, timeout=20, what=f"server at {address}")


def port_free(port: int) -> bool:
    with socket.socket() as probe:
        try:
            probe.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


async def test_worker_kills_and_server_restart_lose_nothing(
    tmp_path: Path, cart_protocol: Protocol
) -> None:
    # One protocol day = 1 s: the 30-day work-up deadline of the idle control pathway falls
    # due 30 s in, while workers are killed or the server restarts, and a work-up stays
    # under 90 days old for 85 s however slowly a loaded machine takes a pathway to its
    # MDTM. The large variant takes minutes to drive 200 pathways: a slower clock still.
    protocol = cart_protocol.compressed(seconds_per_day=1.0 if PATHWAYS <= 50 else 1.5)
    db = tmp_path / "temporal.db"
    port = free_port()
    server = DevServer(port=port, db_file=db, log_file=tmp_path / "server.log")
    task_queue = f"faults-{uuid.uuid4()}"
    worker = WorkerProcess(server.address, task_queue, tmp_path / "worker.log")
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
                client, referral(f"FLT-{n:03d}"), task_queue=task_queue, protocol=protocol
            )
            ids.append(handle.id)
        idle = await operations.refer(
            client, referral("FLT-999"), task_queue=task_queue, protocol=protocol
        )

        steps = script(protocol, "x")
        accepted = 0

        async def drive(index: int, pathway_id: str) -> None:
            nonlocal accepted
            for step, (event, data) in enumerate(script(protocol, f"COI-{index:04d}")):
                await act_until_done(client, pathway_id, event, data, f"{pathway_id}:{step}")
                accepted += 1

        drivers = asyncio.gather(*(drive(i, pid) for i, pid in enumerate(ids)))

        async def chaos() -> None:
            # Each kill falls at a share of the accepted actions, so actions are in flight:
            # the drivers cannot finish before the last kill, however fast the machine.
            total = len(ids) * len(steps)
            for kill in range(1, WORKER_KILLS + 1):
                share = total * kill // (WORKER_KILLS + 1)
                await eventually(
                    lambda n=share: accepted >= n, timeout=120, what=f"{share} actions"
                )
                assert accepted < total, "the drivers finished before the chaos"
                worker.kill()
                worker.start()

        await asyncio.gather(drivers, chaos())

        # The server itself goes down and comes back on the same SQLite file.
        worker.stop()
        server.stop()
        await eventually(lambda: port_free(port), what=f"port {port} released")
        server.start()
        await server.wait_ready()
        client = await connect(server.address)
        worker.start()
        await worker_polling(client, task_queue)

        expected = [event for event, _ in script(protocol, "x")]
        for pathway_id in ids:
            record = await operations.record(client, pathway_id)
            assert [e.event for e in record.audit] == expected, pathway_id
            assert record.state == "collected"
            assert len({e.update_id for e in record.audit}) == len(expected)

        # The idle pathway's work-up deadline (30 s after referral) fell due while workers or
        # the server were down or restarting: its durable timer escalates it anyway.
        async def escalated_twice() -> Any:
            idle_record = await operations.record(client, idle.id)
            work_up = next(d for d in idle_record.deadlines if d.key == "work_up")
            return work_up if work_up.level >= 2 else None

        work_up = await eventually(
            escalated_twice, timeout=120, interval=0.3, what="idle escalation"
        )
        assert work_up.level >= 2, "deadlines survive worker and server restarts"
    finally:
        worker.stop()
        server.stop()
