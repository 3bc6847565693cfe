"""Sign-in with the hospital's identity provider, end to end without a browser: the web app
(Starlette's TestClient) against a small real OIDC provider on a loopback port
(tests/support/oidc_provider.py) — discovery, keys, the code flow with PKCE, state and
nonce; forged, foreign and unmapped logins refused; a fresh login for a signature."""

from __future__ import annotations

import re
import secrets
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from starlette.testclient import TestClient

from signin.hospital_login import HospitalLogin
from signin.keys import SigningKeys
from signin.service import VIA_PROVIDER, AssertionService
from signin.session_list import SessionList
from tests.support.hospital_login import hospital_config
from tests.support.oidc_provider import (
    LoopbackProvider,
    serving_provider,
)
from web.app import create_app
from web.context import WebContext
from web.staff_session import StaffSession


@pytest.fixture(scope="module")
def idp() -> Iterator[LoopbackProvider]:
    with serving_provider() as provider:
        yield provider


@pytest.fixture(autouse=True)
def _fresh_knobs(idp: LoopbackProvider) -> None:
    idp.groups, idp.username = ["CELLPATH-NURSES-A", "Everyone"], "n.bernard"
    idp.forge, idp.foreign_issuer, idp.logged_in_at = False, None, None


@pytest.fixture
def web(idp: LoopbackProvider, tmp_path: Path) -> tuple[TestClient, AssertionService]:
    hospital = HospitalLogin(hospital_config(idp, tmp_path))
    service = AssertionService(
        SigningKeys.generate("web-test"),
        authenticator=hospital,
        provider=hospital,
        sessions=SessionList(tmp_path / "sessions.db"),
    )
    context = WebContext(
        client=None,  # type: ignore[arg-type]  # these pages never reach Temporal
        signin=service,
        task_queue="tq-unused",
        secret_key=secrets.token_urlsafe(40),
        hospital=hospital,
    )
    return TestClient(create_app(context), follow_redirects=False), service


def through_provider(client: TestClient, start: str = "/sign-in/provider") -> httpx.Response:
    """Start at ``start``, let the provider approve, come back: the callback's answer."""
    begun = client.get(start)
    assert begun.status_code == 303, begun.text
    approved = httpx.get(begun.headers["location"], follow_redirects=False)
    assert approved.status_code == 302, approved.text
    back = urlsplit(approved.headers["location"])
    assert back.path == "/sign-in/callback"
    return client.get(f"{back.path}?{back.query}")


def test_the_sign_in_page_offers_the_provider_and_no_password(web) -> None:
    client, _ = web
    html = client.get("/sign-in").text
    assert "Sign in with Test Hospital" in html and 'href="/sign-in/provider"' in html
    assert 'type="password"' not in html


def test_a_nurse_signs_in_with_the_provider(web, idp: LoopbackProvider) -> None:
    client, service = web
    assert client.get("/refer").status_code == 303
    answer = through_provider(client)
    asked = idp.authorize_params
    assert asked["code_challenge_method"] == "S256" and asked["nonce"] and asked["state"]
    assert "prompt" not in asked
    assert answer.status_code == 200 and 'http-equiv="refresh" content="0;url=/"' in answer.text
    page = client.get("/refer")
    assert page.status_code == 200 and "Nathalie Bernard" in page.text
    (listed,) = service.sessions.listed(datetime.now(UTC))  # type: ignore[union-attr]
    assert (listed.actor, listed.via) == ("n.bernard", "provider")


@pytest.mark.parametrize(
    ("knob", "value", "status", "words"),
    [
        ("forge", True, 401, "could not be confirmed"),
        ("foreign_issuer", "https://idp.elsewhere.test", 401, "could not be confirmed"),
        ("groups", ["Everyone", "Radiology"], 403, "none of your groups gives a role"),
    ],
    ids=["forged", "foreign-issuer", "no-mapped-group"],
)
def test_a_login_we_cannot_trust_or_map_opens_no_session(
    web, idp: LoopbackProvider, knob: str, value: object, status: int, words: str
) -> None:
    client, service = web
    setattr(idp, knob, value)
    answer = through_provider(client)
    assert answer.status_code == status and words in answer.text
    assert client.get("/refer").status_code == 303
    assert service.sessions.listed(datetime.now(UTC)) == []  # type: ignore[union-attr]


def test_a_callback_not_started_here_is_refused(web, idp: LoopbackProvider) -> None:
    client, _ = web
    begun = client.get("/sign-in/provider")
    approved = httpx.get(begun.headers["location"], follow_redirects=False)
    code = parse_qs(urlsplit(approved.headers["location"]).query)["code"][0]
    # another browser (no login cookie), or this one with another state: refused, no session
    stranger = TestClient(client.app, follow_redirects=False)
    assert stranger.get(f"/sign-in/callback?code={code}&state=x").status_code == 400
    wrong_state = client.get(f"/sign-in/callback?code={code}&state=not-the-one")
    assert wrong_state.status_code == 400 and "not started here" in wrong_state.text
    assert client.get("/refer").status_code == 303


def test_a_signature_logs_in_again_with_the_provider(web, idp: LoopbackProvider) -> None:
    client, service = web
    through_provider(client)
    answer = through_provider(client, "/sign-in/reauthenticate?back=/refer")
    assert (idp.authorize_params["prompt"], idp.authorize_params["max_age"]) == ("login", "0")
    assert re.search(r'url=/sign-in/reauthenticated"', answer.text)
    back = client.get("/sign-in/reauthenticated")
    assert (back.status_code, back.headers["location"]) == (303, "/refer")
    assert "you may sign now" in client.get("/refer").text
    # someone else logging in at this computer does not sign for her
    idp.username = "t.moreau"
    through_provider(client, "/sign-in/reauthenticate?back=/refer")
    client.get("/sign-in/reauthenticated")
    assert "not &#39;n.bernard&#39;: sign it yourself" in client.get("/refer").text


def test_a_provider_session_signs_with_its_fresh_login_never_a_typed_password(web, idp) -> None:
    _, service = web
    identity, when, fresh = service.provider.finish(  # type: ignore[union-attr]
        *_code_for(idp, service.provider)
    )
    session = service.open_session(identity, authenticated_at=when, via=VIA_PROVIDER)
    staff = StaffSession(service, session, fresh_login=fresh)
    assert staff.via_provider and staff.signing("typed password").credential == fresh
    assert StaffSession(service, session).signing("typed password").credential is None


def _code_for(idp: LoopbackProvider, hospital):
    url, pending = hospital.start("http://testserver/sign-in/callback", reauthenticate=True)
    approved = httpx.get(url, follow_redirects=False)
    code = parse_qs(urlsplit(approved.headers["location"]).query)["code"][0]
    return code, pending, "http://testserver/sign-in/callback"


def test_keys_the_provider_rotated_to_are_fetched_again(web, idp: LoopbackProvider) -> None:
    from joserfc.jwk import ECKey

    client, service = web
    assert through_provider(client).status_code == 200  # the provider's keys are now cached
    old = idp.key
    idp.key = ECKey.generate_key("P-256", parameters={"kid": "idp-2"})
    try:
        # fetched a moment ago: a token naming an unknown key is refused, not a new fetch
        assert through_provider(TestClient(client.app, follow_redirects=False)).status_code == 401
        service.provider._keys_fetched -= 120  # type: ignore[union-attr]  # a while later
        again = TestClient(client.app, follow_redirects=False)
        assert through_provider(again).status_code == 200
        assert again.get("/refer").status_code == 200
    finally:
        idp.key = old
