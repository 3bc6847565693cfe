"""Reading a pathway where it is: from its workflow while Temporal keeps it, else from the
record store (the system of record, docs/records.md). Every reader of a pathway (``show``,
``audit export``, ``audit verify --live``, ``diagram``) goes through here and says which
source it read.

Usage::

    reader = open_reader()                           # CELLPATH_DATABASE_URL or .cellpath/
    read = await read_pathway(client, pathway_id, reader=reader)
    read.record, read.status, read.allowed, read.source   # Source.TEMPORAL or Source.STORE
    await trace(reader, "LOT-2026-0042")             # every pathway that touched lot X
    await list_closed(reader, centre="centre-a")

A pathway is read from Temporal first: an open one lives only there (the store has it up
to its last write), and a closed one answers the same from both while the namespace's
retention keeps it. An open pathway that ran lean (its workflow carries only its current run's audit
entries and incidents) is joined with its earlier runs' from the store (``whole_record``,
``Source.BOTH``). Once Temporal says it has no such workflow, the store's closing record
answers (``status`` ``COMPLETED``, nothing allowed); a pathway in neither is
``PathwayNotFound``. Store calls block, so they run in a thread.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import Any

from sqlalchemy.engine import make_url
from sqlalchemy.exc import SQLAlchemyError
from temporalio.client import Client

from client import pathways
from client.errors import OperationError, PathwayNotFound
from models.audit import ChainProblem
from models.encryption import codec_from_settings
from models.incident import Incident
from models.pathway import AllowedActions
from models.preparation import TaskView
from models.record import PathwayRecord
from models.settings import Settings
from states.preparation import task_views
from store import RecordReader, database_url, make_engine, upgrade
from store.facts import ClosedPathway, StoredPathway, TraceHit

__all__ = ["ClosedPathway", "PathwayRead", "Source", "StoredPathway", "TraceHit"]
from store.migrate import current_revision
from store.sealing import Sealer

#: the status a pathway read from the store has: only completed pathways are stored closed
STORED_STATUS = "COMPLETED"


class Source(StrEnum):
    TEMPORAL = "temporal"
    STORE = "store"
    #: an open pathway that ran lean: its workflow, and its earlier runs' entries in the store
    BOTH = "temporal+store"

    @property
    def said(self) -> str:
        return {
            Source.TEMPORAL: "read from its workflow in Temporal",
            Source.STORE: "read from the record store (its workflow has expired from Temporal)",
            Source.BOTH: (
                "read from its workflow in Temporal, with its earlier runs' audit entries and "
                "incidents from the record store"
            ),
        }[self]


@dataclass(frozen=True)
class PathwayRead:
    record: PathwayRecord
    status: str | None
    allowed: list[str]
    source: Source
    #: the preparation tasks (open, due later, done), as the workflow's query gives them
    preparation: list[TaskView] = field(default_factory=list)


def upgrade_store(settings: Settings) -> tuple[str, str | None]:
    """Bring the configured store's schema to this code's migration: (where, revision)."""
    url = database_url(state_dir=settings.state_dir)
    upgrade(url)
    return make_url(url).render_as_string(hide_password=True), current_revision(url)


def open_reader(settings: Settings | None = None) -> RecordReader:
    """The configured record store, read with the configured payload keys."""
    settings = settings or Settings.from_env()
    url = database_url(state_dir=settings.state_dir)
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite" and not Path(parsed.database or "").is_file():
        # No store here yet: read an empty one rather than create a file as a side effect.
        url = "sqlite://"
    return RecordReader(make_engine(url), Sealer(codec_from_settings(settings)))


async def _closing_record(
    reader: RecordReader, pathway_id: str, not_found: PathwayNotFound
) -> PathwayRecord:
    """The store's closing record, or ``not_found`` (saying so when the store is unreadable)."""
    try:
        stored = await _from_store(reader.closing_record, pathway_id)
    except OperationError as err:
        raise PathwayNotFound(f"{not_found.message} {err.message}") from err
    if stored is None:
        raise not_found
    return stored


