"""The assertion-issuing service: sign in once, then get one signed assertion per action.

Sign-in (password, or the identity provider) opens a short-lived session token; with it, the
caller asks for an actor assertion bound to one pathway, one action and one Update ID
(``models.actor``). An electronic signature (``models.signatures``: MDTM decision, release,
receipt, thaw, infusion, two-person checks) needs the person to re-authenticate first —
their password again, or a fresh login with the provider — and records its meaning.

Usage::

    service = AssertionService(keys, authenticator=book)      # a local AccountBook
    session = service.sign_in("n.bernard", password)
    token = service.assert_action(session.token, pathway_id=pid, action="start_lymphodepletion",
                                  update_id=update_id)
    token = service.assert_action(session.token, pathway_id=pid, action="infuse",
                                  update_id=update_id, credential=password)   # re-asked
    # the second person of a two-person action, on the same form or prompt
    cosig = service.cosign_with_password("dr.roux", her_password, pathway_id=pid,
                                         action="infuse", update_id=update_id)

Limitations: sessions are stateless signed tokens; signing out discards the token on the
client side, and a stolen session token works until it expires (``SESSION_LIFETIME``).
"""

from __future__ import annotations

import json
import secrets
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Protocol

from joserfc import jws
from joserfc.errors import JoseError
from pydantic import BaseModel, ConfigDict, ValidationError

from models.actor import (
    ALGORITHM,
    ASSERTION_TYPE,
    COSIGNATURE_TYPE,
    ISSUER,
    ReauthenticationRequired,
    StaffIdentity,
    from_numeric_date,
    to_numeric_date,
)
from models.cosignature import COSIGN_MEANING, cosignature_rule
from models.refusals import Outcome, Refusal
from models.signatures import is_signature, meanings_for
from signin.accounts import AccountBook
from signin.keys import SigningKeys

SESSION_TYPE = "cellpath-session+jwt"
#: how long a sign-in lasts without signing in again
SESSION_LIFETIME = timedelta(minutes=30)
#: an assertion is asked for just before the action is sent
ASSERTION_LIFETIME = timedelta(minutes=2)


class Authenticator(Protocol):
    """Who checks credentials: local accounts (``AccountBook``) or the provider
    (``signin.oidc.OidcProvider``)."""

    def reauthenticate(self, actor: str, credential: str, now: datetime) -> datetime:
        """When ``actor`` proved who they are with ``credential`` (a password or a fresh
        ID token); raises a ``Refusal`` if they did not."""
        ...


class SessionRefused(Refusal):
    """No session, or it expired or cannot be trusted: sign in again."""

    outcome = Outcome.BAD_INPUT


class Session(BaseModel):
    model_config = ConfigDict(frozen=True)

    token: str
    identity: StaffIdentity
    authenticated_at: datetime
    expires_at: datetime


