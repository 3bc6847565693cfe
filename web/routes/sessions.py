"""*Sessions*: who is signed in through this sign-in host, for the programme lead, and
ending a session at once (a stolen cookie or a copied session file stops working) — the
web twin of ``cellpath sessions list/revoke``.

Only a programme lead sees the page or ends a session; anyone else gets a 403 page that
says whose page it is. Ending a session is logged with who ended it. The list holds staff
IDs, how they signed in and times; nothing about patients.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated

import structlog
from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import RedirectResponse, Response

from models.roles import Role
from web.context import context_of
from web.csrf import require_csrf
from web.pages import notice, page
from web.staff_session import StaffSession, current_staff

router = APIRouter()
log = structlog.get_logger("cellpath.web")


def _not_the_lead(request: Request, staff: StaffSession) -> Response | None:
    if Role.PROGRAMME_LEAD in staff.roles:
        return None
    return page(request, "sessions.html", staff, forbidden=True, status_code=403)


@router.get("/sessions")
async def sessions_page(
    request: Request, staff: Annotated[StaffSession, Depends(current_staff)]
) -> Response:
    if refused := _not_the_lead(request, staff):
        return refused
    context = context_of(request)
    listed = context.signin.sessions
    now = datetime.fromtimestamp(context.clock(), UTC)
    rows = listed.listed(now) if listed else []
    return page(
        request, "sessions.html", staff, rows=rows, kept=listed is not None,
        own=staff.session.session_id,
    )  # fmt: skip


@router.post("/sessions/end", dependencies=[Depends(require_csrf)])
async def end_session(
    request: Request,
    staff: Annotated[StaffSession, Depends(current_staff)],
    session_id: Annotated[str, Form(max_length=200)] = "",
    actor: Annotated[str, Form(max_length=200)] = "",
) -> Response:
    """End one session (``session_id``) or every session of one person (``actor``)."""
    if refused := _not_the_lead(request, staff):
        return refused
    listed = context_of(request).signin.sessions
    if listed is None or bool(session_id) == bool(actor):
        notice(request, "Nothing ended: choose one session, or one person's sessions.")
        return RedirectResponse("/sessions", status_code=303)
    if actor:
        count = listed.revoke_actor(actor)
        log.info("sessions ended", by=staff.actor, actor=actor, count=count)
        notice(request, f"Ended {count} session(s) of {actor}.")
    elif listed.revoke(session_id):
        log.info("session ended", by=staff.actor, session_id=session_id)
        notice(request, f"Ended session {session_id}.")
    else:
        notice(request, f"Session {session_id} was not open: nothing ended.")
    return RedirectResponse("/sessions", status_code=303)
