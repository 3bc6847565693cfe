"""Sign-in rate limiting and the server-side session list: too many wrong passwords pause
an account (and a client address), with a clear message; signing out, or revoking, ends a
session so that a copied cookie or token is refused; a token whose session the list does not
know is refused too."""

from __future__ import annotations

import re
import secrets
import sqlite3
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from argon2 import PasswordHasher
from starlette.testclient import TestClient

from models.actions import person_key
from models.signin_policy import SignInPolicy
from models.sources import SourceKind
from signin.accounts import SignInRefused
from signin.dev_stack import DevSignIn, prepare_dev_sign_in
from signin.service import AssertionService, SessionRefused
from signin.throttle import SignInThrottle, SignInThrottled
from web.app import create_app
from web.context import WebContext

CHEAP = PasswordHasher(time_cost=1, memory_cost=64, parallelism=1)
T0 = datetime(2026, 12, 2, 9, 0, tzinfo=UTC)


class Clock:
    def __init__(self) -> None:
        self.now = T0

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture
def dev(tmp_path: Path) -> DevSignIn:
    return prepare_dev_sign_in(tmp_path, hasher=CHEAP)


def test_every_number_of_the_policy_has_a_source() -> None:
    policy = SignInPolicy()
    for name in SignInPolicy.NUMBERS:
        found = policy.source_of(name)
        assert found is not None and found.kind in (SourceKind.ASSUMPTION, SourceKind.REGULATION)


class TestThrottle:
    def test_five_wrong_passwords_pause_the_account_then_the_window_passes(self, dev) -> None:
        clock = Clock()
        service = AssertionService(
            dev.keys, authenticator=dev.accounts, throttle=SignInThrottle(clock=clock), clock=clock
        )
        for _ in range(5):
            with pytest.raises(SignInRefused):
                service.sign_in("N.Bernard", "wrong", address="10.0.0.7")
        with pytest.raises(SignInThrottled, match="paused until 09:15 UTC"):
            service.sign_in("n.bernard", dev.passwords["n.bernard"], address="10.0.0.8")
        assert service.sign_in("dr.roux", dev.passwords["dr.roux"]).identity.actor == "dr.roux"
        clock.now += timedelta(minutes=15)
        assert service.sign_in("n.bernard", dev.passwords["n.bernard"]).identity.actor

    def test_wrong_passwords_at_signatures_count_too(self, dev) -> None:
        service = dev.service()
        session = service.sign_in("n.bernard", dev.passwords["n.bernard"])
        args = {"pathway_id": "pathway-centre-a-X-1", "action": "infuse", "update_id": "u"}
        for _ in range(5):
            with pytest.raises(SignInRefused):
                service.assert_action(session.token, credential="guess", **args)
        with pytest.raises(SignInThrottled):
            service.assert_action(session.token, credential=dev.passwords["n.bernard"], **args)

    def test_wrong_cosigner_passwords_count_too(self, dev) -> None:
        """The second person's password on a two-person form is guessed no more freely."""
        service = dev.service()
        args = {"pathway_id": "pathway-centre-a-X-1", "action": "infuse", "update_id": "u"}
        for _ in range(5):
            with pytest.raises(SignInRefused):
                service.cosign_with_password("dr.roux", "guess", address="10.0.0.9", **args)
        with pytest.raises(SignInThrottled):
            service.cosign_with_password("dr.roux", dev.passwords["dr.roux"], **args)

    def test_one_address_guessing_many_accounts_is_paused(self, dev) -> None:
        throttle = SignInThrottle(SignInPolicy(max_failures_per_address=3))
        service = AssertionService(dev.keys, authenticator=dev.accounts, throttle=throttle)
        for who in ("a.one", "b.two", "c.three"):
            with pytest.raises(SignInRefused):
                service.sign_in(who, "guess", address="10.9.9.9")
        with pytest.raises(SignInThrottled, match="from this computer"):
            service.sign_in("n.bernard", dev.passwords["n.bernard"], address="10.9.9.9")
        assert service.sign_in("n.bernard", dev.passwords["n.bernard"], address="10.0.0.1")

    def test_the_counts_outlive_a_restart_and_are_shared_on_the_host(self, dev) -> None:
        """The web app restarted (or the CLI of the same host): the pause holds, from the
        sign-in host's sessions.db, and the window still ends it."""
        clock = Clock()
        path = dev.passwords_file.parent / "sessions.db"

        def service() -> AssertionService:
            throttle = SignInThrottle(path=path, clock=clock)
            return AssertionService(
                dev.keys, authenticator=dev.accounts, throttle=throttle, clock=clock
            )

        for _ in range(5):
            with pytest.raises(SignInRefused):
                service().sign_in("n.bernard", "wrong", address="10.0.0.7")
        with pytest.raises(SignInThrottled, match="paused until 09:15 UTC"):
            service().sign_in("n.bernard", dev.passwords["n.bernard"])
        clock.now += timedelta(minutes=15)
        assert service().sign_in("n.bernard", dev.passwords["n.bernard"]).identity.actor
        # a later failure clears what the window has passed: nothing piles up in the file
        with pytest.raises(SignInRefused):
            service().sign_in("dr.roux", "wrong")
        with sqlite3.connect(path) as db:
            assert db.execute("SELECT kind, key FROM failed_sign_ins").fetchall() == [
                ("account", person_key("dr.roux"))
            ]


