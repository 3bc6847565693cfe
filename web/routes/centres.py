"""*Centres*: each centre the person works at, ready or not for each therapy, what is
missing and what expires soon (the centre workflows' readiness)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response

from client.centres import centre_notice, list_centres
from client.errors import OperationError
from web.context import context_of
from web.pages import page
from web.staff_session import StaffSession, current_staff

router = APIRouter()


@router.get("/centres")
async def centres_page(
    request: Request, staff: Annotated[StaffSession, Depends(current_staff)]
) -> Response:
    client = context_of(request).client
    shown: list[dict[str, Any]] = []
    for row in await list_centres(client):
        centre = str(row["centre"])
        if centre not in staff.centres:
            continue
        try:
            notice = await centre_notice(client, centre)
        except OperationError as err:
            shown.append({"centre": centre, "error": err.message, "notice": None})
            continue
        shown.append({"centre": centre, "error": None, "notice": notice})
    return page(request, "centres.html", staff, centres=shown)
