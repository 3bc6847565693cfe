"""Rendering a page: the Jinja2 templates, with what every page shows (who is signed in,
the CSRF token for its forms, the one-time notice left by the last action).

Usage::

    return page(request, "pathway.html", staff, pathway=view, status_code=409)
    notice(request, "Recorded: start lymphodepletion.")        # shown on the next page
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from fastapi import Request
from fastapi.responses import HTMLResponse
from fastapi.templating import Jinja2Templates

from client.diagrams import event_label
from models.durations import humanize
from web.csrf import FIELD, csrf_token
from web.staff_session import StaffSession

HERE = Path(__file__).resolve().parent
templates = Jinja2Templates(directory=HERE / "templates")
_NOTICE = "notice"


def when(value: datetime | None) -> str:
    """A time as staff read it: UTC, to the minute."""
    if value is None:
        return "—"
    return value.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC")


def how_late(due: datetime, now: datetime | None = None) -> str:
    """``late by 2 d 3 h`` or ``in 4 h``."""
    left = due - (now or datetime.now(UTC))
    if left < timedelta(0):
        return f"late by {humanize(-left)}"
    return f"in {humanize(left)}"


templates.env.filters["when"] = when
templates.env.filters["how_late"] = how_late
templates.env.filters["action"] = event_label
templates.env.globals["csrf_field"] = FIELD


def notice(request: Request, text: str) -> None:
    request.session[_NOTICE] = text


def page(
    request: Request,
    name: str,
    staff: StaffSession | None,
    *,
    status_code: int = 200,
    **context: Any,
) -> HTMLResponse:
    shown = request.session.pop(_NOTICE, None)
    return templates.TemplateResponse(
        request,
        name,
        {"staff": staff, "csrf_token": csrf_token(request), "notice": shown, **context},
        status_code=status_code,
    )
