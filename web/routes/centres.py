"""*Centres*: each centre the person works at, ready or not for each therapy, what is
missing and what expires soon (the centre workflows' readiness), and its whole trail of
alerts and evidence: earlier runs from the record store, the current run from the workflow
(client/centre_trail.py), saying which."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response

from client.centre_trail import centre_trail
from client.centres import centre_view, list_centres
from client.errors import OperationError
from web.context import context_of
from web.pages import page
from web.staff_session import StaffSession, current_staff

router = APIRouter()


@router.get("/centres")
async def centres_page(
    request: Request, staff: Annotated[StaffSession, Depends(current_staff)]
) -> Response:
    context = context_of(request)
    shown: list[dict[str, Any]] = []
    for row in await list_centres(context.client):
        centre = str(row["centre"])
        if centre not in staff.centres:
            continue
        try:
            view = await centre_view(context.client, centre)
        except OperationError as err:
            shown.append({"centre": centre, "error": err.message, "notice": None})
            continue
        trail = await centre_trail(view, reader=context.records)
        shown.append(
            {
                "centre": centre,
                "error": None,
                "notice": view.notice,
                "policy": view.policy,
                "trail": trail,
            }
        )
    return page(request, "centres.html", staff, centres=shown)
