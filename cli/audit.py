"""``cellpath audit``: export a pathway's tamper-evident audit trail, verify an export.

Usage::

    cellpath audit export pathway-centre-a-LUP-002 --format csv -o lup-002.csv
    cellpath audit verify lup-002.csv                    # the hash chain, offline
    cellpath audit verify lup-002.csv --head 3f2a…       # and it ends where it ended
    cellpath audit verify lup-002.csv --live             # and it matches the pathway

Each row is one audit entry with its ``pathway_id``, ``prev_hash`` and ``hash``
(models/audit.py). ``verify`` exits 0 when the trail is intact, 1 when it finds a problem
(each one printed), 2 when the file is not an audit export.

Limitations: the chain has no secret; an edit that rewrites every later hash, or entries cut
from the end, show only against an anchor: ``--head`` (the head hash ``export`` prints) or
``--live`` (the pathway's trail in Temporal). CSV cells that a spreadsheet would run as a
formula get a leading ``'``; ``verify`` removes it again.
"""

from __future__ import annotations

import csv
import io
import json
import re
import sys
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any

import typer
from pydantic import ValidationError
from rich.console import Console
from rich.markup import escape

from models.audit import CHAINED_FIELDS, ChainProblem, canonical, head_hash, verify_chain
from models.record import AuditEntry, PathwayRecord

audit_app = typer.Typer(
    help="The tamper-evident audit trail: export a pathway's, verify an export.",
    no_args_is_help=True,
)
err_console = Console(stderr=True)

COLUMNS = ["pathway_id", *CHAINED_FIELDS, "prev_hash", "hash"]
EXIT_NOT_INTACT = 1
EXIT_BAD_FILE = 2

# A cell a spreadsheet would evaluate (=, +, -, @, tab, CR), possibly behind quotes we added.
_FORMULA = re.compile(r"^'*[=+\-@\t\r]")
_GUARDED = re.compile(r"^'+[=+\-@\t\r]")


class ExportFormat(StrEnum):
    JSONL = "jsonl"
    CSV = "csv"


class BadExport(ValueError):
    """The file is not an audit export at all (exit 2)."""


# ----- formats ---------------------------------------------------------------------------
def rows(pathway_id: str, entries: list[AuditEntry]) -> list[dict[str, Any]]:
    return [{"pathway_id": pathway_id, **e.model_dump(mode="json")} for e in entries]


def to_jsonl(pathway_id: str, entries: list[AuditEntry]) -> str:
    return "".join(
        json.dumps(row, ensure_ascii=False, separators=(",", ":")) + "\n"
        for row in rows(pathway_id, entries)
    )


def _guard(cell: str) -> str:
    return "'" + cell if _FORMULA.match(cell) else cell


def _unguard(cell: str) -> str:
    return cell[1:] if _GUARDED.match(cell) else cell


def to_csv(pathway_id: str, entries: list[AuditEntry]) -> str:
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(COLUMNS)
    for row in rows(pathway_id, entries):
        row["data"] = json.dumps(row["data"], sort_keys=True, ensure_ascii=False)
        writer.writerow([_guard("" if row[c] is None else str(row[c])) for c in COLUMNS])
    return out.getvalue()


def render(record: PathwayRecord, fmt: ExportFormat) -> str:
    if fmt is ExportFormat.CSV:
        return to_csv(record.pathway_id, record.audit)
    return to_jsonl(record.pathway_id, record.audit)


@dataclass
class Trail:
    """An export read back: its pathway, its entries, and what could not be read."""

    pathway_id: str
    entries: list[AuditEntry]
    problems: list[ChainProblem] = field(default_factory=list)


def _raw_rows(text: str, fmt: ExportFormat) -> list[tuple[int, dict[str, Any] | str]]:
    """(line, row) pairs; a row that cannot be parsed is its error message instead."""
    found: list[tuple[int, dict[str, Any] | str]] = []
    if fmt is ExportFormat.JSONL:
        # Split on "\n" only: str.splitlines would also split inside a text on U+2028.
        for number, line in enumerate(text.split("\n"), start=1):
            if not line.strip():
                continue
            try:
                parsed = json.loads(line)
            except json.JSONDecodeError as err:
                found.append((number, f"not JSON ({err.msg})"))
                continue
            found.append((number, parsed if isinstance(parsed, dict) else "not a JSON object"))
        return found
    reader = csv.reader(io.StringIO(text, newline=""))
    header = next(reader, None)
    if header is None or [h.strip() for h in header] != COLUMNS:
        raise BadExport(f"not an audit CSV: its header must be {','.join(COLUMNS)}")
    for cells in reader:
        number = reader.line_num
        if not any(cells):
            continue
        if len(cells) != len(COLUMNS):
            found.append((number, f"{len(cells)} cells, expected {len(COLUMNS)}"))
            continue
        row: dict[str, Any] = dict(zip(COLUMNS, (_unguard(c) for c in cells), strict=True))
        try:
            row["data"] = json.loads(row["data"] or "{}")
        except json.JSONDecodeError:
            found.append((number, "its data cell is not JSON"))
            continue
        for name in ("reason", "update_id"):
            row[name] = row[name] or None
        found.append((number, row))
    return found


