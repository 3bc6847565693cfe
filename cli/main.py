"""The ``cellpath`` command: operations staff start, advance and watch pathways.

Exit codes: 0 done; 2 bad usage or input; 3 action refused; 4 no such pathway;
5 Temporal unreachable. ``--debug`` shows tracebacks.
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
from collections.abc import Coroutine
from pathlib import Path
from typing import Annotated, Any, TypeVar

import typer
import yaml
from pydantic import ValidationError
from rich.console import Console
from rich.table import Table

from cli import operations
from cli.devstack import DevStackError
from cli.logs import configure_logging
from models.protocol import ProtocolFileError
from models.referral import Referral
from models.roles import Role
from models.settings import Settings
from models.validation import readable

app = typer.Typer(
    help="cellpath: durable care pathways for cell therapy in autoimmune disease.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
console = Console()
err_console = Console(stderr=True)
T = TypeVar("T")

EXIT_UNREACHABLE = 5


class State:
    debug = False


@app.callback()
def main(debug: Annotated[bool, typer.Option(help="Show tracebacks.")] = False) -> None:
    State.debug = debug


def fail(message: str, code: int) -> typer.Exit:
    err_console.print(f"[bold red]error:[/] {message}", highlight=False)
    return typer.Exit(code)


def run(coro: Coroutine[Any, Any, T]) -> T:
    """Run a coroutine, turning known failures into one line and an exit code."""
    from worker import TemporalUnreachable

    try:
        return asyncio.run(coro)
    except operations.OperationError as err:
        if State.debug:
            raise
        raise fail(err.message, err.code) from None
    except TemporalUnreachable as err:
        if State.debug:
            raise
        raise fail(str(err), EXIT_UNREACHABLE) from None
    except DevStackError as err:
        if State.debug:
            raise
        raise fail(str(err), 1) from None
    except (ProtocolFileError, ValueError) as err:
        if State.debug:
            raise
        raise fail(str(err), 2) from None


async def _client() -> Any:
    from worker import connect

    return await connect()


def _read_data(value: str | None) -> dict[str, Any]:
    if not value:
        return {}
    try:
        text = Path(value[1:]).read_text(encoding="utf-8") if value.startswith("@") else value
    except OSError as err:
        raise operations.BadInput(f"cannot read {value[1:]}: {err.strerror}") from None
    try:
        data = yaml.safe_load(text) if text.strip() else {}
    except yaml.YAMLError as err:
        raise operations.BadInput(f"--data is not valid JSON or YAML: {err}") from None
    if not isinstance(data, dict):
        raise operations.BadInput('--data must be a JSON object, e.g. \'{"visit": "M3"}\'')
    return data


def _print_json(data: Any) -> None:
    sys.stdout.write(json.dumps(data, indent=2, default=str) + "\n")


@app.command()
def worker() -> None:
    """Run a worker against the configured Temporal (TEMPORAL_ADDRESS, profiles…)."""
    from worker import run_worker

    settings = Settings.from_env()
    configure_logging(settings.log_format)
    console.print(f"worker on task queue [bold]{settings.task_queue}[/]; Ctrl-C to stop")
    try:
        run(run_worker(settings))
    except KeyboardInterrupt:
        pass


@app.command()
def dev(
    demo: Annotated[bool, typer.Option(help="Seed the demo programme.")] = False,
) -> None:
    """Start the embedded dev stack: Temporal server (SQLite), Web UI, worker[, demo]."""
    from cli.stack import run_dev_stack

    settings = Settings.from_env()
    configure_logging(settings.log_format)
    try:
        run(run_dev_stack(settings, demo=demo, console=console))
    except KeyboardInterrupt:
        console.print("stopped.")


@app.command()
def refer(
    file: Annotated[str, typer.Argument(help="Referral file (JSON or YAML), or - for stdin.")],
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Start a pathway from a referral; prints the pathway ID."""
    text = sys.stdin.read() if file == "-" else _read_file(file)
    try:
        referral = Referral.model_validate(yaml.safe_load(text))
    except (yaml.YAMLError, ValidationError) as err:
        raise fail(f"the referral is not valid: {_short(err)}", 2) from None
    settings = Settings.from_env()

    async def go() -> str:
        client = await _client()
        handle = await operations.refer(client, referral, task_queue=settings.task_queue)
        return handle.id

    pathway_id = run(go())
    if as_json:
        _print_json({"pathway_id": pathway_id, "state": "referred"})
    else:
        console.print(pathway_id)


