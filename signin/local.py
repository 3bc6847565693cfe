"""The CLI's local sign-in: where the signing keys, the local accounts and the cached
session of the person at this keyboard live.

``cellpath login`` checks a local account's password and caches the session token it gets
(short-lived: ``signin.service.SESSION_LIFETIME``) in ``<state dir>/session.jwt`` (0600);
``cellpath act`` turns it into one actor assertion per action, asking the password again for
an electronic signature. The keys and accounts are the dev stack's (``signin.keys``,
``accounts.yaml`` in the state dir) unless ``CELLPATH_SIGNIN_KEY_FILE`` /
``CELLPATH_ACCOUNTS_FILE`` say otherwise. Sessions are listed in ``sessions.db`` in the state
dir (``signin.session_list``), which ``cellpath sessions`` and the web app share; with a
hospital provider configured (``CELLPATH_OIDC_*``), ``cellpath login --provider`` signs in
there (``signin.device_login``) and the provider re-authenticates its people's signatures.

Usage::

    service = local_sign_in(settings)
    save_session(settings, service.sign_in("n.bernard", password))
    session = cached_session(settings, service)      # SessionRefused when absent or ended

Limitations: this process holds the private signing key, so it is the sign-in service;
with a hospital identity provider the service runs as its own process (docs/security.md).
"""

from __future__ import annotations

import contextlib
from pathlib import Path

from models.settings import Settings
from signin.accounts import DEV_ACCOUNTS_FILE, AccountBook
from signin.hospital_login import HospitalLogin, ProviderConfig
from signin.keys import DEV_SIGNING_KEY_FILE, SigningKeys, write_private
from signin.service import AssertionService, Session, SessionRefused
from signin.session_list import SESSIONS_FILE, SessionList
from signin.throttle import SignInThrottle

SESSION_FILE = "session.jwt"


class SignInUnavailable(SessionRefused):
    """No signing keys or no accounts here: this computer cannot sign people in."""


def _file(configured: Path | None, settings: Settings, default: str, what: str) -> Path:
    path = configured or settings.state_dir / default
    if not path.is_file():
        raise SignInUnavailable(
            f"No {what} at {path}: start the dev stack once (`cellpath dev`), or set "
            "CELLPATH_SIGNIN_KEY_FILE and CELLPATH_ACCOUNTS_FILE (docs/security.md)."
        )
    return path


def local_sign_in(settings: Settings) -> AssertionService:
    """The sign-in service of this computer's keys and local accounts."""
    keys = SigningKeys.from_file(
        _file(settings.signin_key_file, settings, DEV_SIGNING_KEY_FILE, "signing key file")
    )
    book = AccountBook.load(
        _file(settings.accounts_file, settings, DEV_ACCOUNTS_FILE, "accounts file")
    )
    return AssertionService(
        keys,
        authenticator=book,
        provider=hospital_login(settings),
        sessions=session_list(settings),
        throttle=SignInThrottle(path=settings.state_dir / SESSIONS_FILE),
    )


def hospital_login(settings: Settings) -> HospitalLogin | None:
    """The configured hospital provider (``CELLPATH_OIDC_*``), or None."""
    config = ProviderConfig.from_settings(settings)
    return HospitalLogin(config) if config else None


def session_list(settings: Settings) -> SessionList:
    """The sign-in service's session list, in the state dir."""
    return SessionList(settings.state_dir / SESSIONS_FILE)


def session_path(settings: Settings) -> Path:
    return settings.state_dir / SESSION_FILE


def save_session(settings: Settings, session: Session) -> Path:
    """Cache ``session``'s token for this user (replaces an earlier one)."""
    path = session_path(settings)
    forget_session(settings)
    write_private(path, session.token + "\n")
    return path


def forget_session(settings: Settings) -> bool:
    """Remove the cached token (``AssertionService.sign_out`` ends the session itself);
    whether there was one."""
    path = session_path(settings)
    with contextlib.suppress(FileNotFoundError):
        path.unlink()
        return True
    return False


def cached_session(settings: Settings, service: AssertionService) -> Session:
    """The cached session, if still open; else ``SessionRefused`` (sign in again)."""
    try:
        token = session_path(settings).read_text(encoding="utf-8").strip()
    except OSError:
        raise SessionRefused(
            "You are not signed in: run `cellpath login YOUR-STAFF-ID` first."
        ) from None
    try:
        return service.session(token)
    except SessionRefused:
        raise SessionRefused(
            "Your sign-in has ended: run `cellpath login YOUR-STAFF-ID` again."
        ) from None
