"""*Incidents*: what went wrong on the pathways at the person's centres, as far as the
records hold it: incidents (when the record has its incident log), adverse events and
centre alerts; an honest empty page otherwise."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response

from client import pathways
from client.records import open_reader, whole_record
from client.survey import survey
from models.record import PathwayRecord
from web.context import context_of
from web.pages import page
from web.pathway_view import incidents_of
from web.staff_session import StaffSession, current_staff
from web.work_items import centre_query

router = APIRouter()


@router.get("/incidents")
async def incidents_page(
    request: Request, staff: Annotated[StaffSession, Depends(current_staff)]
) -> Response:
    client = context_of(request).client
    listed = await pathways.list_pathways(client, centre_query(staff.centres))
    reader = open_reader()  # lean pathways' earlier runs are in the record store

    async def whole(pid: str) -> PathwayRecord:
        record, _ = await whole_record(await pathways.record(client, pid), reader)
        return record

    found = await survey((str(row["pathway_id"]) for row in listed), whole)
    rows: list[dict[str, Any]] = []
    for pid, record in found.answers.items():
        for incident in incidents_of(record):
            fields = {"at": incident["at"].isoformat() if incident["at"] else None,
                      "who": incident["who"], "what": incident["what"]}  # fmt: skip
            rows.append({"pathway_id": pid, "kind": "incident", "fields": fields})
        for event in record.adverse_events:
            rows.append(
                {"pathway_id": pid, "kind": "adverse event",
                 "fields": event.model_dump(mode="json", exclude={"reports"})}
            )  # fmt: skip
        for alert in record.centre_alerts:
            if alert.open:
                rows.append(
                    {"pathway_id": pid, "kind": "centre alert",
                     "fields": {"label": alert.label, "reason": alert.reason,
                                "raised_at": alert.raised_at.isoformat()}}
                )  # fmt: skip
    unanswered = sorted(found.unanswered)
    return page(request, "incidents.html", staff, rows=rows, unanswered=unanswered)
