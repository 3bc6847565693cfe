"""Every staff action a test sends is signed, as the person and role it names.

The test suite's workers verify actor assertions (``TEST_SIGNERS``, the public ring of a key
made for this run): like production, an action without one is refused. So that a test can
keep writing ``{"actor": "n.bernard", "role": "nurse", ...}``, the session client carries
``SigningInterceptor``: an Update to a pathway or centre whose payload names an actor and a
role and has no ``assertion`` gets one, issued by the real sign-in service
(``signin.service.AssertionService``) for that person in that one role, for that workflow,
action and Update ID (made here when the caller gave none); electronic signatures
re-authenticate with the test service's secret. A two-person action that must be co-signed
(models/cosignature.py) and has no ``cosignature`` also gets one, by the other person it
names, in the roles a second person needs (``cosign_as``).

The fault tests send through a client *without* the interceptor (``plain_client``), or
give an ``assertion`` of their own, which is left as it is.

Usage::

    Client.connect(address, interceptors=[SigningInterceptor()])
    build_worker(client, queue, actor_keys=TEST_SIGNERS)
    token = sign_as("n.bernard", "nurse", workflow_id=..., event=..., update_id=...)
    second = cosign_as("dr.roux", ["cell_therapy_specialist"], workflow_id=..., event=...,
                       update_id=...)
"""

from __future__ import annotations

import secrets
import uuid
from datetime import datetime
from pathlib import Path
from typing import Any

from argon2 import PasswordHasher
from argon2.profiles import CHEAPEST
from temporalio.client import (
    Interceptor,
    OutboundInterceptor,
    StartWorkflowUpdateInput,
    WorkflowUpdateHandle,
)

from models.actions import EVENT_PAYLOADS, person_key
from models.actor import StaffIdentity
from models.centre_actions import CENTRE_EVENTS
from models.cosignature import cosignature_rule, cosigner_roles, named_others
from models.refusals import Refusal
from models.roles import Role
from signin.accounts import AccountBook
from signin.keys import SigningKeys
from signin.service import AssertionService

TEST_SIGNING_KEYS = SigningKeys.generate(f"test-signin-{uuid.uuid4().hex[:6]}")
TEST_SIGNERS = TEST_SIGNING_KEYS.public_ring()
_SECRET = secrets.token_urlsafe(16)


class _TestAuthenticator:
    """Re-authentication of anyone who gives this run's secret (tests only)."""

    def reauthenticate(self, actor: str, credential: str, now: datetime) -> datetime:
        if credential != _SECRET:
            raise Refusal("wrong test credential", rule="SignInRefused")
        return now


TEST_SIGN_IN = AssertionService(TEST_SIGNING_KEYS, authenticator=_TestAuthenticator())


def sign_as(
    actor: str,
    role: str | Role,
    *,
    workflow_id: str,
    event: str,
    update_id: str,
    service: AssertionService = TEST_SIGN_IN,
) -> str:
    """An assertion for ``actor`` in ``role`` (only), from the test sign-in service."""
    identity = StaffIdentity(actor=actor, roles=(Role(role),))
    session = service.open_session(identity, authenticated_at=service.clock())
    return service.assert_action(
        session.token,
        pathway_id=workflow_id,
        action=event,
        update_id=update_id,
        credential=_SECRET,
    )


def cosign_as(
    actor: str,
    roles: list[str] | list[Role] | set[Role],
    *,
    workflow_id: str,
    event: str,
    update_id: str,
    service: AssertionService = TEST_SIGN_IN,
) -> str:
    """A co-signature ("verified") by ``actor`` holding ``roles``, from the test sign-in
    service, who re-authenticated just now."""
    identity = StaffIdentity(actor=actor, roles=tuple(sorted(Role(r) for r in roles)))
    return service.cosign(
        identity,
        authenticated_at=service.clock(),
        pathway_id=workflow_id,
        action=event,
        update_id=update_id,
    )