class AssertionService:
    """Opens sessions and issues actor assertions signed with ``keys``' current key."""

    def __init__(
        self,
        keys: SigningKeys,
        *,
        authenticator: Authenticator,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
        session_lifetime: timedelta = SESSION_LIFETIME,
        assertion_lifetime: timedelta = ASSERTION_LIFETIME,
    ) -> None:
        self.keys = keys
        self.authenticator = authenticator
        self.clock = clock
        self.session_lifetime = session_lifetime
        self.assertion_lifetime = assertion_lifetime
        self._ring = keys.public_ring()

    def sign_in(self, actor: str, password: str) -> Session:
        """A session for a local account (``authenticator`` must be an ``AccountBook``)."""
        if not isinstance(self.authenticator, AccountBook):
            raise TypeError("password sign-in needs local accounts; use the provider's login")
        identity = self.authenticator.authenticate(actor, password)
        return self.open_session(identity, authenticated_at=self.clock())

    def open_session(self, identity: StaffIdentity, *, authenticated_at: datetime) -> Session:
        """A session for ``identity``, who proved it at ``authenticated_at`` (after a
        password, or after the provider's login: ``OidcProvider.sign_in``)."""
        now = self.clock()
        expires = now + self.session_lifetime
        claims = {
            "iss": ISSUER,
            "sub": identity.actor,
            "identity": identity.model_dump(mode="json"),
            "iat": to_numeric_date(now),
            "exp": to_numeric_date(expires),
            "auth_time": to_numeric_date(authenticated_at),
            "jti": secrets.token_urlsafe(12),
        }
        token = self.keys.sign(SESSION_TYPE, claims)
        return Session(
            token=token, identity=identity, authenticated_at=authenticated_at, expires_at=expires
        )

    def session(self, token: str | None) -> Session:
        """The session ``token`` stands for, if it is ours and still open."""
        refused = SessionRefused("You are not signed in, or your session ended: sign in again.")
        if not token:
            raise refused
        try:
            header = jws.extract_compact(token.encode("ascii")).headers()
            key = self._ring.verification_key(str(header.get("kid")))
            if header.get("typ") != SESSION_TYPE or key is None:
                raise refused
            signed = jws.deserialize_compact(token, key, algorithms=[ALGORITHM])
            claims = json.loads(signed.payload)
            identity = StaffIdentity.model_validate(claims["identity"])
            expires = from_numeric_date(claims["exp"])
            authenticated = from_numeric_date(claims["auth_time"])
        except (JoseError, ValueError, UnicodeError, KeyError, TypeError, ValidationError):
            raise refused from None
        if claims.get("iss") != ISSUER or self.clock() >= expires:
            raise refused
        return Session(
            token=token, identity=identity, authenticated_at=authenticated, expires_at=expires
        )

    def assert_action(
        self,
        session_token: str | None,
        *,
        pathway_id: str,
        action: str,
        update_id: str,
        credential: str | None = None,
        meaning: str | None = None,
    ) -> str:
        """An actor assertion for sending ``action`` to ``pathway_id`` as Update ``update_id``.

        For an electronic signature, ``credential`` (the password again, or a fresh ID token
        from the provider) is required and checked now; ``meaning`` defaults to the action's
        usual one ("administered" for an infusion, "verified" is the second person's).
        """
        session = self.session(session_token)
        now = self.clock()
        claims: dict[str, object] = {
            "iss": ISSUER,
            "sub": session.identity.actor,
            "name": session.identity.name,
            "roles": [str(role) for role in session.identity.roles],
            "centres": list(session.identity.centres),
            "iat": to_numeric_date(now),
            "exp": to_numeric_date(now + self.assertion_lifetime),
            "pathway": pathway_id,
            "action": action,
            "update": update_id,
            "jti": secrets.token_urlsafe(12),
        }
        if is_signature(action):
            allowed = meanings_for(action)
            meaning = meaning or allowed[0]
            if meaning not in allowed:
                raise ReauthenticationRequired(
                    f"A signature of '{action}' means {' or '.join(map(repr, allowed))}, "
                    f"not {meaning!r}."
                )
            if not credential:
                raise ReauthenticationRequired(
                    f"Sending '{action}' is an electronic signature: enter your password "
                    "again (or sign in again with the hospital login) to sign it."
                )
            confirmed = self.authenticator.reauthenticate(session.identity.actor, credential, now)
            claims["meaning"] = meaning
            claims["auth_time"] = to_numeric_date(confirmed)
        return self.keys.sign(ASSERTION_TYPE, claims)

    def cosign(
        self,
        identity: StaffIdentity,
        *,
        authenticated_at: datetime,
        pathway_id: str,
        action: str,
        update_id: str,
    ) -> str:
        """A co-signature (models/cosignature.py) by ``identity``, the second person of a
        two-person action, who proved who they are at ``authenticated_at`` (their password
        just now, or a fresh login with the provider): meaning "verified", bound to the same
        pathway, action and Update ID as the signer's assertion."""
        if cosignature_rule(action) is None:
            raise ReauthenticationRequired(f"'{action}' is not a two-person action.")
        now = self.clock()
        claims: dict[str, object] = {
            "iss": ISSUER,
            "sub": identity.actor,
            "name": identity.name,
            "roles": [str(role) for role in identity.roles],
            "centres": list(identity.centres),
            "iat": to_numeric_date(now),
            "exp": to_numeric_date(now + self.assertion_lifetime),
            "pathway": pathway_id,
            "action": action,
            "update": update_id,
            "meaning": COSIGN_MEANING,
            "auth_time": to_numeric_date(authenticated_at),
            "jti": secrets.token_urlsafe(12),
        }
        return self.keys.sign(COSIGNATURE_TYPE, claims)

    def cosign_with_password(
        self, actor: str, password: str, *, pathway_id: str, action: str, update_id: str
    ) -> str:
        """``cosign`` for a local account whose password is given now (on the signer's form
        or prompt); a wrong staff ID or password is refused like a sign-in."""
        if not isinstance(self.authenticator, AccountBook):
            raise ReauthenticationRequired(
                "Here staff sign in with the hospital login: the second person co-signs by "
                "signing in again with it, not with a password typed on this form; nothing "
                "was changed."
            )
        identity = self.authenticator.authenticate(actor, password)
        return self.cosign(
            identity,
            authenticated_at=self.clock(),
            pathway_id=pathway_id,
            action=action,
            update_id=update_id,
        )
