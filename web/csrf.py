"""CSRF protection: every form carries the session's random token; a post without it, or
with another, is refused before anything is read or sent.

The token lives in the signed session cookie (so the sign-in form has one too: no login
CSRF); forms put it in a hidden field ``csrf_token``. SameSite=strict cookies already keep
other sites' posts from carrying the session; the token is the second lock.

Usage::

    @router.post("/pathways/{pathway_id}/act", dependencies=[Depends(require_csrf)])
"""

from __future__ import annotations

import hmac
import secrets

from fastapi import Request

FIELD = "csrf_token"
_KEY = "csrf"


class CsrfRefused(Exception):
    """A form posted without this session's CSRF token."""


def csrf_token(request: Request) -> str:
    """This session's token (made on first use)."""
    token = request.session.get(_KEY)
    if not isinstance(token, str) or not token:
        token = secrets.token_urlsafe(32)
        request.session[_KEY] = token
    return token


async def require_csrf(request: Request) -> None:
    expected = request.session.get(_KEY)
    sent = (await request.form()).get(FIELD)
    if not (
        isinstance(expected, str)
        and expected
        and isinstance(sent, str)
        and hmac.compare_digest(sent.encode(), expected.encode())
    ):
        raise CsrfRefused()
