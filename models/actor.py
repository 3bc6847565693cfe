"""Signed actor assertions: who sends a staff action, proved by a signature the workflow checks.

The sign-in service (``signin/``) issues, for one action on one pathway under one Update
ID, a compact JWS (Ed25519, RFC 9864) whose claims say who (``sub``, ``name``), in which
roles and centres, when it was issued and until when it holds, and, for an electronic
signature, its meaning and when the person last re-authenticated. ``verify_assertion`` is
pure (no I/O, no clock: the caller passes ``now``, in a workflow ``workflow.now()``), so an
update validator can call it; it returns the verified identity or raises an
``AssertionRefused`` whose message a nurse understands.

Usage::

    actor = verify_assertion(
        token, ring, pathway_id=workflow.info().workflow_id, action="infuse",
        update_id=workflow.current_update_info().id, now=workflow.now(),
    )
    actor.actor, actor.roles, actor.meaning   # use these, never the names typed in the payload

Inside the Temporal workflow sandbox, import this module through
``workflow.unsafe.imports_passed_through()`` (the worker passes ``models`` through anyway):
its crypto dependencies must come from the worker's copy, not be re-imported per run.

Limitations: a replayed assertion is recognised by its Update ID, which Temporal keeps unique
per workflow; the token itself is not remembered. Clock skew between the sign-in service and
the worker is tolerated up to ``LEEWAY``.
"""

from __future__ import annotations

import contextlib
import json
from datetime import UTC, datetime, timedelta
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from joserfc import jws
from joserfc.errors import JoseError
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from models.actor_keys import ActorKeyRing
from models.refusals import Outcome, Refusal
from models.roles import Role
from models.signatures import REAUTHENTICATION_WINDOW, is_signature, meanings_for

ALGORITHM = "Ed25519"
#: the JWS ``typ`` of an actor assertion; a session token (another ``typ``) is refused
ASSERTION_TYPE = "cellpath-actor+jwt"
#: the JWS ``typ`` of a co-signature: the second person of a two-person action
#: (models/cosignature.py); never accepted as anyone's own assertion, nor the reverse
COSIGNATURE_TYPE = "cellpath-cosign+jwt"
#: what a refusal calls the token it is about
_ASSERTION = "The identity attached to this action"
ISSUER = "cellpath-signin"
#: how far the sign-in service's clock may be from the worker's
LEEWAY = timedelta(seconds=30)
#: an assertion is for one action, sent now: longer than this is a configuration error
MAX_LIFETIME = timedelta(minutes=15)
MAX_TOKEN_CHARS = 8192


class StaffIdentity(BaseModel):
    """A signed-in person: staff ID, display name, roles and centres."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    actor: str = Field(min_length=2, max_length=64)
    name: str = Field(default="", max_length=200)
    roles: tuple[Role, ...] = Field(min_length=1)
    centres: tuple[str, ...] = ()


class AssertionClaims(BaseModel):
    """The claims of an actor assertion, as signed (JWT claim names, NumericDate times)."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    iss: str
    sub: str = Field(min_length=2, max_length=64)
    name: str = Field(default="", max_length=200)
    roles: tuple[Role, ...] = Field(min_length=1)
    centres: tuple[str, ...] = ()
    iat: int
    nbf: int | None = None
    exp: int
    pathway: str = Field(min_length=1, max_length=200)
    action: str = Field(min_length=1, max_length=100)
    update: str = Field(min_length=1, max_length=400)
    meaning: str | None = None
    auth_time: int | None = None
    jti: str | None = None


class VerifiedActor(BaseModel):
    """The identity a verified assertion proves, bound to one action of one pathway."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    identity: StaffIdentity
    pathway_id: str
    action: str
    update_id: str
    issued_at: datetime
    expires_at: datetime
    key_id: str
    meaning: str | None = None
    authenticated_at: datetime | None = None

    @property
    def actor(self) -> str:
        return self.identity.actor

    @property
    def roles(self) -> tuple[Role, ...]:
        return self.identity.roles

    @property
    def centres(self) -> tuple[str, ...]:
        return self.identity.centres


class AssertionRefused(Refusal):
    """The action's signed identity is missing or cannot be trusted: nothing was changed."""


