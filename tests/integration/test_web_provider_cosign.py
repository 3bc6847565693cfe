"""Co-signing in the web app when staff sign in with the hospital's provider: the signer
sends the MDTM decision's form, the second person logs in at the (real, loopback) provider
in the same browser, the signer logs in again and signs, and the decision reaches the
workflow with both signatures — against the real Temporal dev server and worker.

Refused, with the rule on the pathway's page and nothing changed: the signer as his own
second person, a second person without the role, a held action that expired or is sent
twice. The signer's session is the same throughout: no session is opened for the second
person.
"""

from __future__ import annotations

import asyncio
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
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from temporalio.client import Client

from client import pathways as operations
from devtools.codec_server import running
from devtools.demo_answers import ATTENDEES, ORGANS
from models.protocol import Protocol
from models.roles import Role
from signin.hospital_login import HospitalLogin, ProviderConfig
from signin.oidc import GroupMapping
from signin.service import AssertionService
from signin.session_list import SessionList
from tests.support.oidc_provider import (
    CLIENT_ID,
    CLIENT_SECRET,
    MAPPING,
    LoopbackProvider,
    serving_provider,
)
from tests.support.pathway_driver import ARD, Driver, ago, referral
from tests.support.signing import TEST_SIGNING_KEYS
from tests.support.waiting import at_rest
from web.app import create_app
from web.context import WebContext

pytestmark = pytest.mark.integration

EVENT = "approve_at_mdtm"
MARTIN, ROUX = ("dr.martin", ["CELLPATH-ARD-A"]), ("dr.roux", ["CELLPATH-CTS-A"])


class Clock:
    """The web app's clock (held actions' expiry, the idle timeout), moved by the tests."""

    def __init__(self) -> None:
        self.now = time.time()

    def __call__(self) -> float:
        return self.now


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
        assert started.status_code == 303, started.text
        # The provider's own thread and loop (tests/support/oidc_provider.py): a plain call.
        approved = await asyncio.to_thread(httpx.get, started.headers["location"])
        assert approved.status_code == 302, approved.text
        back = urlsplit(approved.headers["location"])
        answer = await self.web.get(f"{back.path}?{back.query}")
        moving_on = re.search(r'http-equiv="refresh" content="0;url=([^"]+)"', answer.text)
        assert moving_on, answer.text
        return await self.web.get(moving_on.group(1))

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


@pytest.fixture(scope="module")
def idp() -> AsyncIterator[LoopbackProvider]:
    with serving_provider() as provider:
        yield provider


@asynccontextmanager
async def web_with_provider(
    client: Client, task_queue: str, idp: LoopbackProvider, tmp_path: Path
) -> AsyncIterator[Browser]:
    (tmp_path / "groups.yaml").write_text(MAPPING)
    config = ProviderConfig(
        issuer=idp.issuer,
        client_id=CLIENT_ID,
        client_secret=CLIENT_SECRET,
        mapping=GroupMapping.load(tmp_path / "groups.yaml"),
        name="Test Hospital",
    )
    hospital = HospitalLogin(config)
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
    async with (
        running(create_app(context)) as url,
        httpx.AsyncClient(base_url=url, follow_redirects=False) as web,
    ):
        browser = Browser(web, idp, service, clock)
        idp.next_logins = [MARTIN]
        # /refer: a page that reads nothing from Temporal (My work lists from its visibility)
        signed_in = await browser.through_provider(await web.get("/sign-in/provider?back=/refer"))
        assert signed_in.status_code == 200, signed_in.text
        yield browser


async def at_mdtm(client: Client, task_queue: str, protocol: Protocol) -> str:
    """A CAR-T pathway whose work-up is recorded: the binôme's MDTM decision is next."""
    handle = await operations.refer(
        client, referral(f"OIDC-{uuid.uuid4().int % 1_000_000:06d}"), task_queue=task_queue,
        protocol=protocol,
    )  # fmt: skip
    await Driver(client, handle.id, protocol)(
        "record_work_up", ARD, completed_at=ago(protocol, 5), **ORGANS
    )
    return handle.id