def read_trail(text: str, fmt: ExportFormat) -> Trail:
    """Parse an export. Unreadable rows become problems; a file with no entry is ``BadExport``."""
    text = text.removeprefix("\ufeff")
    entries: list[AuditEntry] = []
    problems: list[ChainProblem] = []
    pathway_ids: list[str] = []
    for number, row in _raw_rows(text, fmt):
        if isinstance(row, str):
            problems.append(
                ChainProblem(len(entries) + 1, None, "unreadable", f"line {number}: {row}")
            )
            continue
        pathway_ids.append(str(row.pop("pathway_id", "") or ""))
        try:
            entries.append(AuditEntry.model_validate(row))
        except ValidationError as err:
            first = err.errors()[0]
            where = ".".join(str(p) for p in first["loc"]) or "entry"
            problems.append(
                ChainProblem(
                    len(entries) + 1, None, "unreadable", f"line {number}: {where}: {first['msg']}"
                )
            )
    if not entries and not problems:
        raise BadExport("the file holds no audit entry")
    distinct = sorted(set(pathway_ids))
    if not distinct or distinct == [""]:
        raise BadExport("the file does not say which pathway it is from (pathway_id)")
    if len(distinct) > 1:
        problems.append(
            ChainProblem(0, None, "pathway", f"rows of several pathways: {', '.join(distinct)}")
        )
    return Trail(pathway_ids[0], entries, problems)


def format_of(path: Path, text: str) -> ExportFormat:
    if path.suffix.lower() == ".csv":
        return ExportFormat.CSV
    if path.suffix.lower() in (".jsonl", ".json", ".ndjson"):
        return ExportFormat.JSONL
    return ExportFormat.JSONL if text.lstrip("\ufeff \n").startswith("{") else ExportFormat.CSV


def verify_trail(trail: Trail, *, head: str | None = None) -> list[ChainProblem]:
    return trail.problems + verify_chain(trail.entries, trail.pathway_id, head=head)


def compare_with_live(
    entries: list[AuditEntry], live: list[AuditEntry]
) -> tuple[list[ChainProblem], int]:
    """Problems where the file and the pathway's trail differ, and how many entries the
    pathway has beyond the file's end (recorded since the export, or cut from the file)."""
    problems = []
    for position, (mine, theirs) in enumerate(zip(entries, live, strict=False), start=1):
        if mine.hash != theirs.hash or canonical(mine) != canonical(theirs):
            problems.append(
                ChainProblem(
                    position,
                    mine.seq,
                    "live",
                    f"entry #{mine.seq} (position {position}) differs from entry "
                    f"#{theirs.seq} of the pathway's trail in Temporal",
                )
            )
    if len(entries) > len(live):
        problems.append(
            ChainProblem(
                len(live) + 1,
                entries[len(live)].seq,
                "live",
                f"the file has {len(entries) - len(live)} entries that the pathway's trail "
                "in Temporal does not have (inserted?)",
            )
        )
    return problems, max(0, len(live) - len(entries))


# ----- commands --------------------------------------------------------------------------
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
    from cli import operations
    from cli.main import _check_pathway_id, run

    _check_pathway_id(pathway)

    async def go() -> PathwayRecord:
        from worker import connect

        return await operations.record(await connect(), pathway)

    record = run(go())
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
        + (f" written to {output}" if output else "")
        + f"; head {head}\n(note the head: `cellpath audit verify FILE --head {head}` "
        "also detects entries cut from the end)",
        highlight=False,
    )


@audit_app.command("verify")
def verify(
    file: Annotated[Path, typer.Argument(help="An export (.jsonl or .csv)")],
    head: Annotated[
        str | None, typer.Option("--head", help="The head hash noted at export")
    ] = None,
    live: Annotated[
        bool, typer.Option("--live", help="Also compare with the pathway in Temporal")
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
    if live:
        from cli import operations
        from cli.main import run

        async def go() -> PathwayRecord:
            from worker import connect

            return await operations.record(await connect(), trail.pathway_id)

        live_problems, later = compare_with_live(trail.entries, run(go()).audit)
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
                    **({"live_entries_after_file": later} if live else {}),
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
            + (" — matches the pathway in Temporal" if live else ""),
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
