"""The CLI's local sign-in (signin/local.py): where it finds keys and accounts, the cached
session (0600) that ``cellpath login`` writes and ``logout`` removes, and what it says when
there is none or it ended."""

from __future__ import annotations

import stat
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from argon2 import PasswordHasher
from argon2.profiles import CHEAPEST

from models.actor import verify_assertion
from models.roles import Role
from models.settings import Settings
from signin.dev_stack import prepare_dev_sign_in
from signin.local import (
    SignInUnavailable,
    cached_session,
    forget_session,
    local_sign_in,
    save_session,
    session_path,
)
from signin.service import AssertionService, SessionRefused


@pytest.fixture
def state(tmp_path: Path) -> tuple[Settings, dict[str, str]]:
    dev = prepare_dev_sign_in(tmp_path, hasher=PasswordHasher.from_parameters(CHEAPEST))
    return Settings(state_dir=tmp_path), dev.passwords


def test_login_caches_a_private_session_and_logout_removes_it(state) -> None:
    settings, passwords = state
    service = local_sign_in(settings)
    with pytest.raises(SessionRefused, match="not signed in"):
        cached_session(settings, service)
    path = save_session(settings, service.sign_in("n.bernard", passwords["n.bernard"]))
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert cached_session(settings, service).identity.actor == "n.bernard"
    # Signing in again (another person) replaces the cached session.
    save_session(settings, service.sign_in("dr.roux", passwords["dr.roux"]))
    assert cached_session(settings, service).identity.actor == "dr.roux"
    assert forget_session(settings) and not session_path(settings).exists()
    assert not forget_session(settings)


def test_an_ended_session_asks_to_sign_in_again(state) -> None:
    settings, passwords = state
    service = local_sign_in(settings)
    save_session(settings, service.sign_in("n.bernard", passwords["n.bernard"]))
    later = AssertionService(
        service.keys,
        authenticator=service.authenticator,
        clock=lambda: datetime.now(UTC) + timedelta(hours=1),
    )
    with pytest.raises(SessionRefused, match="has ended"):
        cached_session(settings, later)


def test_without_keys_or_accounts_it_says_where_to_get_them(tmp_path: Path) -> None:
    with pytest.raises(SignInUnavailable, match="cellpath dev"):
        local_sign_in(Settings(state_dir=tmp_path))


def test_the_demo_staff_sign_as_service_accounts_on_every_run(tmp_path: Path) -> None:
    """The first run knows the passwords; later runs read them from demo-passwords.txt."""
    hasher = PasswordHasher.from_parameters(CHEAPEST)
    first = prepare_dev_sign_in(tmp_path, hasher=hasher)
    again = prepare_dev_sign_in(tmp_path, hasher=hasher)
    assert first.passwords and not again.passwords
    signers = again.demo_signers()
    assert set(signers) == set(first.passwords)
    token = signers["dr.martin"].assertion_for(
        pathway_id="pathway-centre-a-LUP-001", event="approve_at_mdtm", update_id="u-1"
    )
    verified = verify_assertion(
        token,
        again.keys.public_ring(),
        pathway_id="pathway-centre-a-LUP-001",
        action="approve_at_mdtm",
        update_id="u-1",
        now=datetime.now(UTC),
    )
    assert (verified.actor, verified.roles, verified.meaning) == (
        "dr.martin",
        (Role.ARD_SPECIALIST,),
        "approved",
    )
