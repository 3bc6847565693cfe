"""Who is signed in: the session cookie's sign-in token, checked on every request, with an
idle timeout; the signed-in person is the signer of their actions.

The cookie (Starlette's ``SessionMiddleware``, signed with itsdangerous, HttpOnly, SameSite
strict, Secure behind HTTPS) holds the sign-in service's session token, the CSRF token and
when the person was last seen. A request after ``idle_timeout`` without one, a token the
sign-in service no longer accepts (expired, another key) or no cookie at all sends the
browser to the sign-in page (``SignInNeeded``).

A person signed in with the hospital's provider signs with a fresh login there instead of
a password: ``web.routes.provider_signin`` keeps that fresh ID token in the cookie
(``FRESH_LOGIN``) and ``signing`` uses it as the signature's credential.

Usage::

    @router.get("/")
    async def my_work(request: Request, staff: StaffSession = Depends(current_staff)): ...

    receipt = await pathways.act(client, pid, event, data, signer=staff.signing(password))
"""

from __future__ import annotations

import dataclasses

from fastapi import Request

from models.actor import StaffIdentity
from models.refusals import Refusal
from models.roles import Role
from signin.service import VIA_PASSWORD, AssertionService, Session
from web.context import context_of

#: keys of the session cookie
TOKEN, SEEN, FRESH_LOGIN = "signin_token", "seen", "fresh_login"


class SignInNeeded(Exception):
    """No session, or it ended: the browser goes to the sign-in page."""

    def __init__(self, why: str = ""):
        super().__init__(why)
        self.why = why


@dataclasses.dataclass(frozen=True)
class StaffSession:
    """A signed-in person; ``assertion_for`` makes them the ``ActionSigner`` of an action."""

    service: AssertionService
    session: Session
    #: the password re-entered for an electronic signature, and the signature's meaning
    credential: str | None = dataclasses.field(default=None, repr=False)
    meaning: str | None = None
    #: a fresh ID token from logging in again with the provider (provider sessions only)
    fresh_login: str | None = dataclasses.field(default=None, repr=False)

    @property
    def via_provider(self) -> bool:
        return self.session.via != VIA_PASSWORD

    @property
    def identity(self) -> StaffIdentity:
        return self.session.identity

    @property
    def actor(self) -> str:
        return self.identity.actor

    @property
    def roles(self) -> tuple[Role, ...]:
        return self.identity.roles

    @property
    def centres(self) -> tuple[str, ...]:
        return self.identity.centres

    def signing(self, credential: str | None, meaning: str | None = None) -> StaffSession:
        """The same person, signing with ``credential`` (Part 11 §11.200: both components
        again at each signature)."""
        if self.via_provider:
            credential = self.fresh_login  # the provider's fresh login, not a typed password
        return dataclasses.replace(self, credential=credential or None, meaning=meaning or None)

    def assertion_for(self, *, pathway_id: str, event: str, update_id: str) -> str:
        return self.service.assert_action(
            self.session.token,
            pathway_id=pathway_id,
            action=event,
            update_id=update_id,
            credential=self.credential,
            meaning=self.meaning,
        )


@dataclasses.dataclass(frozen=True)
class SecondPerson:
    """The second person of a two-person action, at the same ward computer: their staff ID
    and password typed on the signer's form; the sign-in service issues their co-signature
    (models/cosignature.py). Nothing of it is kept after the request."""

    service: AssertionService
    actor: str
    credential: str = dataclasses.field(repr=False)
    #: the browser's address: wrong passwords are counted like a sign-in's
    address: str | None = None

    def cosignature_for(self, *, pathway_id: str, event: str, update_id: str) -> str:
        return self.service.cosign_with_password(
            self.actor,
            self.credential,
            pathway_id=pathway_id,
            action=event,
            update_id=update_id,
            address=self.address,
        )


def begin(request: Request, session: Session) -> None:
    """Start a signed-in session: a fresh cookie (nothing kept from before sign-in; a
    session it held is ended)."""
    end(request)
    request.session[TOKEN] = session.token
    request.session[SEEN] = context_of(request).clock()


def end(request: Request) -> None:
    """Sign out: the session is revoked in the sign-in service's list, the cookie cleared."""
    token = request.session.get(TOKEN)
    if isinstance(token, str):
        context_of(request).signin.sign_out(token)
    request.session.clear()


def current_staff(request: Request) -> StaffSession:
    """The signed-in person, or ``SignInNeeded`` (the app redirects to the sign-in page)."""
    context = context_of(request)
    token = request.session.get(TOKEN)
    if not token:
        raise SignInNeeded()
    seen = request.session.get(SEEN)
    now = context.clock()
    if not isinstance(seen, (int, float)) or now - seen > context.idle_timeout.total_seconds():
        end(request)
        raise SignInNeeded("idle")
    try:
        session = context.signin.session(token)
    except Refusal:
        end(request)
        raise SignInNeeded("ended") from None
    request.session[SEEN] = now
    fresh = request.session.get(FRESH_LOGIN)
    return StaffSession(
        context.signin, session, fresh_login=fresh if isinstance(fresh, str) else None
    )
