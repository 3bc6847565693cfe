"""Sign in with the hospital's identity provider (OpenID Connect), and log in there again
to sign: the authorization-code flow with PKCE, state and nonce (``signin.hospital_login``).

``/sign-in/provider`` sends the browser to the provider; the provider sends it back to
``/sign-in/callback``, where the code is exchanged, the ID token checked and mapped
(``signin.oidc``: a person in no mapped group is refused, saying so) and a session opened.
What the callback needs from the start (state, nonce, PKCE verifier) travels in its own
signed cookie, ``SameSite=Lax``: the session cookie is ``Strict``, so a browser coming back
from the provider's site does not send it. For the same reason the callback answers with a
page that moves on by itself (a same-site navigation that carries the new session cookie)
rather than a redirect.

For an electronic signature, ``/sign-in/reauthenticate`` asks the provider for a forced
login (``prompt=login``, ``max_age=0``); the fresh ID token comes back through the callback
and ``/sign-in/reauthenticated`` keeps it in the session as the signature's credential.

The second person of a two-person action logs in through the same callback
(``web.routes.cosign`` starts it): no session is opened for them — the signer's stays — and
their fresh ID token (or the provider's refusal) moves on to ``/cosign/verified``.
"""

from __future__ import annotations

import asyncio
import hmac
from typing import Annotated, Any

import structlog
from fastapi import APIRouter, Depends, Request
from fastapi.responses import RedirectResponse, Response
from itsdangerous import BadSignature, URLSafeTimedSerializer
from pydantic import ValidationError
from starlette.exceptions import HTTPException

from models.refusals import Refusal
from signin.hospital_login import HospitalLogin, PendingLogin
from signin.oidc import NoCellpathAccess
from signin.provider_http import ProviderUnavailable
from signin.service import VIA_PROVIDER
from web.context import WebContext, context_of
from web.pages import notice, page
from web.staff_session import FRESH_LOGIN, StaffSession, begin, current_staff

router = APIRouter()
log = structlog.get_logger("cellpath.web")
Staff = Annotated[StaffSession, Depends(current_staff)]

_PENDING, _FRESH = "pending", "fresh"
#: what the callback hands to ``/cosign/verified``: the second person's login, or its refusal
COSIGNER = "cosigner"


def _hospital(request: Request) -> HospitalLogin:
    hospital = context_of(request).hospital
    if hospital is None:
        raise HTTPException(404)
    return hospital


def _redirect_uri(request: Request, hospital: HospitalLogin) -> str:
    return hospital.config.redirect_uri or str(request.url_for("provider_callback"))


def _back(back: str | None) -> str:
    """Only a path of this app (never another site: no open redirect)."""
    if back and back.startswith("/") and not back.startswith(("//", "/\\")):
        return back
    return "/"


def _signer(context: WebContext) -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(context.secret_key, salt="cellpath-provider-login")


def _login_seconds(context: WebContext) -> int:
    """How long a login may take at the provider (``SignInPolicy.provider_login_within``)."""
    assert context.hospital is not None
    return int(context.hospital.policy.provider_login_within.total_seconds())


def keep(response: Response, request: Request, kind: str, value: dict[str, Any]) -> None:
    context = context_of(request)
    response.set_cookie(
        context.login_cookie_name,
        _signer(context).dumps({kind: value}),
        max_age=_login_seconds(context),
        path="/",
        httponly=True,
        samesite="lax",
        secure=context.secure_cookies,
    )


def kept(request: Request, kind: str) -> dict[str, Any] | None:
    context = context_of(request)
    raw = request.cookies.get(context.login_cookie_name)
    if not raw:
        return None
    try:
        data = _signer(context).loads(raw, max_age=_login_seconds(context))
    except BadSignature:
        return None
    value = data.get(kind) if isinstance(data, dict) else None
    return value if isinstance(value, dict) else None


def forget(response: Response, request: Request) -> Response:
    context = context_of(request)
    response.delete_cookie(context.login_cookie_name, path="/", secure=context.secure_cookies)
    return response


def _refused(request: Request, message: str, status: int) -> Response:
    return page(request, "sign_in.html", None, error=message, status_code=status,
                provider=context_of(request).hospital)  # fmt: skip


async def start_login(
    request: Request,
    *,
    reauthenticate: bool,
    back: str | None,
    cosign: str = "",
    login_hint: str | None = None,
    from_form: bool = False,
) -> Response:
    """Send the browser to the provider (``cosign``: the second person of the two-person
    action held under this ID logs in, ``login_hint`` the person named), keeping what the callback needs;
    ``from_form``: answering a posted form, with a page that moves on rather than a redirect
    (the content security policy's ``form-action 'self'`` also covers a form's redirects)."""
    hospital = _hospital(request)
    try:
        url, pending = await asyncio.to_thread(
            hospital.start,
            _redirect_uri(request, hospital),
            reauthenticate=reauthenticate,
            back=_back(back),
            cosign=cosign,
            login_hint=login_hint,
        )
    except ProviderUnavailable as err:
        log.warning("provider unavailable", rule=err.rule)
        return _refused(request, err.message, 503)
    response: Response
    if from_form:
        response = _moving_on(request, url, f"On to {hospital.name}…")
    else:
        response = RedirectResponse(url, status_code=303)
    keep(response, request, _PENDING, pending.model_dump())
    return response