def auto_cosignature(
    event: str, data: dict[str, Any], *, workflow_id: str, update_id: str
) -> str | None:
    """The co-signature a test's two-person action gets when it brings none: by the first
    other person it names, in the roles a second person needs."""
    rule = cosignature_rule(event)
    if rule is None or not rule.required or "cosignature" in data:
        return None
    others = named_others(event, data, str(data["actor"]))
    if not others:
        return None
    roles = cosigner_roles(event, data, others[0])
    return cosign_as(others[0], roles, workflow_id=workflow_id, event=event, update_id=update_id)


def signable(update: str, args: Any) -> dict[str, Any] | None:
    """The payload to sign, if this Update is a staff action naming a valid actor and role
    and carrying no assertion; else ``None`` (the workflow refuses it as it is)."""
    if update not in EVENT_PAYLOADS and update not in CENTRE_EVENTS:
        return None
    if len(args) != 1 or not isinstance(args[0], dict) or "assertion" in args[0]:
        return None
    data = args[0]
    actor, role = data.get("actor"), data.get("role")
    if not isinstance(actor, str) or not isinstance(role, str) or role not in set(Role):
        return None
    if not 2 <= len(actor) <= 64:
        return None
    return data


class _Signing(OutboundInterceptor):
    async def start_workflow_update(
        self, input: StartWorkflowUpdateInput
    ) -> WorkflowUpdateHandle[Any]:
        data = signable(input.update, input.args)
        if data is not None:
            input.update_id = input.update_id or str(uuid.uuid4())
            token = sign_as(
                data["actor"],
                data["role"],
                workflow_id=input.id,
                event=input.update,
                update_id=input.update_id,
            )
            signed = {**data, "assertion": token}
            second = auto_cosignature(
                input.update, data, workflow_id=input.id, update_id=input.update_id
            )
            if second is not None:
                signed["cosignature"] = second
            input.args = [signed]
        return await super().start_workflow_update(input)


class SigningInterceptor(Interceptor):
    """Signs the staff actions a test sends as the actor and role they name."""

    def intercept_client(self, next: OutboundInterceptor) -> OutboundInterceptor:
        return _Signing(next)


# ----- the CLI in tests: local accounts and keys the test workers trust ---------------------
TEST_PASSWORD = secrets.token_urlsafe(12)
ACCOUNTS_FILE = "test-accounts.yaml"
KEY_FILE = "test-signin.keys"


def cli_sign_in_env(state_dir: Path) -> dict[str, str]:
    """The CLI's sign-in settings for a test: the test signing keys (which the test workers
    trust), an accounts file in ``state_dir`` and every account's password."""
    keys = state_dir / KEY_FILE
    if not keys.is_file():
        state_dir.mkdir(parents=True, exist_ok=True)
        keys.write_text(TEST_SIGNING_KEYS.to_spec() + "\n", encoding="utf-8")
    accounts = state_dir / ACCOUNTS_FILE
    if not accounts.is_file():
        AccountBook([]).save(accounts)
    return {
        # A `cellpath worker` or `cellpath dev` the test starts verifies like the suite's.
        "CELLPATH_ACTOR_KEYS": TEST_SIGNERS.to_spec(),
        "CELLPATH_SIGNIN_KEY_FILE": str(keys),
        "CELLPATH_ACCOUNTS_FILE": str(accounts),
        "CELLPATH_PASSWORD": TEST_PASSWORD,
        "CELLPATH_COSIGNER_PASSWORD": TEST_PASSWORD,
    }


def ensure_account(state_dir: Path, actor: str, role: str) -> None:
    """A local account ``actor`` holding ``role`` (added to the roles it already holds)."""
    path = state_dir / ACCOUNTS_FILE
    hasher = PasswordHasher.from_parameters(CHEAPEST)
    book = AccountBook.load(path, hasher=hasher) if path.is_file() else AccountBook([])
    known = book.accounts.get(person_key(actor))
    roles = list(known.roles) if known else []
    if Role(role) in roles:
        return
    book = AccountBook([a for a in book.accounts.values() if a is not known], hasher=hasher)
    book.add(actor, TEST_PASSWORD, roles=[*roles, Role(role)])
    path.unlink(missing_ok=True)
    book.save(path)
