"""The web app's Pathway page for a closed pathway whose workflow Temporal has deleted (as
the namespace's retention does): read from the record store, it shows the state, the audit
timeline and the incidents it showed before, says "closed — read from the record store",
and offers no action form; the Centres page shows each centre's trail of alerts and
evidence, saying what it read where. Served in the test's event loop (httpx over ASGI, no
browser), on SQLite and on PostgreSQL.
"""

from __future__ import annotations

import re
import secrets
import uuid
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path

import httpx
import pytest
import pytest_asyncio
from argon2 import PasswordHasher
from pydantic import SecretStr
from temporalio.client import Client

import store
from client import pathways as operations
from client.records import open_reader
from models.encryption import EncryptionCodec
from models.protocol import load_protocol, protocol_path
from models.settings import Settings
from signin.dev_stack import prepare_dev_sign_in
from signin.service import AssertionService
from tests.integration.test_store_wiring import delete_executions
from tests.support.pathway_driver import ARD, PHARMA, TECH, Driver, referral
from tests.support.signing import TEST_SIGNERS
from web.app import create_app
from web.context import WebContext
from worker import build_worker

pytestmark = pytest.mark.integration
pytest_plugins = ["tests.support.store_engines"]

STAFF = "t.moreau"  # a cell-therapy unit technician: quarantine is hers to send


@pytest_asyncio.fixture
async def database(database_url: str) -> AsyncIterator[str]:
    """The record store, once on SQLite and once on PostgreSQL (tests/support/store_engines)."""
    store.upgrade(database_url)
    yield database_url


def audit_rows(html: str) -> list[str]:
    table = html.split('<table class="audit">', 1)[1].split("</table>", 1)[0]
    return re.findall(r"<tr><td>\d+</td>.*?</tr>", table, re.S)


def section(html: str, heading: str) -> str:
    return html.split(f"<h2>{heading}</h2>", 1)[1].split("<h2>", 1)[0]


async def signed_in(app: httpx.AsyncClient, password: str) -> None:
    form = (await app.get("/sign-in")).text
    token = re.search(r'name="csrf_token" value="([^"]+)"', form)
    assert token, "the sign-in form carries no CSRF token"
    answer = await app.post(
        "/sign-in", data={"staff_id": STAFF, "password": password, "csrf_token": token[1]}
    )
    assert answer.status_code == 303, answer.text


async def test_a_deleted_closed_pathway_is_read_from_the_store(
    client: Client,
    task_queue: str,
    demo_centres: dict[str, str],
    encryption_codec: EncryptionCodec,
    database: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("CELLPATH_DATABASE_URL", database)
    records = store.RecordStore.open(database, codec=encryption_codec)
    dev = prepare_dev_sign_in(
        tmp_path, hasher=PasswordHasher(time_cost=1, memory_cost=64, parallelism=1)
    )
    context = WebContext(
        client=client,
        signin=AssertionService(dev.keys, authenticator=dev.accounts),
        task_queue=task_queue,
        secret_key=secrets.token_urlsafe(40),
        records=open_reader(Settings(encryption_keys=SecretStr(encryption_codec.ring.to_spec()))),
    )
    protocol = load_protocol(protocol_path("msc-systemic-sclerosis")).compressed(
        seconds_per_day=0.02, floor=timedelta(seconds=5)
    )
    transport = httpx.ASGITransport(app=create_app(context))
    try:
        async with (
            build_worker(client, task_queue, records=records, actor_keys=TEST_SIGNERS),
            httpx.AsyncClient(transport=transport, base_url="http://web.test") as app,
        ):
            pseudonym = f"WEB-{uuid.uuid4().int % 900000 + 100000}"
            handle = await operations.refer(
                client,
                referral(pseudonym, therapy="msc", disease="systemic sclerosis"),
                task_queue=task_queue,
                protocol=protocol,
            )
            go = Driver(client, handle.id, protocol)
            await go.to_consent()
            await go("order_product", PHARMA, coi_id=f"COI-{pseudonym}")
            await go("quarantine_product", TECH, finding="shipper log gap of 20 minutes")
            await go("withdraw", ARD, reason="the patient chose another treatment")
            await handle.result()
            await signed_in(app, dev.passwords[STAFF])

            before = await app.get(f"/pathways/{handle.id}")
            assert before.status_code == 200 and "Closed — read from" not in before.text
            await delete_executions(client, handle.id)
            after = await app.get(f"/pathways/{handle.id}")
            centres = await app.get("/centres")
    finally:
        records.dispose()

    assert after.status_code == 200, after.text
    page = after.text
    assert "Closed — read from the record store" in page
    assert "Nothing: this pathway is closed." in page
    assert 'action="/pathways/' not in page  # no action form
    now = re.search(r"Now: <strong>(.*?)</strong>", page)
    assert now and now[1] == re.search(r"Now: <strong>(.*?)</strong>", before.text)[1]  # type: ignore[index]
    assert audit_rows(page) == audit_rows(before.text) and len(audit_rows(page)) >= 5
    incidents = section(page, "Incidents")
    assert "shipper log gap" in incidents and incidents == section(before.text, "Incidents")

    # The Centres page shows each centre's trail and says what it read where.
    assert centres.status_code == 200, centres.text
    shown = centres.text.split("<h2>centre-b</h2>", 1)[1]
    assert "read from the record store" in shown and "workflow in Temporal" in shown
    assert "JACIE accreditation" in shown.split("<h3>Evidence audit</h3>", 1)[0]
