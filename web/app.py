"""The staff web app as an ASGI application: pages, sessions, CSRF, security headers.

Usage::

    app = create_app(WebContext(client=client, signin=service, task_queue=queue,
                                secret_key=secret))
    async with running(app, port=8090) as url: ...          # devtools.codec_server.running

No page needs JavaScript, and the content security policy allows none.
"""

from __future__ import annotations

import structlog
from fastapi import FastAPI, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from starlette.exceptions import HTTPException
from starlette.middleware.sessions import SessionMiddleware
from temporalio.service import RPCError

from models.refusals import Refusal
from web.context import WebContext
from web.csrf import CsrfRefused
from web.headers import SecurityHeaders
from web.pages import HERE, page
from web.routes import (
    centres,
    cosign,
    incidents,
    pathway,
    provider_signin,
    referral,
    sessions,
    signin,
    work,
)
from web.staff_session import SignInNeeded

log = structlog.get_logger("cellpath.web")


def create_app(context: WebContext) -> FastAPI:
    app = FastAPI(title="cellpath", docs_url=None, redoc_url=None, openapi_url=None, debug=False)
    app.state.context = context
    app.add_middleware(
        SessionMiddleware,
        secret_key=context.secret_key,
        session_cookie=context.cookie_name,
        max_age=int(context.idle_timeout.total_seconds()),
        same_site="strict",
        https_only=context.secure_cookies,
    )
    app.add_middleware(SecurityHeaders, hsts=context.secure_cookies)
    app.mount("/static", StaticFiles(directory=HERE / "static"), name="static")
    routers = (
        signin,
        provider_signin,
        work,
        pathway,
        cosign,
        referral,
        centres,
        incidents,
        sessions,
    )
    for module in routers:
        app.include_router(module.router)

    @app.exception_handler(SignInNeeded)
    async def to_sign_in(request: Request, exc: SignInNeeded) -> Response:
        target = "/sign-in" + (f"?ended={exc.why}" if exc.why else "")
        return RedirectResponse(target, status_code=303)

    @app.exception_handler(CsrfRefused)
    async def csrf_refused(request: Request, exc: CsrfRefused) -> Response:
        return page(
            request,
            "refused.html",
            None,
            status_code=403,
            title="Form refused",
            message=(
                "This form was refused: it did not carry this session's security token (it "
                "may be from an old page, or from another site). Nothing was changed. Go back, "
                "reload the page and send it again."
            ),
        )

    @app.exception_handler(RPCError)
    @app.exception_handler(Refusal)
    async def unavailable(request: Request, exc: Exception) -> Response:
        # A page that cannot reach Temporal or its worker says so; it never shows a trace.
        message = exc.message if isinstance(exc, Refusal) else "Temporal cannot be reached."
        log.warning("page failed", path=request.url.path, error=type(exc).__name__)
        return page(request, "refused.html", None, status_code=503, title="Not available",
                    message=f"{message} Try again in a moment; nothing was changed.")  # fmt: skip

    @app.exception_handler(HTTPException)
    async def http_error(request: Request, exc: HTTPException) -> Response:
        return HTMLResponse(
            f"<!doctype html><title>{exc.status_code}</title><p>{exc.status_code}: "
            'this page does not exist. <a href="/">My work</a></p>',
            status_code=exc.status_code,
        )

    return app
