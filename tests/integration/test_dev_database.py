"""The dev stack's SQLite database outlives cellpath upgrades (``make run`` keeps
``.cellpath/``): search attributes a newer cellpath needs are added to an older database."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
from temporalio.api.operatorservice.v1 import ListSearchAttributesRequest
from temporalio.client import Client

from devtools.devserver import DevServer, free_port, temporal_binary
from tests.support.waiting import eventually
from workflows.search import REGISTRATION

pytestmark = pytest.mark.integration


async def registered(address: str, timeout: float = 60.0) -> set[str]:
    """The custom search attributes of the default namespace, once the server answers."""

    async def connected() -> Client | None:
        try:
            return await Client.connect(address)
        except RuntimeError:
            return None

    client = await eventually(connected, timeout=timeout, what=f"server at {address}")
    listed = await client.operator_service.list_search_attributes(
        ListSearchAttributesRequest(namespace="default")
    )
    return set(listed.custom_attributes)


async def test_an_older_database_gets_the_search_attributes_it_lacks(tmp_path: Path) -> None:
    db = tmp_path / "temporal.db"
    # A database made by a server that registered none of cellpath's attributes.
    port = free_port()
    older = subprocess.Popen(
        [temporal_binary(), "server", "start-dev", "--headless", "--ip", "127.0.0.1",
         "--port", str(port), "--db-filename", str(db), "--log-level", "error"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        assert not set(REGISTRATION) & await registered(f"127.0.0.1:{port}")
    finally:
        older.terminate()
        older.wait(15)

    server = DevServer(port=free_port(), db_file=db, log_file=tmp_path / "server.log")
    server.start()
    try:
        await server.wait_ready()
        assert set(REGISTRATION) <= await registered(server.address)
    finally:
        server.stop()