def _read_file(path: str) -> str:
    try:
        return Path(path).read_text(encoding="utf-8")
    except OSError as err:
        raise fail(f"cannot read {path}: {err.strerror}", 2) from None


def _short(err: Exception) -> str:
    if isinstance(err, ValidationError):
        return readable(err)
    return str(err).splitlines()[0]


@app.command()
def act(
    pathway: Annotated[str, typer.Argument(help="Pathway ID, e.g. pathway-centre-a-LUP-001")],
    event: Annotated[str | None, typer.Argument(help="Action, e.g. approve_at_mdtm")] = None,
    by: Annotated[str | None, typer.Option("--by", envvar="CELLPATH_USER")] = None,
    role: Annotated[Role | None, typer.Option("--role", envvar="CELLPATH_ROLE")] = None,
    data: Annotated[str | None, typer.Option(help="JSON/YAML object or @FILE")] = None,
    reason: Annotated[str | None, typer.Option()] = None,
    help_events: Annotated[
        bool, typer.Option("--help-events", help="List what ROLE may do now.")
    ] = False,
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """Send a staff action to a pathway."""
    if help_events:
        allowed = run(_allowed(pathway, role))
        if as_json:
            _print_json(allowed.model_dump(mode="json"))
        else:
            who = role.label if role else "anyone"
            console.print(
                f"At [bold]{allowed.state}[/], {who} may: {', '.join(allowed.events) or 'nothing'}"
            )
        return
    if event is None:
        raise fail("give an EVENT (or --help-events to list what is possible now)", 2)
    if not by or role is None:
        raise fail("say who acts: --by USER --role ROLE (or CELLPATH_USER / CELLPATH_ROLE)", 2)
    try:
        payload = {**_read_data(data), "actor": by, "role": role.value}
    except operations.OperationError as err:
        raise fail(err.message, err.code) from None
    if reason:
        payload["reason"] = reason

    async def go() -> Any:
        client = await _client()
        return await operations.act(client, pathway, event, payload)

    receipt = run(go())
    if as_json:
        _print_json(receipt.model_dump(mode="json"))
    else:
        console.print(
            f"[green]done[/]: {event} — {receipt.from_state} → [bold]{receipt.state}[/]"
            f" (next: {', '.join(receipt.allowed_next) or 'nothing, the pathway has ended'})"
        )


async def _allowed(pathway: str, role: Role | None) -> Any:
    client = await _client()
    return await operations.allowed_actions(client, pathway, role)


@app.command()
def show(
    pathway: Annotated[str, typer.Argument()],
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """A pathway: state, binôme, key dates, open deadlines, last actions."""

    async def go() -> Any:
        client = await _client()
        record = await operations.record(client, pathway)
        deadlines = await operations.deadlines(client, pathway)
        allowed = await operations.allowed_actions(client, pathway, None)
        return record, deadlines, allowed

    record, deadlines, allowed = run(go())
    if as_json:
        _print_json(
            {
                "pathway_id": record.pathway_id,
                "state": record.state,
                "therapy": record.therapy.value,
                "centre": record.centre,
                "disease": record.disease,
                "binome": record.binome.model_dump(),
                "outcome": record.outcome,
                "deadlines": [d.model_dump(mode="json") for d in deadlines],
                "allowed": allowed.events,
                "audit": [e.model_dump(mode="json") for e in record.audit[-10:]],
            }
        )
        return
    from models.durations import humanize

    console.print(
        f"[bold]{record.pathway_id}[/]  {record.therapy.value} · {record.disease} · {record.centre}"
    )
    console.print(
        f"state: [bold]{record.state}[/]"
        + (f"  outcome: {record.outcome}" if record.outcome else "")
    )
    console.print(
        f"binôme: {record.binome.ard_specialist} (ARD) + {record.binome.cell_therapy_specialist} (cell therapy)"
    )
    table = Table("deadline", "due (UTC)", "left", "level", "waiting on", title="open deadlines")
    for d in deadlines:
        from datetime import timedelta

        left = humanize(timedelta(seconds=d.seconds_left))
        style = "red" if d.status == "overdue" else ""
        table.add_row(
            d.label,
            f"{d.due_at:%Y-%m-%d %H:%M}",
            left,
            str(d.level),
            d.waiting_on.label,
            style=style,
        )
    console.print(table)
    audit = Table("#", "when (UTC)", "action", "by", "role", "→ state", title="last actions")
    for e in record.audit[-8:]:
        audit.add_row(
            str(e.seq), f"{e.at:%Y-%m-%d %H:%M:%S}", e.event, e.actor, e.role.label, e.to_state
        )
    console.print(audit)
    console.print(f"possible now: {', '.join(allowed.events) or 'nothing'}")


@app.command("list")
def list_pathways(
    state: Annotated[str | None, typer.Option()] = None,
    therapy: Annotated[str | None, typer.Option()] = None,
    centre: Annotated[str | None, typer.Option()] = None,
    overdue: Annotated[bool, typer.Option("--overdue")] = False,
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """Pathways from Temporal visibility (search attributes)."""
    # A pathway in long follow-up has one closed run per year: list only its current run.
    clauses = ['WorkflowType = "PathwayWorkflow"', 'ExecutionStatus != "ContinuedAsNew"']
    for name, value in (("PathwayState", state), ("Therapy", therapy), ("Centre", centre)):
        if value:
            if '"' in value:
                raise fail(f"invalid {name} filter", 2)
            clauses.append(f'{name} = "{value}"')
    if overdue:
        clauses.append("Overdue = true")
    query = " AND ".join(clauses)

    async def go() -> list[dict[str, Any]]:
        client = await _client()
        rows = []
        async for wf in client.list_workflows(query):
            sa = wf.typed_search_attributes
            from workflows import search as s

            rows.append(
                {
                    "pathway_id": wf.id,
                    "status": wf.status.name if wf.status else None,
                    "state": sa.get(s.PATHWAY_STATE),
                    "therapy": sa.get(s.THERAPY),
                    "centre": sa.get(s.CENTRE),
                    "disease": sa.get(s.DISEASE),
                    "next_deadline": sa.get(s.NEXT_DEADLINE),
                    "escalation_level": sa.get(s.ESCALATION_LEVEL),
                    "overdue": sa.get(s.OVERDUE),
                }
            )
        return sorted(rows, key=lambda r: r["pathway_id"])

    rows = run(go())
    if as_json:
        _print_json({"query": query, "pathways": rows})
        return
    table = Table(
        "pathway", "state", "therapy", "centre", "next deadline (UTC)", "level", "overdue"
    )
    for r in rows:
        nd = r["next_deadline"]
        table.add_row(
            r["pathway_id"],
            r["state"] or "",
            r["therapy"] or "",
            r["centre"] or "",
            f"{nd:%Y-%m-%d %H:%M}" if nd else "",
            str(r["escalation_level"] or 0),
            "[red]yes[/]" if r["overdue"] else "",
        )
    console.print(table)
    console.print(f"{len(rows)} pathway(s)")


@app.command()
def diagram(
    chart: Annotated[
        str, typer.Argument(help="cart, msc, or a pathway ID (current state highlighted)")
    ],
    fmt: Annotated[str, typer.Option("--format", help="mermaid, svg or png")] = "mermaid",
    output: Annotated[Path | None, typer.Option("-o", "--output")] = None,
) -> None:
    """Draw a pathway chart from the code itself."""
    from cli.diagram import DiagramToolMissing, render

    active = None
    name = chart
    if chart.startswith("pathway-"):

        async def go() -> Any:
            client = await _client()
            return await operations.record(client, chart)

        record = run(go())
        name, active = record.therapy.value, record.configuration
    if fmt not in ("mermaid", "svg", "png"):
        raise fail("--format must be mermaid, svg or png", 2)
    try:
        out = render(name, fmt, active=active)
    except DiagramToolMissing as err:
        raise fail(str(err), 1) from None
    except ValueError as err:
        raise fail(str(err), 2) from None
    if output:
        output.write_bytes(out if isinstance(out, bytes) else out.encode())
        console.print(f"wrote {output}")
    elif isinstance(out, bytes):
        raise fail(f"{fmt} is binary: give -o FILE", 2)
    else:
        sys.stdout.write(out if out.endswith("\n") else out + "\n")


@app.command()
def docs(check: Annotated[bool, typer.Option(help="Only report stale files.")] = False) -> None:
    """Regenerate docs/pathways.md and the diagrams from the charts."""
    from cli.docs import stale_docs, write_docs

    root = Path(os.environ.get("CELLPATH_ROOT", Path(__file__).resolve().parent.parent))
    if check:
        stale = stale_docs(root)
        for path in stale:
            err_console.print(f"stale: {path}")
        raise typer.Exit(1 if stale else 0)
    for path in write_docs(root):
        console.print(f"wrote {path}")


if __name__ == "__main__":
    app()
