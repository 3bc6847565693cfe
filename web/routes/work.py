"""*My work*: what is the signed-in person's to do now, overdue first."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response

from web.context import context_of
from web.pages import page
from web.staff_session import StaffSession, current_staff
from web.work_items import my_work

router = APIRouter()


@router.get("/")
async def my_work_page(
    request: Request, staff: Annotated[StaffSession, Depends(current_staff)]
) -> Response:
    work = await my_work(context_of(request).client, staff.roles, staff.centres)
    return page(request, "my_work.html", staff, work=work)
