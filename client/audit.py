"""Audit-trail exports: a pathway's tamper-evident trail as JSON lines or CSV, read back and
checked against its hash chain (and, optionally, against the pathway's trail in Temporal).

Usage::

    text = render(record, ExportFormat.CSV)
    trail = read_trail(text, format_of(path, text))
    problems = verify_trail(trail, head="3f2a…")

Each row is one audit entry with its ``pathway_id``, ``prev_hash`` and ``hash``
(models/audit.py); after them come the pathway's incidents (the deviation log,
models/incident.py): in JSON lines one ``{"pathway_id": …, "incident": {…}}`` line each, in
CSV one row each whose ``seq`` is ``I<n>`` (``reason`` holds the rule, ``data`` the message
and what was presented). Incidents are not links of the hash chain: ``read_trail`` counts
them apart. CSV cells that a spreadsheet would run as a formula get a leading ``'``;
``read_trail`` removes it again.
"""

from __future__ import annotations

import csv
import io
import json
import re
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from client.incidents import incident_row
from models.audit import CHAINED_FIELDS, SIGNATURE_FIELDS, ChainProblem, canonical, verify_chain
from models.incident import Incident
from models.record import AuditEntry, PathwayRecord

#: the columns of a CSV export: chain version 2's signature fields after the hashes (an
#: export written before them, ``V1_COLUMNS``, still reads: its entries are version 1)
V1_COLUMNS = ["pathway_id", *CHAINED_FIELDS, "prev_hash", "hash"]
COLUMNS = [*V1_COLUMNS, *SIGNATURE_FIELDS]

# A cell a spreadsheet would evaluate (=, +, -, @, tab, CR), possibly behind quotes we added.
_FORMULA = re.compile(r"^'*[=+\-@\t\r]")
_GUARDED = re.compile(r"^'+[=+\-@\t\r]")


class ExportFormat(StrEnum):
    JSONL = "jsonl"
    CSV = "csv"


class BadExport(ValueError):
    """The file is not an audit export at all."""


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


# The ``seq`` of an incident's CSV row: "I" and its number in the deviation log.
INCIDENT_SEQ = re.compile(r"^I\d+$")


def incident_lines(pathway_id: str, incidents: list[Incident]) -> str:
    lines = []
    for incident in incidents:
        row = incident_row(pathway_id, incident)
        del row["pathway_id"]
        lines.append({"pathway_id": pathway_id, "incident": row})
    return "".join(
        json.dumps(line, ensure_ascii=False, separators=(",", ":")) + "\n" for line in lines
    )


def incident_csv_rows(pathway_id: str, incidents: list[Incident]) -> list[list[str]]:
    rows = []
    for incident in incidents:
        row = incident_row(pathway_id, incident)
        cells = {
            "pathway_id": pathway_id,
            "seq": f"I{incident.seq}",
            "at": row["at"],
            "event": incident.event,
            "actor": incident.actor,
            "role": incident.role.value,
            "reason": incident.rule,
            "update_id": incident.update_id or "",
            "from_state": incident.state,
            "to_state": incident.state,
            "data": json.dumps(
                {k: row[k] for k in ("kind", "message", "presented")},
                sort_keys=True,
                ensure_ascii=False,
            ),
            "prev_hash": "",
            "hash": "",
        }
        rows.append([_guard(cells.get(c, "")) for c in COLUMNS])
    return rows


def render(record: PathwayRecord, fmt: ExportFormat) -> str:
    """The trail, then the deviation log."""
    if fmt is ExportFormat.CSV:
        text = to_csv(record.pathway_id, record.audit)
        out = io.StringIO()
        csv.writer(out).writerows(incident_csv_rows(record.pathway_id, record.incidents))
        return text + out.getvalue()
    return to_jsonl(record.pathway_id, record.audit) + incident_lines(
        record.pathway_id, record.incidents
    )


@dataclass
class Trail:
    """An export read back: its pathway, its entries, and what could not be read."""

    pathway_id: str
    entries: list[AuditEntry]
    problems: list[ChainProblem] = field(default_factory=list)
    #: incident rows (the deviation log), not links of the chain
    incidents: int = 0


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
    columns = [h.strip() for h in header] if header is not None else []
    if columns not in (COLUMNS, V1_COLUMNS):
        raise BadExport(f"not an audit CSV: its header must be {','.join(COLUMNS)}")
    for cells in reader:
        number = reader.line_num
        if not any(cells):
            continue
        if len(cells) != len(columns):
            found.append((number, f"{len(cells)} cells, expected {len(columns)}"))
            continue
        row: dict[str, Any] = dict(zip(columns, (_unguard(c) for c in cells), strict=True))
        try:
            row["data"] = json.loads(row["data"] or "{}")
        except json.JSONDecodeError:
            found.append((number, "its data cell is not JSON"))
            continue
        for name in ("reason", "update_id", *SIGNATURE_FIELDS):
            if name in row:
                row[name] = row[name] or None
        if row.get("chain") is None:
            row.pop("chain", None)  # written before chain versions: version 1
        found.append((number, row))
    return found


def read_trail(text: str, fmt: ExportFormat) -> Trail:
    """Parse an export. Unreadable rows become problems; a file with no entry is ``BadExport``."""
    text = text.removeprefix("\ufeff")
    entries: list[AuditEntry] = []
    problems: list[ChainProblem] = []
    pathway_ids: list[str] = []
    incidents = 0
    for number, row in _raw_rows(text, fmt):
        if not isinstance(row, str) and (
            "incident" in row or INCIDENT_SEQ.match(str(row.get("seq", "")))
        ):
            incidents += 1
            pathway_ids.append(str(row.get("pathway_id", "") or ""))
            continue
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
    if not entries and not problems and not incidents:
        raise BadExport("the file holds no audit entry")
    distinct = sorted(set(pathway_ids))
    if not distinct or distinct == [""]:
        raise BadExport("the file does not say which pathway it is from (pathway_id)")
    if len(distinct) > 1:
        problems.append(
            ChainProblem(0, None, "pathway", f"rows of several pathways: {', '.join(distinct)}")
        )
    return Trail(pathway_ids[0], entries, problems, incidents)


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
