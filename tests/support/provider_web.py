"""The staff web app signing in with the loopback OIDC provider
(tests/support/oidc_provider.py), served in the test's event loop against the test's
Temporal server, and a browser driven over HTTP (httpx): cookies kept, the provider's
redirects and the app's pages that move on by themselves followed.

Usage::

    async with web_with_provider(client, task_queue, idp, tmp_path) as browser:
        started = await browser.send_decision(pathway_id, cosigner_id="dr.roux")
        answer = await browser.through_provider(started)

``serving_web`` alone serves the app (a real browser signs in itself).
"""

from __future__ import annotations

import asyncio
import html
import json
import re
import secrets
import time
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import urlsplit

import httpx
from temporalio.client import Client

from devtools.codec_server import running
from devtools.demo_answers import ATTENDEES
from signin.hospital_login import HospitalLogin
from signin.service import AssertionService
from signin.session_list import SessionList
from tests.support.hospital_login import hospital_config
from tests.support.oidc_provider import LoopbackProvider
from tests.support.signing import TEST_SIGNING_KEYS
from web.app import create_app
from web.context import WebContext

EVENT = "approve_at_mdtm"
MARTIN, ROUX = ("dr.martin", ["CELLPATH-ARD-A"]), ("dr.roux", ["CELLPATH-CTS-A"])


class Clock:
    """The web app's clock (held actions' expiry, the idle timeout), moved by the tests."""

    def __init__(self) -> None:
        self.now = time.time()

    def __call__(self) -> float:
        return self.now


def moving_on(page: httpx.Response) -> str:
    """Where a page that moves on by itself (``moving_on.html``) sends the browser."""
    found = re.search(r'http-equiv="refresh" content="0;url=([^"]+)"', page.text)
    assert page.status_code == 200 and found, page.text
    return html.unescape(found.group(1))


def to_provider(started: httpx.Response) -> str:
    """Where the browser goes to log in: a redirect (a link followed), or a page that moves
    on by itself (a form sent: CSP ``form-action 'self'`` forbids its redirect elsewhere)."""
    if started.status_code == 303:
        return started.headers["location"]
    return moving_on(started)


@dataclass
class Browser:
    """One browser: the web app's cookies, and visits to the provider."""

    web: httpx.AsyncClient
    idp: LoopbackProvider
    service: AssertionService
    clock: Clock

    async def through_provider(self, started: httpx.Response) -> httpx.Response:
        """``started`` sent the browser to the provider; it approves, the callback answers,
        and the browser follows the callback's same-site step."""
        # The provider's own thread and loop (tests/support/oidc_provider.py): a plain call.
        approved = await asyncio.to_thread(httpx.get, to_provider(started))
        assert approved.status_code == 302, approved.text
        back = urlsplit(approved.headers["location"])
        answer = await self.web.get(f"{back.path}?{back.query}")
        return await self.web.get(moving_on(answer))

    async def csrf(self, path: str) -> str:
        found = re.search(r'name="csrf_token" value="([^"]+)"', (await self.web.get(path)).text)
        assert found, f"no form on {path}"
        return found.group(1)

    async def send_decision(self, pathway_id: str, **extra: str) -> httpx.Response:
        form = {
            "csrf_token": await self.csrf(f"/pathways/{pathway_id}"),
            "event": EVENT,
            "role": "ard_specialist",
            "update_id": str(uuid.uuid4()),
            "ard_specialist": "dr.martin",
            "cell_therapy_specialist": "dr.roux",
            "meeting_id": "MDTM-OIDC-01",
            "meeting_at": "now",
            "attendees": json.dumps(ATTENDEES),
            "rationale": "refractory disease",
            **extra,
        }
        return await self.web.post(f"/pathways/{pathway_id}/cosign", data=form)

    def open_sessions(self) -> list[tuple[str, str]]:
        listed = self.service.sessions.listed(datetime.now(UTC))  # type: ignore[union-attr]
        return [(s.actor, s.session_id) for s in listed]


@dataclass
class Served:
    url: str
    service: AssertionService
    clock: Clock


@asynccontextmanager
async def serving_web(
    client: Client, task_queue: str, idp: LoopbackProvider, tmp_path: Path
) -> AsyncIterator[Served]:
    """The web app, signing in with the loopback provider, in this event loop."""
    hospital = HospitalLogin(hospital_config(idp, tmp_path))
    # the keys the test workers trust: the workflow verifies both signatures
    service = AssertionService(
        TEST_SIGNING_KEYS,
        authenticator=hospital,
        provider=hospital,
        sessions=SessionList(tmp_path / "sessions.db"),
    )
    clock = Clock()
    context = WebContext(
        client=client,
        signin=service,
        task_queue=task_queue,
        secret_key=secrets.token_urlsafe(40),
        hospital=hospital,
        clock=clock,
    )
    idp.next_logins, idp.logged_in_at = [], None
    async with running(create_app(context)) as url:
        yield Served(url, service, clock)


@asynccontextmanager
async def web_with_provider(
    client: Client, task_queue: str, idp: LoopbackProvider, tmp_path: Path
) -> AsyncIterator[Browser]:
    """The web app, and a browser where dr.martin signed in with the provider."""
    async with (
        serving_web(client, task_queue, idp, tmp_path) as served,
        httpx.AsyncClient(base_url=served.url, follow_redirects=False) as web,
    ):
        browser = Browser(web, idp, served.service, served.clock)
        idp.next_logins = [MARTIN]
        # /refer, not My work: My work asks every listed pathway, also earlier tests' whose
        # worker has stopped (each such query waits for its timeout)
        signed_in = await browser.through_provider(await web.get("/sign-in/provider?back=/refer"))
        assert signed_in.status_code == 200, signed_in.text
        yield browser
