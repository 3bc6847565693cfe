"""Sign in with a local account, sign out.

With a hospital provider configured the page offers "Sign in with <provider>"
(``web.routes.provider_signin``) and no password form; otherwise (the dev stack) local
accounts. A wrong staff ID and a wrong password get the same answer (the sign-in
service's); too many of them, for one account or from one address, pause password sign-in
(``signin.throttle``). The session cookie is replaced at sign-in, so nothing carries over
from before it; signing out revokes the session in the sign-in service's list.
"""

from __future__ import annotations

import asyncio
from typing import Annotated

import structlog
from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import RedirectResponse, Response

from models.refusals import Refusal
from web.context import context_of
from web.csrf import require_csrf
from web.pages import page
from web.staff_session import begin, end

router = APIRouter()
log = structlog.get_logger("cellpath.web")

ENDED = {
    "idle": "You were signed out after a while without activity. Sign in again.",
    "ended": "Your session ended. Sign in again.",
}


@router.get("/sign-in")
async def sign_in_page(request: Request, ended: str | None = None) -> Response:
    return page(
        request,
        "sign_in.html",
        None,
        message=ENDED.get(ended or ""),
        provider=context_of(request).hospital,
    )


@router.post("/sign-in", dependencies=[Depends(require_csrf)])
async def sign_in(
    request: Request,
    staff_id: Annotated[str, Form(max_length=64)],
    password: Annotated[str, Form(max_length=1024)],
) -> Response:
    context = context_of(request)
    if context.hospital is not None:
        return page(request, "sign_in.html", None, provider=context.hospital, status_code=401,
                    error=f"Sign in with {context.hospital.name}.")  # fmt: skip
    address = request.client.host if request.client else None
    try:
        # Argon2id takes a noticeable moment of CPU: off the event loop.
        session = await asyncio.to_thread(
            context.signin.sign_in, staff_id.strip(), password, address=address
        )
    except Refusal as err:
        log.info("sign-in refused", rule=err.rule)
        status = 429 if err.rule == "SignInThrottled" else 401
        return page(request, "sign_in.html", None, error=err.message, status_code=status)
    begin(request, session)
    log.info("signed in", actor=session.identity.actor)
    return RedirectResponse("/", status_code=303)


@router.post("/sign-out", dependencies=[Depends(require_csrf)])
async def sign_out(request: Request) -> Response:
    end(request)
    return RedirectResponse("/sign-in", status_code=303)
