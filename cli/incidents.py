"""``cellpath incidents``: the deviation log, of one pathway or of every pathway.

Usage::

    cellpath incidents pathway-centre-a-LUP-002      # one pathway's incidents
    cellpath incidents --centre centre-b --json      # every pathway at centre-b, as JSON

Each incident is an action refused on a safety rule (identity, fitness, windows, the
centre's prerequisites) or a product deviation (quarantine, temperature excursion,
out-of-specification release, discarded bag): who, when, what was presented, which rule
(models/incident.py). Without a pathway, the pathways come from Temporal visibility and
each one's record from its workflow (a worker must be running).
"""

from __future__ import annotations

import json
from typing import Annotated, Any

import typer
from rich import box
from rich.markup import escape
from rich.table import Table

from cli.app import State, console, err_console, fail, print_json, run
from cli.inputs import check_pathway_id
from client import records
from client.connection import connect
from client.incidents import IncidentListing, all_incidents, incidents_of
from models.contracts import CENTRE_ID

# The presented details shown in the table (all of them are in --json).
PRESENTED_SHOWN = 120


def incidents(
    pathway: Annotated[
        str | None, typer.Argument(metavar="PATHWAY", help="One pathway (default: all).")
    ] = None,
    centre: Annotated[
        str | None, typer.Option(metavar="CENTRE", help="Only pathways at this centre.")
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """The deviation log: actions refused on a safety rule and product deviations."""
    State.as_json = as_json
    if pathway is not None:
        check_pathway_id(pathway)
        if centre is not None:
            raise fail("give a pathway or --centre, not both")
    if centre is not None and not CENTRE_ID.fullmatch(centre):
        raise fail(f"invalid centre {centre!r}: e.g. centre-a")

    async def go() -> IncidentListing:
        client = await connect()
        if pathway is not None:
            rows = await incidents_of(client, pathway, reader=records.open_reader())
            return IncidentListing(rows=rows, pathways=1)
        return await all_incidents(client, centre=centre)

    listing = run(go(), wait="reading the deviation log…", pathway=pathway)
    if as_json:
        print_json(
            {
                "pathway_id": pathway,
                "pathways": listing.pathways,
                "incidents": listing.rows,
                "unreadable": listing.unreadable,
            }
        )
        return
    print_incidents(listing.rows, across=pathway is None)
    for pathway_id, why in listing.unreadable.items():
        err_console.print(
            f"[yellow]warning:[/] {escape(pathway_id)} did not answer: {escape(why)}",
            highlight=False,
        )


def presented_text(presented: dict[str, Any]) -> str:
    text = json.dumps(presented, ensure_ascii=False, sort_keys=True) if presented else ""
    return text if len(text) <= PRESENTED_SHOWN else text[: PRESENTED_SHOWN - 1] + "…"


def print_incidents(rows: list[dict[str, Any]], *, across: bool) -> None:
    table = Table(box=box.SIMPLE_HEAD, pad_edge=False, collapse_padding=True)
    if across:
        table.add_column("pathway", no_wrap=True)
    for column in ("#", "when (UTC)", "who", "action", "rule"):
        table.add_column(column, no_wrap=True)
    table.add_column("what happened / presented", overflow="fold")
    for r in rows:
        cells = [
            str(r["seq"]),
            r["at"][:16].replace("T", " "),
            f"{r['actor']} ({r['role']})",
            f"{r['event']} [dim]{r['kind']}[/]",
            r["rule"],
            escape(r["message"]) + "\n[dim]" + escape(presented_text(r["presented"])) + "[/]",
        ]
        table.add_row(*([r["pathway_id"]] if across else []), *cells)
    console.print(table)
    console.print(f"{len(rows)} incident(s)", highlight=False)