@router.get("/sign-in/provider")
async def sign_in_with_provider(request: Request, back: str | None = None) -> Response:
    return await start_login(request, reauthenticate=False, back=back)


@router.get("/sign-in/reauthenticate")
async def reauthenticate(request: Request, staff: Staff, back: str | None = None) -> Response:
    # login_hint: after a second person's login at this browser, the provider asks for her
    return await start_login(request, reauthenticate=True, back=back, login_hint=staff.actor)


def _moving_on(request: Request, target: str, text: str) -> Response:
    return page(request, "moving_on.html", None, target=target, text=text)


@router.get("/sign-in/callback", name="provider_callback")
async def callback(request: Request, state: str = "", code: str = "", error: str = "") -> Response:
    hospital = _hospital(request)
    try:
        pending = PendingLogin.model_validate(kept(request, _PENDING))
    except ValidationError:
        pending = None
    if pending is None or not hmac.compare_digest(state.encode(), pending.state.encode()):
        log.info("sign-in refused", rule="StaleLogin")
        return forget(_refused(request, "This sign-in was not started here, or it took too "
                                "long: sign in again.", 400), request)  # fmt: skip
    if pending.cosign:
        return await _second_person(request, hospital, pending, code, error)
    if error or not code:
        log.info("sign-in refused", rule="ProviderDeclined")
        message = f"{hospital.name} did not sign you in ({error or 'no code'}): sign in again."
        return forget(_refused(request, message, 401), request)
    try:
        identity, when, id_token = await asyncio.to_thread(
            hospital.finish, code, pending, _redirect_uri(request, hospital)
        )
    except Refusal as err:
        log.info("sign-in refused", rule=err.rule)
        status = 403 if isinstance(err, NoCellpathAccess) else 401
        status = 503 if isinstance(err, ProviderUnavailable) else status
        return forget(_refused(request, err.message, status), request)
    if pending.reauthenticate:
        # The session cookie is not sent here: the next, same-site step checks whose login.
        response = _moving_on(request, "/sign-in/reauthenticated", "Logged in again.")
        keep(response, request, _FRESH, {"id_token": id_token, "back": pending.back})
        return response
    session = context_of(request).signin.open_session(
        identity, authenticated_at=when, via=VIA_PROVIDER
    )
    begin(request, session)
    log.info("signed in", actor=identity.actor, via=VIA_PROVIDER)
    return forget(_moving_on(request, pending.back, f"Signed in as {identity.actor}."), request)


async def _second_person(
    request: Request, hospital: HospitalLogin, pending: PendingLogin, code: str, error: str
) -> Response:
    """The second person of a two-person action logged in: their ID token (nonce checked
    here) or the refusal goes on to ``/cosign/verified``, where the signer's session is."""
    kept_for_next: dict[str, Any]
    if error or not code:
        kept_for_next = {"refused": f"{hospital.name} did not sign the second person in "
                         f"({error or 'no code'}): nothing was changed.",
                         "rule": "ProviderDeclined"}  # fmt: skip
    else:
        try:
            _, _, id_token = await asyncio.to_thread(
                hospital.finish, code, pending, _redirect_uri(request, hospital)
            )
        except Refusal as err:
            kept_for_next = {"refused": err.message, "rule": err.rule}
        else:
            kept_for_next = {"id_token": id_token}
    kept_for_next["held"] = pending.cosign  # this login co-signs that held action, no other
    response = _moving_on(request, "/cosign/verified", "The second person logged in.")
    keep(response, request, COSIGNER, kept_for_next)
    return response


@router.get("/sign-in/reauthenticated")
async def reauthenticated(request: Request, staff: Staff) -> Response:
    hospital = _hospital(request)
    fresh = kept(request, _FRESH) or {}
    id_token, back = str(fresh.get("id_token", "")), _back(str(fresh.get("back", "/")))
    try:
        now = staff.service.clock()
        await asyncio.to_thread(hospital.reauthenticate, staff.actor, id_token, now)
    except Refusal as err:
        log.info("re-authentication refused", rule=err.rule)
        request.session.pop(FRESH_LOGIN, None)
        notice(request, err.message)
    else:
        request.session[FRESH_LOGIN] = id_token
        notice(request, f"You logged in again with {hospital.name}: you may sign now.")
    return forget(RedirectResponse(back, status_code=303), request)
