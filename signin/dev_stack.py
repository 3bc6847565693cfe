"""The dev stack's embedded sign-in: signing keys and demo accounts, made once in its state dir.

Usage (``cellpath dev``, before the worker starts, so the worker finds the public keys)::

    dev = prepare_dev_sign_in(settings.state_dir)
    if dev.passwords:                      # only on the first run
        console.print(f"demo staff passwords in {dev.passwords_file}")
    service = dev.service()                # issues sessions and actor assertions
    signers = dev.demo_signers()           # the demo staff as service accounts, by staff ID

Nothing here is for real data: the keys and accounts live in plain files on this machine.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

from argon2 import PasswordHasher

from signin.accounts import DEV_PASSWORDS_FILE, AccountBook, ensure_dev_accounts
from signin.keys import SigningKeys, ensure_dev_signing_keys
from signin.service import AssertionService
from signin.service_accounts import SessionSigner, service_account
from signin.session_list import SESSIONS_FILE, SessionList
from signin.throttle import SignInThrottle


class DemoPasswordsMissing(ValueError):
    """The demo staff's passwords file is gone: the demo cannot sign in."""


@dataclasses.dataclass(frozen=True)
class DevSignIn:
    keys: SigningKeys
    accounts: AccountBook
    #: the demo staff's passwords, only when the accounts were just created
    passwords: dict[str, str]
    passwords_file: Path

    def service(self) -> AssertionService:
        """Sessions listed in the state dir's ``sessions.db``; password sign-in throttled."""
        return AssertionService(
            self.keys,
            authenticator=self.accounts,
            sessions=SessionList(self.passwords_file.parent / SESSIONS_FILE),
            throttle=SignInThrottle(path=self.passwords_file.parent / SESSIONS_FILE),
        )

    def demo_passwords(self) -> dict[str, str]:
        """Staff ID → password of the demo staff (from ``demo-passwords.txt``)."""
        if self.passwords:
            return dict(self.passwords)
        try:
            text = self.passwords_file.read_text(encoding="utf-8")
        except OSError:
            raise DemoPasswordsMissing(
                f"{self.passwords_file} is missing: the demo cannot sign in. Remove "
                f"{self.passwords_file.parent / 'accounts.yaml'} to seed the demo staff again."
            ) from None
        pairs = (line.split() for line in text.splitlines() if not line.startswith("#"))
        return {words[0]: words[1] for words in pairs if len(words) == 2}

    def demo_signers(self) -> dict[str, SessionSigner]:
        """The demo staff as service accounts (one role each), signed in, by staff ID."""
        service = self.service()
        return {
            actor: service_account(service, actor, password)
            for actor, password in self.demo_passwords().items()
        }


def prepare_dev_sign_in(state_dir: Path, *, hasher: PasswordHasher | None = None) -> DevSignIn:
    """Signing keys (``signin.keys``, ``actor-public.keys``) and the demo accounts
    (``accounts.yaml``, ``demo-passwords.txt``) in ``state_dir``, generated if missing."""
    keys = ensure_dev_signing_keys(state_dir)
    accounts, passwords = ensure_dev_accounts(state_dir, hasher=hasher)
    return DevSignIn(keys, accounts, passwords, state_dir / DEV_PASSWORDS_FILE)