class TestSessionList:
    def test_a_revoked_or_unknown_session_is_refused(self, dev) -> None:
        service = dev.service()
        session = service.sign_in("n.bernard", dev.passwords["n.bernard"])
        assert service.session(session.token).session_id == session.session_id
        assert service.sign_out(session.token) and not service.sign_out(session.token)
        with pytest.raises(SessionRefused, match="was ended"):
            service.session(session.token)
        # signed with the right key, but its session was never listed here
        unlisted = AssertionService(dev.keys, authenticator=dev.accounts).sign_in(
            "n.bernard", dev.passwords["n.bernard"]
        )
        with pytest.raises(SessionRefused):
            service.assert_action(unlisted.token, pathway_id="p", action="a", update_id="u")

    def test_revoking_a_person_ends_all_their_sessions(self, dev) -> None:
        service = dev.service()
        first = service.sign_in("n.bernard", dev.passwords["n.bernard"])
        second = service.sign_in("n.bernard", dev.passwords["n.bernard"])
        other = service.sign_in("dr.roux", dev.passwords["dr.roux"])
        assert service.sessions is not None
        assert service.sessions.revoke_actor("N.Bernard") == 2
        for ended in (first, second):
            with pytest.raises(SessionRefused):
                service.session(ended.token)
        assert service.session(other.token).identity.actor == "dr.roux"
        now = datetime.now(UTC)
        assert [s.actor for s in service.sessions.listed(now)] == ["dr.roux"]
        assert len(service.sessions.listed(now, ended_too=True)) == 3


def web_client(dev: DevSignIn) -> TestClient:
    context = WebContext(
        client=None,  # type: ignore[arg-type]  # these pages never reach Temporal
        signin=dev.service(),
        task_queue="tq-unused",
        secret_key=secrets.token_urlsafe(40),
    )
    return TestClient(create_app(context), follow_redirects=False)


def post_sign_in(client: TestClient, who: str, password: str):
    token = re.search(r'name="csrf_token" value="([^"]+)"', client.get("/sign-in").text)
    assert token
    return client.post(
        "/sign-in", data={"staff_id": who, "password": password, "csrf_token": token.group(1)}
    )


class TestWeb:
    def test_the_sixth_try_is_refused_with_a_clear_message(self, dev) -> None:
        client = web_client(dev)
        for _ in range(5):
            assert post_sign_in(client, "n.bernard", "wrong").status_code == 401
        answer = post_sign_in(client, "n.bernard", dev.passwords["n.bernard"])
        assert answer.status_code == 429 and "Too many wrong passwords" in answer.text
        assert client.get("/refer").status_code == 303

    def test_a_copied_cookie_stops_working_at_sign_out(self, dev) -> None:
        client = web_client(dev)
        assert post_sign_in(client, "n.bernard", dev.passwords["n.bernard"]).status_code == 303
        thief = TestClient(client.app, follow_redirects=False, cookies=dict(client.cookies))
        assert thief.get("/refer").status_code == 200
        token = re.search(r'name="csrf_token" value="([^"]+)"', client.get("/refer").text)
        assert token
        client.post("/sign-out", data={"csrf_token": token.group(1)})
        refused = thief.get("/refer")
        assert (refused.status_code, refused.headers["location"]) == (303, "/sign-in?ended=ended")
