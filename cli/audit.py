"""``cellpath audit``: export a pathway's tamper-evident audit trail, verify an export.

Usage::

    cellpath audit export pathway-centre-a-LUP-002 --format csv -o lup-002.csv
    cellpath audit verify lup-002.csv                    # the hash chain, offline
    cellpath audit verify lup-002.csv --head 3f2a…       # and it ends where it ended
    cellpath audit verify lup-002.csv --live             # and it matches the pathway

Each row is one audit entry with its ``pathway_id``, ``prev_hash`` and ``hash``
(models/audit.py), then one per incident of the deviation log (counted apart, not chained).
``verify`` exits 0 when the trail is intact, 1 when it finds a problem
(each one printed), 2 when the file is not an audit export.

Limitations: the chain has no secret; an edit that rewrites every later hash, or entries cut
from the end, show only against an anchor: ``--head`` (the head hash ``export`` prints) or
``--live`` (the pathway's trail: from its workflow, or from the record store once the
closed workflow has expired; the command says which it read). CSV cells that a spreadsheet would run as a
formula get a leading ``'``; ``verify`` removes it again. The formats are ``client.audit``.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.markup import escape

from cli.app import run
from cli.inputs import check_pathway_id
from client.audit import (
    BadExport,
    ExportFormat,
    compare_with_live,
    format_of,
    read_trail,
    render,
    verify_trail,
)
from client.connection import connect
from client.records import Source, open_reader, read_record
from models.audit import head_hash, verify_chain
from models.record import PathwayRecord

audit_app = typer.Typer(
    help="The tamper-evident audit trail: export a pathway's, verify an export.",
    no_args_is_help=True,
)
err_console = Console(stderr=True)

EXIT_NOT_INTACT = 1
EXIT_BAD_FILE = 2


@audit_app.command("export")
def export(
    pathway: Annotated[str, typer.Argument(help="Pathway ID, e.g. pathway-centre-a-LUP-002")],
    fmt: Annotated[ExportFormat, typer.Option("--format", help="jsonl or csv")] = (
        ExportFormat.JSONL
    ),
    output: Annotated[
        Path | None, typer.Option("-o", "--output", help="File to write (default: stdout)")
    ] = None,
) -> None:
    """Export a pathway's audit trail, one entry per line/row, with its hash chain."""
    check_pathway_id(pathway)

    async def go() -> tuple[PathwayRecord, Source]:
        return await read_record(await connect(), pathway, reader=open_reader())

    record, source = run(go())
    text = render(record, fmt)
    if output:
        try:
            output.write_text(text, encoding="utf-8", newline="")
        except OSError as err:
            err_console.print(
                f"[bold red]error:[/] cannot write {escape(str(output))}: {err.strerror}"
            )
            raise typer.Exit(EXIT_BAD_FILE) from None
    else:
        sys.stdout.write(text)
    head = head_hash(record.audit, record.pathway_id)
    problems = verify_chain(record.audit, record.pathway_id)
    if problems:
        err_console.print(
            f"[yellow]warning:[/] the pathway's own trail does not verify "
            f"({len(problems)} problem(s), first: {problems[0]})",
            highlight=False,
        )
    err_console.print(
        f"{len(record.audit)} entries of {record.pathway_id}"
        + (f" and {len(record.incidents)} incident(s)" if record.incidents else "")
        + (f" written to {output}" if output else "")
        + f"; head {head}\n(note the head: `cellpath audit verify FILE --head {head}` "
        f"also detects entries cut from the end)\n({source.said})",
        highlight=False,
    )


@audit_app.command("verify")
def verify(
    file: Annotated[Path, typer.Argument(help="An export (.jsonl or .csv)")],
    head: Annotated[
        str | None, typer.Option("--head", help="The head hash noted at export")
    ] = None,
    live: Annotated[
        bool,
        typer.Option(
            "--live", help="Also compare with the pathway's trail (Temporal, or the store)"
        ),
    ] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Check an export's hash chain: any edited, removed, inserted or reordered entry."""
    try:
        text = file.read_bytes().decode("utf-8")
    except OSError as err:
        err_console.print(f"[bold red]error:[/] cannot read {escape(str(file))}: {err.strerror}")
        raise typer.Exit(EXIT_BAD_FILE) from None
    except UnicodeDecodeError:
        err_console.print(f"[bold red]error:[/] {escape(str(file))} is not UTF-8 text")
        raise typer.Exit(EXIT_BAD_FILE) from None
    try:
        trail = read_trail(text, format_of(file, text))
    except BadExport as err:
        err_console.print(
            f"[bold red]error:[/] {escape(str(file))}: {escape(str(err))}", highlight=False
        )
        raise typer.Exit(EXIT_BAD_FILE) from None
    problems = verify_trail(trail, head=head)
    later = 0
    source = Source.TEMPORAL
    if live:

        async def go() -> tuple[PathwayRecord, Source]:
            return await read_record(await connect(), trail.pathway_id, reader=open_reader())

        against, source = run(go())
        live_problems, later = compare_with_live(trail.entries, against.audit)
        problems += live_problems
    intact = not problems
    last = head_hash(trail.entries, trail.pathway_id)
    if as_json:
        sys.stdout.write(
            json.dumps(
                {
                    "file": str(file),
                    "pathway_id": trail.pathway_id,
                    "entries": len(trail.entries),
                    "head": last,
                    "intact": intact,
                    "problems": [
                        {"position": p.position, "seq": p.seq, "kind": p.kind, "message": p.message}
                        for p in problems
                    ],
                    **({"live_entries_after_file": later, "source": source} if live else {}),
                },
                indent=2,
            )
            + "\n"
        )
    elif intact:
        err_console.print(
            f"[green]intact[/]: {len(trail.entries)} entries of {escape(trail.pathway_id)}; "
            f"head {last}"
            + (" (as expected)" if head else "")
            + (f" — matches the pathway ({source.said})" if live else ""),
            highlight=False,
        )
    else:
        err_console.print(
            f"[bold red]NOT intact[/]: {len(problems)} problem(s) in {escape(str(file))}:",
            highlight=False,
        )
        for p in problems:
            err_console.print(f"  - {escape(str(p))}", highlight=False)
    if live and later and not as_json:
        err_console.print(
            f"note: the pathway has {later} entries after this file's last one: recorded "
            "since the export, or cut from the file's end (check with --head)",
            highlight=False,
        )
    if not intact:
        raise typer.Exit(EXIT_NOT_INTACT)
