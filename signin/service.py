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

With a session list (``signin.session_list``), every session token names a session ID kept
there: signing out (``sign_out``) or ``cellpath sessions revoke`` ends it at once, and a
token whose session is revoked, expired or unknown is refused. With a throttle
(``signin.throttle``), repeated wrong passwords pause password sign-in for the account and
the client address. With a hospital provider (``provider``), a person who signed in there
re-authenticates there to sign (a fresh ID token), and a local account with its password.

Limitations: without a session list (tests, scripts), sessions are stateless signed tokens
that work until they expire (``SESSION_LIFETIME``).
"""

from __future__ import annotations

import json
import secrets
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Protocol, TypeVar

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
from signin.accounts import AccountBook, SignInRefused
from signin.keys import SigningKeys
from signin.session_list import OpenSession, SessionList
from signin.throttle import SignInThrottle

T = TypeVar("T")

SESSION_TYPE = "cellpath-session+jwt"
#: how long a sign-in lasts without signing in again
SESSION_LIFETIME = timedelta(minutes=30)
#: an assertion is asked for just before the action is sent
ASSERTION_LIFETIME = timedelta(minutes=2)
#: how a session was opened: a local password, the provider in a browser, its device flow
VIA_PASSWORD, VIA_PROVIDER, VIA_DEVICE = "password", "provider", "device"


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
    #: the ID the session list keeps (the token's ``jti``)
    session_id: str = ""
    via: str = VIA_PASSWORD


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
        provider: Authenticator | None = None,
        sessions: SessionList | None = None,
        throttle: SignInThrottle | None = None,
    ) -> None:
        self.keys = keys
        self.authenticator = authenticator
        #: the hospital provider, for people who signed in there (``signin.hospital_login``)
        self.provider = provider
        self.sessions = sessions
        self.throttle = throttle
        self.clock = clock
        self.session_lifetime = session_lifetime
        self.assertion_lifetime = assertion_lifetime
        self._ring = keys.public_ring()

    def sign_in(self, actor: str, password: str, *, address: str | None = None) -> Session:
        """A session for a local account (``authenticator`` must be an ``AccountBook``);
        ``address``: the client's, for the throttle."""
        if not isinstance(self.authenticator, AccountBook):
            raise TypeError("password sign-in needs local accounts; use the provider's login")
        book = self.authenticator
        identity = self._throttled(actor, address, lambda: book.authenticate(actor, password))
        return self.open_session(identity, authenticated_at=self.clock())

    def open_session(
        self, identity: StaffIdentity, *, authenticated_at: datetime, via: str = VIA_PASSWORD
    ) -> Session:
        """A session for ``identity``, who proved it at ``authenticated_at`` (after a
        password, or after the provider's login: ``OidcProvider.sign_in``)."""
        now = self.clock()
        expires = now + self.session_lifetime
        session_id = secrets.token_urlsafe(12)
        claims = {
            "iss": ISSUER,
            "sub": identity.actor,
            "identity": identity.model_dump(mode="json"),
            "iat": to_numeric_date(now),
            "exp": to_numeric_date(expires),
            "auth_time": to_numeric_date(authenticated_at),
            "jti": session_id,
            "via": via,
        }
        token = self.keys.sign(SESSION_TYPE, claims)
        if self.sessions is not None:
            self.sessions.open(
                OpenSession(
                    session_id=session_id,
                    actor=identity.actor,
                    via=via,
                    opened_at=now,
                    expires_at=expires,
                )
            )
        return Session(
            token=token,
            identity=identity,
            authenticated_at=authenticated_at,
            expires_at=expires,
            session_id=session_id,
            via=via,
        )

    def sign_out(self, token: str | None) -> bool:
        """End the session ``token`` stands for (in the session list); whether it was open."""
        try:
            session = self.session(token)
        except SessionRefused:
            return False
        if self.sessions is None:
            return False
        return self.sessions.revoke(session.session_id, self.clock())

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
            session_id = str(claims.get("jti", ""))
            via = str(claims.get("via", VIA_PASSWORD))
        except (JoseError, ValueError, UnicodeError, KeyError, TypeError, ValidationError):
            raise refused from None
        now = self.clock()
        if claims.get("iss") != ISSUER or now >= expires:
            raise refused
        if self.sessions is not None and not self.sessions.is_open(session_id, now):
            raise SessionRefused(
                "Your session was ended (signed out, or ended by the programme lead): "
                "sign in again."
            )
        return Session(
            token=token,
            identity=identity,
            authenticated_at=authenticated,
            expires_at=expires,
            session_id=session_id,
            via=via,
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
            confirmed = self._reauthenticated(session, credential, now)
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
        self,
        actor: str,
        password: str,
        *,
        pathway_id: str,
        action: str,
        update_id: str,
        address: str | None = None,
    ) -> str:
        """``cosign`` for a local account whose password is given now (on the signer's form
        or prompt); a wrong staff ID or password is refused, and counted, like a sign-in."""
        if not isinstance(self.authenticator, AccountBook):
            raise ReauthenticationRequired(
                "Here staff sign in with the hospital login: the second person co-signs by "
                "signing in again with it, not with a password typed on this form; nothing "
                "was changed."
            )
        book = self.authenticator
        identity = self._throttled(actor, address, lambda: book.authenticate(actor, password))
        return self.cosign(
            identity,
            authenticated_at=self.clock(),
            pathway_id=pathway_id,
            action=action,
            update_id=update_id,
        )

    def cosign_session(
        self,
        session_token: str | None,
        credential: str,
        *,
        pathway_id: str,
        action: str,
        update_id: str,
    ) -> str:
        """``cosign`` by the person signed in under ``session_token``, who re-authenticates
        now with ``credential`` (their password, or a fresh provider login if they signed in
        there)."""
        session = self.session(session_token)
        confirmed = self._reauthenticated(session, credential, self.clock())
        return self.cosign(
            session.identity,
            authenticated_at=confirmed,
            pathway_id=pathway_id,
            action=action,
            update_id=update_id,
        )

    def _reauthenticated(self, session: Session, credential: str, now: datetime) -> datetime:
        """When the signer proved who they are again: a fresh provider login for people who
        signed in there; else the password, its wrong guesses counted like a sign-in's (a
        stolen session cannot guess the password through signatures)."""
        actor = session.identity.actor
        if session.via != VIA_PASSWORD and self.provider is not None:
            return self.provider.reauthenticate(actor, credential, now)
        return self._throttled(
            actor, None, lambda: self.authenticator.reauthenticate(actor, credential, now)
        )

    def _throttled(self, actor: str, address: str | None, attempt: Callable[[], T]) -> T:
        """A password attempt, refused while ``actor`` or ``address`` is paused; a wrong
        password counts towards the pause, a right one clears the actor's count."""
        if self.throttle is not None:
            self.throttle.check(actor, address)
        try:
            answer = attempt()
        except SignInRefused:
            if self.throttle is not None:
                self.throttle.failed(actor, address)
            raise
        if self.throttle is not None:
            self.throttle.succeeded(actor)
        return answer
