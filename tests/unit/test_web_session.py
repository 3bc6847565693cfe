"""The web app's session, CSRF and headers, without a browser or Temporal: sign-in needs
the form's CSRF token, the session cookie is HttpOnly and SameSite=strict, an idle session
ends, signing out ends it, every response carries the security headers."""

from __future__ import annotations

import re
import secrets
from datetime import timedelta
from pathlib import Path

import pytest
from argon2 import PasswordHasher
from starlette.testclient import TestClient

from signin.dev_stack import prepare_dev_sign_in
from web.app import create_app
from web.context import WebContext


class Clock:
    def __init__(self) -> None:
        self.now = 1_000_000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def app(tmp_path: Path, clock: Clock) -> tuple[TestClient, dict[str, str]]:
    dev = prepare_dev_sign_in(tmp_path, hasher=PasswordHasher(time_cost=1, memory_cost=64))
    context = WebContext(
        client=None,  # type: ignore[arg-type]  # these pages never reach Temporal
        signin=dev.service(),
        task_queue="tq-unused",
        secret_key=secrets.token_urlsafe(40),
        idle_timeout=timedelta(minutes=15),
        clock=clock,
    )
    return TestClient(create_app(context), follow_redirects=False), dev.passwords


def token_of(html: str) -> str:
    found = re.search(r'name="csrf_token" value="([^"]+)"', html)
    assert found, "the form carries no CSRF token"
    return found.group(1)


def sign_in(client: TestClient, passwords: dict[str, str], who: str = "n.bernard") -> str:
    token = token_of(client.get("/sign-in").text)
    answer = client.post(
        "/sign-in", data={"staff_id": who, "password": passwords[who], "csrf_token": token}
    )
    assert answer.status_code == 303 and answer.headers["location"] == "/"
    return token


class TestSignIn:
    """Sign-in takes the form's CSRF token and a right password, and sets a safe cookie."""

    def test_a_sign_in_posted_without_the_token_is_refused(self, app) -> None:
        client, passwords = app
        client.get("/sign-in")
        answer = client.post(
            "/sign-in", data={"staff_id": "n.bernard", "password": passwords["n.bernard"]}
        )
        assert answer.status_code == 403 and "security token" in answer.text
        assert client.get("/refer").status_code == 303

    def test_a_wrong_password_is_refused_with_the_same_words_as_an_unknown_id(self, app) -> None:
        client, _ = app
        token = token_of(client.get("/sign-in").text)
        wrong = client.post(
            "/sign-in", data={"staff_id": "n.bernard", "password": "nope", "csrf_token": token}
        )
        unknown = client.post(
            "/sign-in", data={"staff_id": "nobody", "password": "nope", "csrf_token": token}
        )
        assert wrong.status_code == unknown.status_code == 401
        assert "Wrong staff ID or password" in wrong.text and "Wrong staff ID" in unknown.text

    def test_the_session_cookie_is_httponly_and_samesite_strict(self, app) -> None:
        client, passwords = app
        token = token_of(client.get("/sign-in").text)
        answer = client.post(
            "/sign-in",
            data={"staff_id": "n.bernard", "password": passwords["n.bernard"], "csrf_token": token},
        )
        cookie = answer.headers["set-cookie"].lower()
        assert cookie.startswith("cellpath_session=")
        assert "httponly" in cookie and "samesite=strict" in cookie and "path=/" in cookie
        assert passwords["n.bernard"].lower() not in cookie

    def test_signing_in_replaces_the_csrf_token(self, app) -> None:
        client, passwords = app
        before = sign_in(client, passwords)
        after = token_of(client.get("/refer").text)
        assert after != before


class TestSessionEnds:
    """A page without a session, after the idle timeout or after sign-out goes to sign-in."""

    def test_no_session_redirects_to_sign_in(self, app) -> None:
        client, _ = app
        for path in ("/", "/refer", "/centres", "/incidents", "/pathways/pathway-centre-a-X-1"):
            answer = client.get(path)
            assert (answer.status_code, answer.headers["location"]) == (303, "/sign-in"), path

    def test_an_idle_session_ends(self, app, clock: Clock) -> None:
        client, passwords = app
        sign_in(client, passwords)
        clock.now += 14 * 60
        assert client.get("/refer").status_code == 200  # and this visit restarts the wait
        clock.now += 14 * 60
        assert client.get("/refer").status_code == 200
        clock.now += 15 * 60 + 1
        answer = client.get("/refer")
        assert answer.headers["location"] == "/sign-in?ended=idle"
        assert client.get("/refer").headers["location"] == "/sign-in"
        assert "without activity" in client.get("/sign-in?ended=idle").text

    def test_sign_out_needs_the_token_and_ends_the_session(self, app) -> None:
        client, passwords = app
        sign_in(client, passwords)
        assert client.post("/sign-out").status_code == 403
        assert client.get("/refer").status_code == 200
        token = token_of(client.get("/refer").text)
        assert client.post("/sign-out", data={"csrf_token": token}).status_code == 303
        assert client.get("/refer").headers["location"] == "/sign-in"


class TestHeaders:
    """Every response carries the security headers; no page holds a script."""

    def test_security_headers(self, app) -> None:
        client, passwords = app
        for answer in (client.get("/sign-in"), client.get("/refer"), client.get("/nowhere")):
            h = answer.headers
            assert "script-src 'none'" in h["content-security-policy"]
            assert "frame-ancestors 'none'" in h["content-security-policy"]
            assert h["x-content-type-options"] == "nosniff" and h["x-frame-options"] == "DENY"
            assert h["cache-control"] == "no-store" and h["referrer-policy"] == "no-referrer"
            assert "server" not in h

    def test_no_page_has_a_script_or_inline_style(self, app) -> None:
        client, passwords = app
        pages = [client.get("/sign-in").text]
        sign_in(client, passwords)
        pages.append(client.get("/refer").text)
        for html in pages:
            assert "<script" not in html and "style=" not in html and "onclick" not in html


class TestFailures:
    """Temporal out of reach: the page says so (503) without a trace; logs hold no secret."""

    def test_temporal_unreachable_is_a_page_not_a_trace(self, tmp_path: Path, clock: Clock) -> None:
        from temporalio.service import RPCError, RPCStatusCode

        class Unreachable:
            def list_workflows(self, query: str):
                raise RPCError("connection refused", RPCStatusCode.UNAVAILABLE, b"")

        dev = prepare_dev_sign_in(tmp_path, hasher=PasswordHasher(time_cost=1, memory_cost=64))
        context = WebContext(
            client=Unreachable(),  # type: ignore[arg-type]
            signin=dev.service(),
            task_queue="tq-unused",
            secret_key=secrets.token_urlsafe(40),
            clock=clock,
        )
        client = TestClient(create_app(context), follow_redirects=False)
        sign_in(client, dev.passwords)
        answer = client.get("/")
        assert answer.status_code == 503
        assert "Temporal cannot be reached" in answer.text and "Traceback" not in answer.text

    def test_sign_in_logs_the_staff_id_never_the_password(self, app) -> None:
        from structlog.testing import capture_logs

        client, passwords = app
        with capture_logs() as logs:
            sign_in(client, passwords)
            token = token_of(client.get("/sign-in").text)
            client.post("/sign-in", data={"staff_id": "n.bernard", "password": "w-r-o-n-g",
                                          "csrf_token": token})  # fmt: skip
        text = repr(logs)
        assert "n.bernard" in text and "signed in" in text and "sign-in refused" in text
        assert passwords["n.bernard"] not in text and "w-r-o-n-g" not in text
