"""The record store's commands: ``trace`` (who received lot X), ``list --closed`` (its
renderer) and ``db upgrade``; each parses, calls ``client.records`` or ``store``, renders.

Usage::

    cellpath db upgrade                     # Alembic migrations, on CELLPATH_DATABASE_URL
    cellpath trace LOT-2026-0042 --json     # every pathway that touched it, with the dates
    cellpath list --closed --centre centre-a

They read the store only (no Temporal, no worker): the store keeps what Temporal's retention
deletes (docs/records.md).
"""

from __future__ import annotations

from typing import Annotated, Any

import typer
from rich import box
from rich.table import Table

from cli.app import State, console, err_console, print_json, run
from client import records
from client.pathways import iso
from models.settings import Settings

db_app = typer.Typer(help="The record store: bring its schema up to date.", no_args_is_help=True)


@db_app.command("upgrade")
def upgrade() -> None:
    """Apply the record store's migrations (idempotent; the dev stack does it on start)."""
    where, revision = records.upgrade_store(Settings.from_env())
    err_console.print(f"record store {where} at migration {revision}", highlight=False)


def trace(
    identifier: Annotated[str, typer.Argument(metavar="LOT|BAG|COI")],
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Every pathway whose product a lot, bag or COI names, with the dates (recall, look-back)."""
    State.as_json = as_json

    async def go() -> list[records.TraceHit]:
        return await records.trace(records.open_reader(), identifier)

    hits = run(go(), timeout=False)
    doc: dict[str, Any] = {
        "identifier": identifier,
        "pathways": [
            {
                "pathway_id": h.pathway_id,
                "pseudonym": h.pseudonym,
                "centre": h.centre,
                "therapy": h.therapy.value,
                "first_at": iso(h.first_at),
                "last_at": iso(h.last_at),
                "events": [
                    {
                        "kind": e.kind.value,
                        "at": iso(e.at),
                        "coi_id": e.coi_id,
                        "bag_id": e.bag_id,
                        "lot": e.lot,
                    }
                    for e in h.events
                ],
            }
            for h in hits
        ],
    }
    if as_json:
        print_json(doc)
        return
    table = Table(box=box.SIMPLE_HEAD, pad_edge=False, collapse_padding=True)
    for column in ("pathway", "centre", "therapy", "first (UTC)", "last (UTC)"):
        table.add_column(column, no_wrap=True)
    table.add_column("steps", overflow="fold")
    for h in doc["pathways"]:
        table.add_row(
            h["pathway_id"],
            h["centre"],
            h["therapy"],
            h["first_at"][:16].replace("T", " "),
            h["last_at"][:16].replace("T", " "),
            ", ".join(e["kind"] for e in h["events"]),
        )
    console.print(table)
    console.print(
        f"{len(hits)} pathway(s) touched {identifier} (from the record store)", highlight=False
    )


def list_closed(centre: str | None, *, as_json: bool) -> None:
    """``cellpath list --closed``: the pathways that closed, most recent first."""

    async def go() -> list[records.ClosedPathway]:
        return await records.list_closed(records.open_reader(), centre=centre)

    rows = [
        {
            "pathway_id": c.pathway_id,
            "pseudonym": c.pseudonym,
            "centre": c.centre,
            "therapy": c.therapy.value,
            "outcome": c.outcome,
            "closed_at": iso(c.closed_at),
        }
        for c in run(go(), timeout=False)
    ]
    if as_json:
        print_json({"source": records.Source.STORE.value, "pathways": rows})
        return
    table = Table(box=box.SIMPLE_HEAD, pad_edge=False, collapse_padding=True)
    for column in ("pathway", "therapy", "outcome", "closed (UTC)"):
        table.add_column(column, no_wrap=True)
    for r in rows:
        closed_at = r["closed_at"] or ""
        table.add_row(r["pathway_id"], r["therapy"], r["outcome"], closed_at[:16].replace("T", " "))
    console.print(table)
    console.print(f"{len(rows)} closed pathway(s) (from the record store)", highlight=False)