class AssertionMissing(AssertionRefused):
    outcome = Outcome.BAD_INPUT


class AssertionForged(AssertionRefused):
    """Bad signature, unknown or retired key, wrong algorithm or type, unreadable."""


class AssertionExpired(AssertionRefused):
    pass


class AssertionNotYetValid(AssertionRefused):
    pass


class AssertionForAnotherPathway(AssertionRefused):
    pass


class AssertionForAnotherAction(AssertionRefused):
    pass


class AssertionReplayed(AssertionRefused):
    """Signed for another Update ID: a copy of an assertion already used, or about to be."""


class ReauthenticationRequired(AssertionRefused):
    """An electronic signature without a fresh password (or provider login), or without a
    meaning this action's signature may have."""


_SIGN_AGAIN = "sign in again and send the action once more; nothing was changed"


def from_numeric_date(value: int) -> datetime:
    return datetime.fromtimestamp(value, UTC)


def to_numeric_date(value: datetime) -> int:
    return int(value.timestamp())


def _forged(detail: str, what: str = _ASSERTION) -> AssertionForged:
    return AssertionForged(
        f"{what} cannot be trusted ({detail}): {_SIGN_AGAIN}. "
        "If this happens again, tell the system administrator."
    )


def _read_signed(
    token: str, ring: ActorKeyRing, typ: str = ASSERTION_TYPE, what: str = _ASSERTION
) -> tuple[str, dict[str, Any]]:
    """The key ID and the claims of a token of type ``typ`` whose signature checks against
    ``ring``."""
    kind = "an actor assertion" if typ == ASSERTION_TYPE else "a co-signature"
    if len(token) > MAX_TOKEN_CHARS:
        raise _forged(f"it is far too long to be {kind}", what)
    try:
        header = jws.extract_compact(token.encode("ascii")).headers()
    except (JoseError, ValueError, UnicodeError):
        raise _forged("it is not a signed assertion", what) from None
    if header.get("alg") != ALGORITHM or header.get("typ") != typ:
        raise _forged(f"it is not {kind} signed with Ed25519", what)
    kid = header.get("kid")
    key = ring.verification_key(kid) if isinstance(kid, str) else None
    if key is None or not isinstance(kid, str):
        raise _forged(f"it is signed with key {kid!r}, which this system does not trust", what)
    try:
        signed = jws.deserialize_compact(token, key, algorithms=[ALGORITHM])
    except JoseError:
        raise _forged("its signature does not match its content", what) from None
    try:
        claims = json.loads(signed.payload)
    except ValueError:
        raise _forged("its content is unreadable", what) from None
    if not isinstance(claims, dict):
        raise _forged("its content is unreadable", what)
    return kid, claims


def verify_assertion(
    token: str | None,
    ring: ActorKeyRing,
    *,
    pathway_id: str,
    action: str,
    update_id: str,
    now: datetime,
    leeway: timedelta = LEEWAY,
) -> VerifiedActor:
    """The identity ``token`` proves for sending ``action`` to ``pathway_id`` as Update
    ``update_id`` at ``now``; raises an ``AssertionRefused`` subclass otherwise."""
    return verify_signed(
        token,
        ring,
        pathway_id=pathway_id,
        action=action,
        update_id=update_id,
        now=now,
        leeway=leeway,
    )


