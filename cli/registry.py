"""``cellpath registry``: the registry forms due across pathways, and one form's export.

Usage::

    cellpath registry due                      # every form due or overdue, by due date
    cellpath registry due --overdue --centre centre-a --json
    cellpath registry export pathway-centre-a-LUP-001 --form day-100   # JSON on stdout

A form is due from its anchor (MDTM decision, D0) until submitted (``cellpath act PATHWAY
submit_registry_form --data '{"form": "day-100", "reference": "EBMT-123"}'``); a late one
escalates like any deadline. The export is read from the pathway's record (a worker answers).
"""

from __future__ import annotations

import json
import sys
from datetime import UTC, datetime
from typing import Annotated, Any

import typer
from rich import box
from rich.table import Table

from cli.app import State, console, fail, print_json, run
from cli.inputs import check_pathway_id
from client import registry
from client.connection import connect
from models.contracts import CENTRE_ID
from models.settings import Settings

registry_app = typer.Typer(
    help="Registry reporting: forms due across pathways, a form's fields as JSON.",
    no_args_is_help=True,
)


@registry_app.command("due")
def due(
    centre: Annotated[str | None, typer.Option(metavar="CENTRE", help="e.g. centre-a")] = None,
    overdue: Annotated[bool, typer.Option("--overdue", help="Only overdue forms.")] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Registry forms due or overdue on the running pathways (of this task queue), soonest
    first."""
    State.as_json = as_json
    if centre is not None and not CENTRE_ID.fullmatch(centre):
        raise fail(f"invalid centre {centre!r}: e.g. centre-a")

    task_queue = Settings.from_env().task_queue

    async def go() -> dict[str, Any]:
        client = await connect()
        return await registry.forms_due(client, task_queue, centre=centre, overdue_only=overdue)

    found = run(go(), wait="asking the pathways…")
    if as_json:
        print_json(found)
        return
    print_due(found)


def print_due(found: dict[str, Any]) -> None:
    rows = found["forms"]
    if not rows:
        console.print("no registry form due")
    else:
        now = datetime.now(UTC)
        table = Table(box=box.SIMPLE_HEAD, pad_edge=False, collapse_padding=True)
        for column in ("pathway", "form", "due (UTC)", "status"):
            table.add_column(column, overflow="fold")
        for r in rows:
            due_at = datetime.fromisoformat(r["due_at"].replace("Z", "+00:00"))
            late = r["status"] == "overdue" or due_at < now
            status = f"[red]overdue (level {r['escalation_level']})[/]" if late else "due"
            table.add_row(
                r["pathway_id"],
                f"{r['registry']} {r['label']} ({r['form']})",
                r["due_at"][:16].replace("T", " "),
                status,
            )
        console.print(table)
    if found["unanswered"]:
        console.print(f"[yellow]no answer from:[/] {', '.join(found['unanswered'])}")


@registry_app.command("export")
def export(
    pathway: Annotated[str, typer.Argument(metavar="PATHWAY")],
    form: Annotated[str, typer.Option("--form", metavar="FORM", help="e.g. day-100")],
) -> None:
    """One registry form's fields from the pathway's record, as JSON on stdout."""
    State.as_json = True
    check_pathway_id(pathway)

    async def go() -> dict[str, Any]:
        return await registry.export(await connect(), pathway, form)

    doc = run(go(), wait=f"asking {pathway}…", pathway=pathway)
    sys.stdout.write(json.dumps(doc, indent=2, ensure_ascii=False) + "\n")
