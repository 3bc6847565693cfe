"""The deviation log seen from a client: the incidents of one pathway, or of every pathway
that visibility lists (models/incident.py).

Usage::

    rows = await incidents_of(client, "pathway-centre-a-LUP-002")
    rows = await all_incidents(client)           # every open or closed current run

Each row is one incident as a JSON-ready dict with its ``pathway_id`` (``incident_row``),
the shape of ``cellpath incidents --json`` and of the audit export's incident lines.
Pathways whose worker does not answer are named in ``unreadable`` rather than failing the
whole listing.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from temporalio.client import Client

from client import pathways
from client.records import open_reader, read_record, whole_record
from client.survey import survey
from models.incident import Incident
from store import RecordReader


def incident_row(pathway_id: str, incident: Incident) -> dict[str, Any]:
    """One incident, named field by field so the JSON stays put when the model grows."""
    return {
        "pathway_id": pathway_id,
        "seq": incident.seq,
        "at": pathways.iso(incident.at),
        "kind": incident.kind.value,
        "event": incident.event,
        "actor": incident.actor,
        "role": incident.role.value,
        "rule": incident.rule,
        "message": incident.message,
        "state": incident.state,
        "update_id": incident.update_id,
        "presented": incident.presented,
    }


@dataclass
class IncidentListing:
    """Incidents of the pathways asked, oldest first, and the pathways that did not answer."""

    rows: list[dict[str, Any]]
    pathways: int
    unreadable: dict[str, str] = field(default_factory=dict)


async def incidents_of(
    client: Client, pathway_id: str, *, reader: RecordReader | None = None
) -> list[dict[str, Any]]:
    """The incidents of one pathway (raises the client's refusals, e.g. PathwayNotFound);
    with a record store ``reader``, of a closed pathway whose workflow has expired too."""
    if reader is None:
        record, _ = await whole_record(await pathways.record(client, pathway_id))
    else:
        record, _ = await read_record(client, pathway_id, reader=reader)
    return [incident_row(record.pathway_id, i) for i in record.incidents]


async def all_incidents(client: Client, *, centre: str | None = None) -> IncidentListing:
    """The incidents of every pathway that visibility lists (at ``centre``), by time."""
    listed = await pathways.list_pathways(client, pathways.list_query(centre=centre))
    reader = open_reader()  # earlier runs' incidents of lean pathways (whole_record)
    found = await survey(
        (row["pathway_id"] for row in listed), lambda p: incidents_of(client, p, reader=reader)
    )
    rows = sorted(
        (row for rows in found.answers.values() for row in rows),
        key=lambda r: (r["at"], r["pathway_id"]),
    )
    return IncidentListing(rows=rows, pathways=len(listed), unreadable=found.unanswered)