async def test_the_second_person_logs_in_at_the_provider_and_the_decision_is_co_signed(
    client: Client,
    task_queue: str,
    running_worker,
    cart_protocol: Protocol,
    idp: LoopbackProvider,
    tmp_path: Path,
) -> None:
    async with running_worker(), web_with_provider(client, task_queue, idp, tmp_path) as b:
        pid = await at_mdtm(client, task_queue, cart_protocol)
        (signer_session,) = b.open_sessions()
        assert signer_session[0] == "dr.martin"

        idp.next_logins = [ROUX]
        started = await b.send_decision(pid, cosigner_id="dr.roux")
        asked = parse_qs(urlsplit(started.headers["location"]).query)
        assert (asked["prompt"], asked["max_age"], asked["login_hint"]) == (
            ["login"], ["0"], ["dr.roux"]
        )  # fmt: skip
        # nothing of the decision travels in the URL (PHI stays on the server)
        assert "refractory" not in started.headers["location"]
        verified = await b.through_provider(started)
        assert (verified.status_code, verified.headers["location"]) == (303, "/cosign")
        confirm = (await b.web.get("/cosign")).text
        assert "dr.roux" in confirm and "co-signs as <strong>verified</strong>" in confirm
        assert "log in again with the hospital login" in confirm
        # the signer logs in again to sign, as for any signature; then signs and sends
        idp.next_logins = [MARTIN]
        again = await b.through_provider(await b.web.get("/sign-in/reauthenticate?back=/cosign"))
        assert idp.authorize_params["login_hint"] == "dr.martin"
        assert again.headers["location"] == "/cosign"
        sent = await b.web.post("/cosign", data={"csrf_token": await b.csrf("/cosign")})
        assert (sent.status_code, sent.headers["location"]) == (303, f"/pathways/{pid}")
        page = (await b.web.get(f"/pathways/{pid}")).text
        assert "Recorded: Approve at MDTM, co-signed by dr.roux" in page

        entry = (await operations.record(client, pid)).audit[-1]
        assert (entry.event, entry.actor, entry.meaning) == (EVENT, "dr.martin", "approved")
        assert (entry.cosigner, entry.cosigner_role, entry.cosigner_meaning) == (
            "dr.roux", Role.CELL_THERAPY_SPECIALIST, "verified"
        )  # fmt: skip
        # the signer's session is the one he opened; none was opened for dr.roux
        assert b.open_sessions() == [signer_session]
        assert "dr.martin" in page and "Sign out" in page

        # the held action was used once: sent again, refused, nothing recorded twice
        length = await at_rest(client, pid)
        replayed = await b.web.post("/cosign", data={"csrf_token": await b.csrf("/")})
        assert replayed.status_code == 400 and "send the form again" in replayed.text
        assert (await b.web.get("/cosign/verified")).status_code == 400
        assert await at_rest(client, pid) == length
        assert len((await operations.record(client, pid)).audit) == 2


@pytest.mark.parametrize(
    ("second", "rule", "words"),
    [
        (MARTIN, "CosignedBySigner", "signed this action and co-signed it too"),
        (("dr.roux", ["CELLPATH-NURSES-A"]), "CosignerRoleNotHeld", "is not a cell-therapy"),
    ],
    ids=["same-person", "role-not-held"],
)
async def test_a_second_person_who_may_not_co_sign_is_refused_and_nothing_changes(
    client: Client,
    task_queue: str,
    running_worker,
    cart_protocol: Protocol,
    idp: LoopbackProvider,
    tmp_path: Path,
    second: tuple[str, list[str]],
    rule: str,
    words: str,
) -> None:
    async with running_worker(), web_with_provider(client, task_queue, idp, tmp_path) as b:
        pid = await at_mdtm(client, task_queue, cart_protocol)
        length = await at_rest(client, pid)
        sessions = b.open_sessions()
        idp.next_logins = [second]
        refused = await b.through_provider(await b.send_decision(pid))
        assert refused.status_code == 409, refused.text
        text = " ".join(refused.text.split())
        assert f"Rule: {rule}" in text and words in text and "Nothing was changed" in text
        # the form keeps what was typed, to send again
        assert 'value="MDTM-OIDC-01"' in refused.text
        assert await at_rest(client, pid) == length
        assert (await operations.record(client, pid)).audit[-1].event == "record_work_up"
        # the refused held action is gone; the signer is still signed in, as himself
        assert (await b.web.get("/cosign")).status_code == 400
        assert b.open_sessions() == sessions
        assert (await b.web.get(f"/pathways/{pid}")).status_code == 200


async def test_the_signer_naming_himself_is_refused_before_any_login(
    client: Client,
    task_queue: str,
    running_worker,
    cart_protocol: Protocol,
    idp: LoopbackProvider,
    tmp_path: Path,
) -> None:
    async with running_worker(), web_with_provider(client, task_queue, idp, tmp_path) as b:
        pid = await at_mdtm(client, task_queue, cart_protocol)
        refused = await b.send_decision(pid, cosigner_id="dr.martin")
        assert refused.status_code == 409 and "Rule: CosignedBySigner" in refused.text
        assert (await b.web.get("/cosign")).status_code == 400


async def test_a_held_action_that_expired_is_refused(
    client: Client,
    task_queue: str,
    running_worker,
    cart_protocol: Protocol,
    idp: LoopbackProvider,
    tmp_path: Path,
) -> None:
    async with running_worker(), web_with_provider(client, task_queue, idp, tmp_path) as b:
        pid = await at_mdtm(client, task_queue, cart_protocol)
        length = await at_rest(client, pid)
        idp.next_logins = [ROUX]
        started = await b.send_decision(pid, cosigner_id="dr.roux")
        b.clock.now += 11 * 60  # the provider login takes over its 10 minutes
        late = await b.through_provider(started)
        assert late.status_code == 400 and "took too long" in late.text
        assert (await b.web.get("/cosign")).status_code == 400
        assert await at_rest(client, pid) == length
        assert (await b.web.get(f"/pathways/{pid}")).status_code == 200  # still signed in
