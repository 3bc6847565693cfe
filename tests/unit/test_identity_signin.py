"""Sign-in with local accounts: Argon2id hashes, demo staff one per role, sessions, and one
assertion per action, with the password re-asked for an electronic signature."""

from __future__ import annotations

import stat
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from argon2 import PasswordHasher
from argon2.profiles import CHEAPEST

from models.actor import (
    AssertionReplayed,
    ReauthenticationRequired,
    verify_assertion,
)
from models.actor_keys import ActorKeyConfigError, actor_key_ring_from_settings
from models.roles import Role
from models.settings import Settings
from signin.accounts import (
    DEMO_STAFF,
    DEV_ACCOUNTS_FILE,
    DEV_PASSWORDS_FILE,
    AccountBook,
    SignInRefused,
    demo_accounts,
    ensure_dev_accounts,
)
from signin.dev_stack import prepare_dev_sign_in
from signin.keys import DEV_SIGNING_KEY_FILE, SigningKeys, ensure_dev_signing_keys
from signin.service import AssertionService, SessionRefused

PATHWAY = "pathway-centre-a-LUP-001"
# Hashing at production cost takes ~1 s a password on a shared runner: tests use the cheapest.
FAST = PasswordHasher.from_parameters(CHEAPEST)


class Clock:
    def __init__(self) -> None:
        self.now = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture(scope="module")
def staff() -> tuple[AccountBook, dict[str, str]]:
    return demo_accounts(hasher=FAST)


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def service(staff: tuple[AccountBook, dict[str, str]], clock: Clock) -> AssertionService:
    return AssertionService(SigningKeys.generate("k1"), authenticator=staff[0], clock=clock)


class TestLocalAccounts:
    """One demo person per role; hashes are Argon2id; wrong answers do not say which."""

    def test_demo_staff_cover_every_role_once(self, staff: tuple[AccountBook, dict[str, str]]):
        assert sorted(role for _, _, role in DEMO_STAFF) == sorted(Role)
        assert len(staff[0]) == len(Role)

    def test_right_password_signs_in(self, staff: tuple[AccountBook, dict[str, str]]):
        book, passwords = staff
        identity = book.authenticate("N.Bernard", passwords["n.bernard"])
        assert identity.actor == "n.bernard"
        assert identity.roles == (Role.NURSE,)

    @pytest.mark.parametrize("actor", ["n.bernard", "nobody"])
    def test_wrong_password_or_unknown_person(
        self, actor: str, staff: tuple[AccountBook, dict[str, str]]
    ):
        with pytest.raises(SignInRefused, match="Wrong staff ID or password"):
            staff[0].authenticate(actor, "guess")

    def test_the_dev_stack_seeds_once_and_keeps_hashes_only(self, tmp_path: Path):
        book, passwords = ensure_dev_accounts(tmp_path, hasher=FAST)
        text = (tmp_path / DEV_ACCOUNTS_FILE).read_text()
        assert "$argon2id$" in text
        assert not any(password in text for password in passwords.values())
        for name in (DEV_ACCOUNTS_FILE, DEV_PASSWORDS_FILE):
            assert stat.S_IMODE((tmp_path / name).stat().st_mode) == 0o600
        again, none = ensure_dev_accounts(tmp_path, hasher=FAST)
        assert none == {}
        assert again.authenticate("dr.martin", passwords["dr.martin"]).actor == "dr.martin"


class TestDevSigningKeys:
    """The dev stack's key is generated once; the worker finds its public half."""

    def test_generated_once_and_published(self, tmp_path: Path):
        keys = ensure_dev_signing_keys(tmp_path)
        assert stat.S_IMODE((tmp_path / DEV_SIGNING_KEY_FILE).stat().st_mode) == 0o600
        assert ensure_dev_signing_keys(tmp_path).seeds == keys.seeds
        ring = actor_key_ring_from_settings(Settings(state_dir=tmp_path))
        assert ring is not None and ring.keys == keys.public_ring().keys

    def test_nothing_configured_means_no_ring(self, tmp_path: Path):
        assert actor_key_ring_from_settings(Settings(state_dir=tmp_path)) is None

    def test_configured_keys_win_over_the_dev_file(self, tmp_path: Path):
        ensure_dev_signing_keys(tmp_path)
        production = SigningKeys.generate("prod-2026").public_ring()
        env = {"CELLPATH_ACTOR_KEYS": production.to_spec(), "CELLPATH_STATE_DIR": str(tmp_path)}
        ring = actor_key_ring_from_settings(Settings.from_env(env))
        assert ring is not None and ring.key_ids == ["prod-2026"]
        (tmp_path / "trusted.keys").write_text(production.to_spec())
        env["CELLPATH_ACTOR_KEY_FILE"] = str(tmp_path / "trusted.keys")
        with pytest.raises(ActorKeyConfigError, match="not both"):
            actor_key_ring_from_settings(Settings.from_env(env))


