"""Local accounts: staff IDs, roles, centres and Argon2id password hashes in one file.

The dev stack's embedded sign-in (no external identity provider): one account per person,
seeded with the demo staff, one per role. In production, people sign in with the hospital's
identity provider instead (``signin.oidc``); local accounts remain for service accounts.

Usage::

    book, passwords = ensure_dev_accounts(Path(".cellpath"))  # passwords: only when created
    identity = book.authenticate("n.bernard", "the password")  # or raises SignInRefused

The file (YAML, 0600) holds hashes only, never passwords. A wrong staff ID and a wrong
password get the same answer, after the same work, so the answer does not tell which.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Iterable
from datetime import datetime
from pathlib import Path

import yaml
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from pydantic import BaseModel, ConfigDict, Field

from models import yaml_files
from models.actions import person_key
from models.actor import StaffIdentity
from models.refusals import Refusal
from models.roles import Role
from signin.keys import write_private

#: the accounts file the dev stack writes in its state dir
DEV_ACCOUNTS_FILE = "accounts.yaml"
#: the demo staff's generated passwords (dev stack only; 0600)
DEV_PASSWORDS_FILE = "demo-passwords.txt"
DEMO_CENTRES = ("centre-a", "centre-b")

#: the demo staff, one per role (the demo script signs in as these people)
DEMO_STAFF: tuple[tuple[str, str, Role], ...] = (
    ("dr.garnier", "Dr Hélène Garnier", Role.REFERRING_PHYSICIAN),
    ("dr.martin", "Dr Claire Martin", Role.ARD_SPECIALIST),
    ("dr.roux", "Dr Antoine Roux", Role.CELL_THERAPY_SPECIALIST),
    ("c.dubois", "Camille Dubois", Role.CARE_COORDINATOR),
    ("n.petit", "Nora Petit", Role.APHERESIS_NURSE),
    ("t.moreau", "Thomas Moreau", Role.CTU_TECHNICIAN),
    ("p.laurent", "Pauline Laurent", Role.PHARMACIST),
    ("n.bernard", "Nathalie Bernard", Role.NURSE),
    ("dr.lefevre", "Dr Marc Lefèvre", Role.PROGRAMME_LEAD),
    ("s.fontaine", "Sophie Fontaine", Role.PHARMACOVIGILANCE_OFFICER),
    ("dr.blanc", "Dr Julien Blanc", Role.ICU_ON_CALL),
)


class SignInRefused(Refusal):
    """Wrong staff ID or password, or a disabled account."""


class Account(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    actor: str = Field(min_length=2, max_length=64)
    name: str = ""
    roles: tuple[Role, ...] = Field(min_length=1)
    centres: tuple[str, ...] = ()
    password_hash: str
    disabled: bool = False

    @property
    def identity(self) -> StaffIdentity:
        return StaffIdentity(
            actor=self.actor, name=self.name, roles=self.roles, centres=self.centres
        )


class AccountBook:
    """The accounts of one file, looked up by person (``Dr.Martin`` is ``dr.martin``)."""

    def __init__(self, accounts: Iterable[Account], *, hasher: PasswordHasher | None = None):
        self.hasher = hasher or PasswordHasher()  # Argon2id, RFC 9106 low-memory profile
        self.accounts: dict[str, Account] = {}
        for account in accounts:
            key = person_key(account.actor)
            if key in self.accounts:
                raise ValueError(f"the account {account.actor!r} is listed twice")
            self.accounts[key] = account
        # Unknown staff IDs are checked against a decoy hash, so they take as long as a wrong
        # password. Made at the first check of any ID (known or not), so the first answer
        # does not tell either; loading the book (every `cellpath act`) costs no hash.
        self._decoy: str | None = None

    def __len__(self) -> int:
        return len(self.accounts)

    def add(self, actor: str, password: str, *, roles: Iterable[Role], **fields: object) -> None:
        account = Account.model_validate(
            {
                "actor": actor,
                "roles": tuple(roles),
                "password_hash": self.hasher.hash(password),
                **fields,
            }
        )
        self.accounts[person_key(actor)] = account

    def authenticate(self, actor: str, password: str) -> StaffIdentity:
        """The identity of ``actor`` if ``password`` is theirs; else ``SignInRefused``."""
        if self._decoy is None:
            self._decoy = self.hasher.hash(secrets.token_urlsafe(16))
        account = self.accounts.get(person_key(actor))
        try:
            self.hasher.verify(account.password_hash if account else self._decoy, password)
        except (VerificationError, InvalidHashError):
            account = None
        if account is None or account.disabled:
            raise SignInRefused(
                "Wrong staff ID or password (or the account is disabled): try again, or ask "
                "the programme lead to reset it."
            )
        return account.identity

    def reauthenticate(self, actor: str, credential: str, now: datetime) -> datetime:
        """Re-authentication for an electronic signature: ``now``, if ``credential`` is
        ``actor``'s password."""
        self.authenticate(actor, credential)
        return now

    @classmethod
    def load(cls, path: Path, *, hasher: PasswordHasher | None = None) -> AccountBook:
        try:
            data = yaml_files.safe_load(path.read_text(encoding="utf-8")) or {}
        except OSError as err:
            raise ValueError(f"cannot read the accounts file {path}: {err.strerror}") from None
        accounts = [Account.model_validate(item) for item in data.get("accounts", [])]
        return cls(accounts, hasher=hasher)

    def save(self, path: Path) -> None:
        """Write the accounts to a new file ``path`` (0600); refuses to overwrite."""
        accounts = [a.model_dump(mode="json") for a in self.accounts.values()]
        write_private(
            path,
            "# cellpath local accounts: Argon2id password hashes, never passwords\n"
            + yaml.safe_dump({"accounts": accounts}, sort_keys=False, allow_unicode=True),
        )


def demo_accounts(*, hasher: PasswordHasher | None = None) -> tuple[AccountBook, dict[str, str]]:
    """The demo staff, each with a fresh random password (returned, never stored)."""
    book = AccountBook([], hasher=hasher)
    passwords: dict[str, str] = {}
    for actor, name, role in DEMO_STAFF:
        passwords[actor] = secrets.token_urlsafe(12)
        book.add(actor, passwords[actor], roles=[role], name=name, centres=DEMO_CENTRES)
    return book, passwords


def ensure_dev_accounts(
    state_dir: Path, *, hasher: PasswordHasher | None = None
) -> tuple[AccountBook, dict[str, str]]:
    """The dev stack's accounts in ``state_dir``, seeded with the demo staff on first use.

    Returns the book and, only when it was just created, the demo passwords (also written to
    ``demo-passwords.txt``, 0600, so the demo and the person at the keyboard can sign in).
    """
    path = state_dir / DEV_ACCOUNTS_FILE
    if path.is_file():
        return AccountBook.load(path, hasher=hasher), {}
    book, passwords = demo_accounts(hasher=hasher)
    book.save(path)
    lines = "".join(f"{actor} {password}\n" for actor, password in passwords.items())
    passwords_file = state_dir / DEV_PASSWORDS_FILE
    if passwords_file.exists():
        os.unlink(passwords_file)  # stale: its accounts file is gone
    write_private(passwords_file, "# demo staff passwords (dev stack only)\n" + lines)
    return book, passwords