async def _from_store(call: Any, *args: Any, **kwargs: Any) -> Any:
    try:
        return await asyncio.to_thread(call, *args, **kwargs)
    except SQLAlchemyError as err:
        raise OperationError(
            f"The record store cannot be read ({type(err).__name__}): run `cellpath db "
            "upgrade`, or set CELLPATH_DATABASE_URL (docs/records.md).",
            kind="StoreUnreadable",
        ) from err


async def whole_record(
    record: PathwayRecord, reader: RecordReader | None = None
) -> tuple[PathwayRecord, Source]:
    """An open pathway's record with its whole audit trail and deviation log: the workflow
    carries only its current run's (a lean run, ``record.earlier``), the store holds the
    earlier runs' (written before each continue-as-new). Joined by seq; an entry in both
    is the workflow's. A record that carries everything is returned as it is."""
    if record.earlier is None:
        return record, Source.TEMPORAL
    stored = await stored_pathway(reader or open_reader(), record.pathway_id)
    carried = {e.seq for e in record.audit}
    audit = [e for e in stored.audit if e.seq not in carried] + record.audit
    known = {i.seq for i in record.incidents}
    incidents = [
        Incident.model_validate(i.data) for i in stored.incidents if i.seq not in known
    ] + record.incidents
    whole = record.model_copy(
        update={
            "audit": sorted(audit, key=lambda e: e.seq),
            "incidents": sorted(incidents, key=lambda i: i.seq),
            "earlier": None,
        }
    )
    return whole, Source.BOTH


async def read_pathway(client: Client, pathway_id: str, *, reader: RecordReader) -> PathwayRead:
    """The record, status and events possible now, from Temporal or else the store."""
    found = await asyncio.gather(
        pathways.record(client, pathway_id),
        pathways.status(client, pathway_id),
        pathways.allowed_actions(client, pathway_id, None),
        pathways.preparation(client, pathway_id),
        return_exceptions=True,
    )
    failures = [f for f in found if isinstance(f, BaseException)]
    missing = [f for f in failures if isinstance(f, PathwayNotFound)]
    if missing:
        stored = await _closing_record(reader, pathway_id, missing[0])
        whole = await stored_pathway(reader, pathway_id)
        # What the workflow's preparation query answers, from the protocol version it ran.
        views = task_views(stored, whole.protocol.protocol())
        return PathwayRead(stored, STORED_STATUS, [], Source.STORE, views)
    if failures:
        raise failures[0]
    record, status, allowed, tasks = found
    assert isinstance(record, PathwayRecord) and isinstance(allowed, AllowedActions)
    assert not isinstance(status, BaseException) and isinstance(tasks, list)
    record, source = await whole_record(record, reader)
    return PathwayRead(record, status.name if status else None, allowed.events, source, tasks)


async def read_record(
    client: Client, pathway_id: str, *, reader: RecordReader
) -> tuple[PathwayRecord, Source]:
    """Only the record (an audit export, a diagram), from Temporal or else the store."""
    try:
        live = await pathways.record(client, pathway_id)
    except PathwayNotFound as missing:
        return await _closing_record(reader, pathway_id, missing), Source.STORE
    return await whole_record(live, reader)


async def stored_pathway(reader: RecordReader, pathway_id: str) -> StoredPathway:
    found = await _from_store(reader.pathway, pathway_id)
    if found is None:
        raise PathwayNotFound(f"The record store holds no pathway {pathway_id}.")
    return found


async def stored_problems(reader: RecordReader, pathway_id: str) -> list[ChainProblem]:
    """What is wrong with the stored chain: every entry re-hashed from its columns, and a
    closed pathway's chain ending at the head its outcome recorded."""
    return (await stored_pathway(reader, pathway_id)).verify()


async def trace(reader: RecordReader, identifier: str) -> list[TraceHit]:
    """Every pathway whose product events name a lot, bag or COI, with the dates."""
    found: list[TraceHit] = await _from_store(reader.trace, identifier)
    return found


async def list_closed(reader: RecordReader, *, centre: str | None = None) -> list[ClosedPathway]:
    found: list[ClosedPathway] = await _from_store(reader.list_closed, centre=centre)
    return found