class TestAssertions:
    """A session yields assertions the workflow side accepts, for one action each."""

    def test_an_ordinary_action(
        self, service: AssertionService, staff: tuple[AccountBook, dict[str, str]], clock: Clock
    ):
        session = service.sign_in("n.bernard", staff[1]["n.bernard"])
        token = service.assert_action(
            session.token, pathway_id=PATHWAY, action="start_lymphodepletion", update_id="u1"
        )
        ring = service.keys.public_ring()
        kw = {"pathway_id": PATHWAY, "action": "start_lymphodepletion", "now": clock.now}
        assert verify_assertion(token, ring, update_id="u1", **kw).actor == "n.bernard"
        with pytest.raises(AssertionReplayed):
            verify_assertion(token, ring, update_id="u2", **kw)

    def test_a_signature_re_asks_the_password(
        self, service: AssertionService, staff: tuple[AccountBook, dict[str, str]], clock: Clock
    ):
        password = staff[1]["n.bernard"]
        session = service.sign_in("n.bernard", password)
        ask = {"pathway_id": PATHWAY, "action": "infuse", "update_id": "u1"}
        with pytest.raises(ReauthenticationRequired, match="password"):
            service.assert_action(session.token, **ask)
        with pytest.raises(SignInRefused):
            service.assert_action(session.token, credential="wrong", **ask)
        clock.now += timedelta(minutes=20)  # long after sign-in: the re-entry is what counts
        token = service.assert_action(session.token, credential=password, **ask)
        actor = verify_assertion(
            token, service.keys.public_ring(), now=clock.now, **_as_verify(ask)
        )
        assert actor.meaning == "administered"
        assert actor.authenticated_at == clock.now

    def test_the_second_person_signs_as_verified(
        self, service: AssertionService, staff: tuple[AccountBook, dict[str, str]], clock: Clock
    ):
        password = staff[1]["dr.roux"]
        session = service.sign_in("dr.roux", password)
        ask = {"pathway_id": PATHWAY, "action": "infuse", "update_id": "u1"}
        token = service.assert_action(session.token, credential=password, meaning="verified", **ask)
        actor = verify_assertion(
            token, service.keys.public_ring(), now=clock.now, **_as_verify(ask)
        )
        assert actor.meaning == "verified"
        with pytest.raises(ReauthenticationRequired, match="administered"):
            service.assert_action(session.token, credential=password, meaning="approved", **ask)

    def test_an_expired_or_foreign_session_is_refused(
        self, service: AssertionService, staff: tuple[AccountBook, dict[str, str]], clock: Clock
    ):
        session = service.sign_in("t.moreau", staff[1]["t.moreau"])
        ask = {"pathway_id": PATHWAY, "action": "ship_to_manufacturer", "update_id": "u1"}
        other = AssertionService(SigningKeys.generate("k1"), authenticator=staff[0], clock=clock)
        with pytest.raises(SessionRefused):
            other.assert_action(session.token, **ask)
        with pytest.raises(SessionRefused):
            service.assert_action(None, **ask)
        clock.now += timedelta(hours=1)
        with pytest.raises(SessionRefused, match="sign in again"):
            service.assert_action(session.token, **ask)

    def test_an_assertion_is_not_a_session(
        self, service: AssertionService, staff: tuple[AccountBook, dict[str, str]]
    ):
        session = service.sign_in("t.moreau", staff[1]["t.moreau"])
        ask = {"pathway_id": PATHWAY, "action": "ship_to_manufacturer", "update_id": "u1"}
        token = service.assert_action(session.token, **ask)
        with pytest.raises(SessionRefused):
            service.assert_action(token, **ask)


def _as_verify(ask: dict[str, str]) -> dict[str, str]:
    return {"pathway_id": ask["pathway_id"], "action": ask["action"], "update_id": ask["update_id"]}


def test_the_dev_stack_prepares_sign_in_once(tmp_path: Path) -> None:
    """What ``cellpath dev`` will call: keys and accounts, then a working service."""
    first = prepare_dev_sign_in(tmp_path, hasher=FAST)
    assert first.passwords and first.passwords_file.is_file()
    again = prepare_dev_sign_in(tmp_path, hasher=FAST)
    assert again.passwords == {}
    assert again.keys.seeds == first.keys.seeds
    session = again.service().sign_in("p.laurent", first.passwords["p.laurent"])
    assert session.identity.roles == (Role.PHARMACIST,)
