"""Co-signing in the web app when staff sign in with the hospital's provider: the signer
sends the MDTM decision's form, the second person logs in at the (real, loopback) provider
in the same browser, the signer logs in again and signs, and the decision reaches the
workflow with both signatures — against the real Temporal dev server and worker.

Refused, with the rule on the pathway's page and nothing changed: the signer as his own
second person, a second person without the role, someone other than the person named, a
login in no mapped group, a held action that expired or is sent twice, a login kept for
another form. The signer's session is the same throughout: no session is opened for the
second person.
"""

from __future__ import annotations

import asyncio
import json
import re
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
import pytest_asyncio
from playwright.async_api import expect
from temporalio.client import Client

from client import pathways as operations
from devtools.demo_answers import ATTENDEES, ORGANS
from models.protocol import Protocol
from models.roles import Role
from tests.support.browser import NO_CHROMIUM, chromium, chromium_path
from tests.support.oidc_provider import LoopbackProvider, serving_provider
from tests.support.pathway_driver import ARD, Driver, ago, referral
from tests.support.provider_web import (
    EVENT,
    MARTIN,
    ROUX,
    Browser,
    serving_web,
    to_provider,
    web_with_provider,
)
from tests.support.waiting import at_rest

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def idp() -> Iterator[LoopbackProvider]:
    with serving_provider() as provider:
        yield provider


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


@pytest_asyncio.fixture
async def signed_in_at_mdtm(
    client: Client,
    task_queue: str,
    running_worker,
    cart_protocol: Protocol,
    idp: LoopbackProvider,
    tmp_path: Path,
) -> AsyncIterator[tuple[Browser, str]]:
    """dr.martin signed in with the provider in the web app, and a CAR-T pathway at its
    MDTM decision (on this test's worker)."""
    async with running_worker(), web_with_provider(client, task_queue, idp, tmp_path) as b:
        yield b, await at_mdtm(client, task_queue, cart_protocol)


async def test_the_second_person_logs_in_at_the_provider_and_the_decision_is_co_signed(
    client: Client,
    idp: LoopbackProvider,
    signed_in_at_mdtm: tuple[Browser, str],
) -> None:
    b, pid = signed_in_at_mdtm
    (signer_session,) = b.open_sessions()
    assert signer_session[0] == "dr.martin"

    # the form offers the provider's co-signature: no password field for anyone
    form = re.search(
        r'<form method="post" action="([^"]+)">(?:(?!</form>).)*value="approve_at_mdtm"'
        r"(?:(?!</form>).)*</form>",
        (await b.web.get(f"/pathways/{pid}")).text,
        re.S,
    )
    assert form and form.group(1) == f"/pathways/{pid}/cosign"
    assert 'name="cosigner_id"' in form.group(0) and "password" not in form.group(0)
    assert "second person logs in" in form.group(0)

    idp.next_logins = [ROUX]
    started = await b.send_decision(pid, cosigner_id="dr.roux")
    assert started.status_code == 200  # a page that moves on (CSP form-action 'self')
    asked = parse_qs(urlsplit(to_provider(started)).query)
    assert (asked["prompt"], asked["max_age"], asked["login_hint"]) == (
        ["login"], ["0"], ["dr.roux"]
    )  # fmt: skip
    # nothing of the decision travels in the URL (PHI stays on the server)
    assert "refractory" not in to_provider(started)
    verified = await b.through_provider(started)
    assert (verified.status_code, verified.headers["location"]) == (303, "/cosign")
    confirm = (await b.web.get("/cosign")).text
    assert "dr.roux" in confirm and "co-signs as <strong>verified</strong>" in confirm
    assert "log in again with the hospital login" in confirm
    # signing before logging in again is refused, and the held action waits
    early = await b.web.post("/cosign", data={"csrf_token": await b.csrf("/cosign")})
    assert early.status_code == 409 and "Rule: ReauthenticationRequired" in early.text
    assert (await b.web.get("/cosign")).status_code == 200
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
    # (a form's token from /refer: My work would ask earlier tests' pathways, workerless)
    replayed = await b.web.post("/cosign", data={"csrf_token": await b.csrf("/refer")})
    assert replayed.status_code == 400 and "send the form again" in replayed.text
    assert (await b.web.get("/cosign/verified")).status_code == 400
    assert await at_rest(client, pid) == length
    assert len((await operations.record(client, pid)).audit) == 2


@pytest.mark.parametrize(
    ("named", "second", "rule", "words"),
    [
        ("", MARTIN, "CosignedBySigner", "signed this action and co-signed it too"),
        ("", ("dr.roux", ["CELLPATH-NURSES-A"]), "CosignerRoleNotHeld", "is not a cell-therapy"),
        ("dr.roux", ("t.moreau", ["CELLPATH-CTS-A"]), "CosignerNotNamed", "not dr.roux"),
        ("", ("x.dupont", ["Everyone"]), "NoCellpathAccess", "none of your groups gives a role"),
    ],
    ids=["same-person", "role-not-held", "not-the-one-named", "no-mapped-group"],
)
async def test_a_second_person_who_may_not_co_sign_is_refused_and_nothing_changes(
    client: Client,
    idp: LoopbackProvider,
    signed_in_at_mdtm: tuple[Browser, str],
    named: str,
    second: tuple[str, list[str]],
    rule: str,
    words: str,
) -> None:
    b, pid = signed_in_at_mdtm
    length = await at_rest(client, pid)
    sessions = b.open_sessions()
    idp.next_logins = [second]
    refused = await b.through_provider(await b.send_decision(pid, cosigner_id=named))
    # unnamed on the form, the provider is asked for the other half of the binôme
    assert idp.authorize_params["login_hint"] == (named or "dr.roux")
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
    idp: LoopbackProvider,
    signed_in_at_mdtm: tuple[Browser, str],
) -> None:
    b, pid = signed_in_at_mdtm
    refused = await b.send_decision(pid, cosigner_id="dr.martin")
    assert refused.status_code == 409 and "Rule: CosignedBySigner" in refused.text
    assert (await b.web.get("/cosign")).status_code == 400