def verify_signed(
    token: str | None,
    ring: ActorKeyRing,
    *,
    pathway_id: str,
    action: str,
    update_id: str,
    now: datetime,
    leeway: timedelta = LEEWAY,
    typ: str = ASSERTION_TYPE,
    what: str = _ASSERTION,
    meanings: tuple[str, ...] | None = None,
) -> VerifiedActor:
    """``verify_assertion`` for a token of type ``typ`` (an assertion, or a co-signature:
    models/cosignature.py), named ``what`` in the refusals; ``meanings`` replaces the
    meanings the action's signature may carry."""
    if now.tzinfo is None:
        raise ValueError("now must carry a time zone (workflow.now() does)")
    if not token or not token.strip():
        raise AssertionMissing(
            "This action carries no signed identity: sign in (cellpath login, or the web app) "
            "and send it again; nothing was changed."
        )
    kid, raw = _read_signed(token.strip(), ring, typ, what)
    try:
        claims = AssertionClaims.model_validate(raw)
    except ValidationError:
        raise _forged("its content is not an actor assertion", what) from None
    if claims.iss != ISSUER:
        raise _forged(f"it was issued by {claims.iss!r}, not by the cellpath sign-in service", what)
    issued, expires = from_numeric_date(claims.iat), from_numeric_date(claims.exp)
    if expires - issued > MAX_LIFETIME:
        raise _forged("it claims to hold for longer than any action assertion may", what)
    starts = from_numeric_date(claims.nbf) if claims.nbf is not None else issued
    if now + leeway < max(starts, issued):
        raise AssertionNotYetValid(
            f"{what} is dated in the future "
            f"({issued:%H:%M:%S} UTC): check the clock of the computer that signed it, then "
            f"{_SIGN_AGAIN}."
        )
    if now - leeway >= expires:
        minutes = max(1, round((now - expires).total_seconds() / 60))
        raise AssertionExpired(
            f"{what} expired {minutes} min ago (at {expires:%H:%M:%S} UTC): {_SIGN_AGAIN}."
        )
    if claims.pathway != pathway_id:
        raise AssertionForAnotherPathway(
            f"{what} was signed for another pathway "
            f"({claims.pathway}), not {pathway_id}: {_SIGN_AGAIN}."
        )
    if claims.action != action:
        raise AssertionForAnotherAction(
            f"{what} was signed for '{claims.action}', not '{action}': {_SIGN_AGAIN}."
        )
    if claims.update != update_id:
        raise AssertionReplayed(
            f"{what} was signed for another request (it was "
            f"copied from an action already sent, or sent twice): {_SIGN_AGAIN}."
        )
    authenticated = from_numeric_date(claims.auth_time) if claims.auth_time is not None else None
    if meanings is not None or is_signature(action):
        check_signature(action, claims.meaning, authenticated, issued, meanings)
    return VerifiedActor(
        identity=StaffIdentity(
            actor=claims.sub, name=claims.name, roles=claims.roles, centres=claims.centres
        ),
        pathway_id=claims.pathway,
        action=claims.action,
        update_id=claims.update,
        issued_at=issued,
        expires_at=expires,
        key_id=kid,
        meaning=claims.meaning,
        authenticated_at=authenticated,
    )


def check_signature(
    action: str,
    meaning: str | None,
    authenticated: datetime | None,
    issued: datetime,
    meanings: tuple[str, ...] | None = None,
) -> None:
    """Refuse an electronic signature without an allowed meaning (``meanings``, else the
    action's) or a fresh password."""
    allowed = meanings if meanings is not None else meanings_for(action)
    if meaning not in allowed:
        raise ReauthenticationRequired(
            f"Sending '{action}' is an electronic signature and must say what it means "
            f"({' or '.join(repr(m) for m in allowed)}): sign it again."
        )
    if authenticated is None or not (
        timedelta(0) - LEEWAY <= issued - authenticated <= REAUTHENTICATION_WINDOW
    ):
        minutes = int(REAUTHENTICATION_WINDOW.total_seconds() // 60)
        raise ReauthenticationRequired(
            f"Sending '{action}' is an electronic signature: enter your password again (or "
            f"sign in again with the hospital login) within {minutes} min of signing; "
            "nothing was changed."
        )


def load_crypto_exceptions() -> None:
    """Make cryptography's Rust core look up ``InvalidSignature`` now, outside any workflow.

    The core imports that exception's class the first time it raises it. Inside the workflow
    sandbox (``sys.modules`` swapped) that import fails and pyo3 *aborts the worker process*
    (measured: "failed to import exception cryptography.exceptions.InvalidSignature", then
    SIGABRT, on the first forged assertion). Once looked up, the class is cached for good.
    """
    with contextlib.suppress(InvalidSignature):
        Ed25519PublicKey.from_public_bytes(bytes(32)).verify(bytes(64), b"")


# Imported by the worker (directly, or passed through the sandbox), never inside a workflow.
load_crypto_exceptions()
