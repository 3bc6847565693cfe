"""The processes a bench run measures: dev servers and bench workers, their RSS and CPU time.

Usage::

    async with dev_server(tmp, "drive") as server:
        worker = WorkerProcess(server.address, tmp / "worker.log", cellpath_queue="q")
        await worker.start()

Limitation: RSS and CPU time are read from ``/proc`` (Linux only).
"""

from __future__ import annotations

import asyncio
import os
import re
import signal
import subprocess
import sys
import threading
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from temporalio.client import Client
from temporalio.contrib.pydantic import pydantic_data_converter

from bench.config import ROOT, BenchError, Config
from devtools.devserver import DevServer, free_port


def proc_status(pid: int, key: str) -> int:
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
        actor_key_file: Path | None = None,
    ):
        self.command = [sys.executable, "-m", "bench.worker", "--address", address]
        if actor_key_file is not None:
            self.command += ["--actor-key-file", str(actor_key_file)]
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
        # Everything the worker prints after "ready", read as it comes (see start()).
        self._printed: list[str] = []
        self._reader: threading.Thread | None = None

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
        # Keep reading its stdout: a pipe nobody reads holds 64 KiB, and a worker whose
        # write blocks stops answering its workflow tasks (they time out; after three
        # attempts the server refuses Updates: "Workflow Task in failed state").
        self._reader = threading.Thread(target=self._drain, daemon=True)
        self._reader.start()

    def _drain(self) -> None:
        assert self.process is not None and self.process.stdout is not None
        for line in self.process.stdout:
            self._printed.append(line)

    def rss(self) -> int:
        return proc_status(self.pid, "VmRSS")

    def peak_rss(self) -> int:
        return proc_status(self.pid, "VmHWM")

    def cpu(self) -> float:
        return cpu_seconds(self.pid)

    def stop(self, timeout: float = 60.0) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        if self._reader is not None:
            self._reader.join(timeout=10)
        found = re.search(r"escalations (\d+)", "".join(self._printed))
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


REST_SQLITE_PRAGMAS = ("journal_mode=wal", "synchronous=off")


def pycache_dir(config: Config, tmp: Path) -> Path | None:
    """Where bench workers keep their .pyc files, when the run keeps them at all."""
    return tmp / "pycache" if config.bytecode_cache else None