async def test_a_held_action_that_expired_is_refused(
    client: Client,
    idp: LoopbackProvider,
    signed_in_at_mdtm: tuple[Browser, str],
) -> None:
    b, pid = signed_in_at_mdtm
    length = await at_rest(client, pid)
    idp.next_logins = [ROUX]
    started = await b.send_decision(pid, cosigner_id="dr.roux")
    b.clock.now += 11 * 60  # the provider login takes over its 10 minutes
    late = await b.through_provider(started)
    assert late.status_code == 400 and "took too long" in late.text
    assert (await b.web.get("/cosign")).status_code == 400
    assert await at_rest(client, pid) == length
    assert (await b.web.get(f"/pathways/{pid}")).status_code == 200  # still signed in


@pytest.mark.skipif(chromium_path() is None, reason=NO_CHROMIUM)
async def test_in_a_real_browser_without_script_the_whole_co_signature_goes_through(
    client: Client,
    task_queue: str,
    running_worker,
    cart_protocol: Protocol,
    idp: LoopbackProvider,
    tmp_path: Path,
) -> None:
    """Headless Chromium, with the app's content security policy (no script, ``form-action
    'self'``) and cookies (session ``Strict``, login ``Lax``): pages that move on by
    themselves carry the browser to the provider and back, no click needs JavaScript."""
    async with (
        running_worker(),
        serving_web(client, task_queue, idp, tmp_path) as app,
        chromium() as browser,
    ):
        pid = await at_mdtm(client, task_queue, cart_protocol)
        page = await (await browser.new_context(java_script_enabled=False)).new_page()
        idp.next_logins = [MARTIN]
        await page.goto(f"{app.url}/sign-in")
        await page.click("a[href='/sign-in/provider']")
        await page.wait_for_url(f"{app.url}/")
        await page.goto(f"{app.url}/pathways/{pid}")
        mdtm = "form:has(input[name=event][value=approve_at_mdtm])"
        await page.fill(f"{mdtm} input[name=ard_specialist]", "dr.martin")
        await page.fill(f"{mdtm} input[name=cell_therapy_specialist]", "dr.roux")
        await page.fill(f"{mdtm} [name=meeting_id]", "MDTM-OIDC-02")
        await page.fill(f"{mdtm} [name=meeting_at]", "now")
        await page.fill(f"{mdtm} [name=rationale]", "refractory disease")
        await page.fill(f"{mdtm} [name=attendees]", json.dumps(ATTENDEES))
        await page.fill(f"{mdtm} input[name=cosigner_id]", "dr.roux")
        idp.next_logins = [ROUX]
        await page.locator(f"{mdtm} button[type=submit]").click()
        await page.wait_for_url(f"{app.url}/cosign")
        await expect(page.locator("main")).to_contain_text("dr.roux")
        idp.next_logins = [MARTIN]
        await page.click("a[href='/sign-in/reauthenticate?back=/cosign']")
        await expect(page.locator("main")).to_contain_text("you may sign now")
        await page.locator("form[action='/cosign'] button[type=submit]").click()
        await expect(page.locator(".notice")).to_contain_text("co-signed by dr.roux")
        entry = (await operations.record(client, pid)).audit[-1]
        assert (entry.event, entry.actor, entry.cosigner) == (EVENT, "dr.martin", "dr.roux")


async def test_a_login_kept_for_another_held_form_co_signs_nothing_else(
    client: Client,
    idp: LoopbackProvider,
    signed_in_at_mdtm: tuple[Browser, str],
) -> None:
    """dr.roux logged in for one form; its login cookie, replayed after the signer sent
    another form, does not co-sign that other one."""
    b, pid = signed_in_at_mdtm
    idp.next_logins = [ROUX]
    first = await b.send_decision(pid, cosigner_id="dr.roux")
    approved = await asyncio.to_thread(httpx.get, to_provider(first))
    back = urlsplit(approved.headers["location"])
    await b.web.get(f"{back.path}?{back.query}")  # the callback keeps dr.roux's login
    login_cookie = b.web.cookies["cellpath_login"]
    await b.send_decision(pid, cosigner_id="dr.roux", rationale="another rationale")
    b.web.cookies.set("cellpath_login", login_cookie)
    replayed = await b.web.get("/cosign/verified")
    assert replayed.status_code == 400 and "send the form again" in replayed.text
    assert (await b.web.get("/cosign")).status_code == 400


async def test_the_signer_may_drop_a_held_action(
    client: Client,
    idp: LoopbackProvider,
    signed_in_at_mdtm: tuple[Browser, str],
) -> None:
    b, pid = signed_in_at_mdtm
    length = await at_rest(client, pid)
    idp.next_logins = [ROUX]
    await b.through_provider(await b.send_decision(pid, cosigner_id="dr.roux"))
    dropped = await b.web.post("/cosign/cancel", data={"csrf_token": await b.csrf("/cosign")})
    assert (dropped.status_code, dropped.headers["location"]) == (303, f"/pathways/{pid}")
    assert "Not sent: Approve at MDTM" in (await b.web.get(f"/pathways/{pid}")).text
    assert (await b.web.get("/cosign")).status_code == 400
    assert await at_rest(client, pid) == length
