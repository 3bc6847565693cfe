"""The tamper-evident audit trail, without Temporal: the hash chain, its exports (JSONL, CSV)
and ``cellpath audit verify`` on edited, removed, inserted and reordered entries."""

from __future__ import annotations

import csv
import io
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from cli.audit import audit_app
from client.audit import ExportFormat, read_trail, to_csv, to_jsonl, verify_trail
from models.audit import chain_entry, genesis_hash, head_hash, verify_chain
from models.record import AuditEntry, PathwayRecord
from models.referral import Binome
from models.roles import Role

PATHWAY = "pathway-centre-a-LUP-900"
T0 = datetime(2026, 3, 1, 9, 30, tzinfo=UTC)
TRICKY = [
    None,
    '=HYPERLINK("http://evil.example","click")',
    "'=already quoted",
    "+33 6 12 34 56 78",
    "-2 days late",
    "@SUM(A1)",
    "\tstarts with a tab",
    'said "no", then yes',
    "two\nlines",
    "accents é ü, and a line separator \u2028 here",
    "",
]


def record(n: int = 6, pathway_id: str = PATHWAY) -> PathwayRecord:
    rec = PathwayRecord(
        pathway_id=pathway_id,
        pseudonym="LUP-900",
        centre="centre-a",
        therapy="car-t",  # type: ignore[arg-type]
        disease="systemic lupus erythematosus",
        protocol_id="cart-cd19-lupus",
        binome=Binome(ard_specialist="dr.martin", cell_therapy_specialist="dr.roux"),
        referred_at=T0,
    )
    for i in range(1, n + 1):
        rec.append_audit(
            AuditEntry(
                seq=i,
                at=T0 + timedelta(hours=i, microseconds=i),
                event=f"event_{i}",
                actor="dr.martin" if i % 2 else "n.bernard",
                role="ard_specialist" if i % 2 else "nurse",  # type: ignore[arg-type]
                reason=TRICKY[i % len(TRICKY)],
                update_id=f"upd-{i}",
                from_state=f"s{i - 1}",
                to_state=f"s{i}",
                data={"lvef_percent": 55.5 + i, "stopped": [{"drug": "mycophenolate"}]},
            )
        )
    return rec


def kinds(entries: list[AuditEntry], pathway_id: str = PATHWAY, **kw: Any) -> set[str]:
    return {p.kind for p in verify_chain(entries, pathway_id, **kw)}


class TestChain:
    """Each entry links to the one before; the first to its pathway's genesis."""

    def test_an_intact_trail_verifies(self) -> None:
        entries = record().audit
        assert verify_chain(entries, PATHWAY) == []
        assert entries[0].prev_hash == genesis_hash(PATHWAY)
        assert len(entries) >= 2, "a chain of one link checks no link"
        assert all(b.prev_hash == a.hash for a, b in zip(entries, entries[1:], strict=False))
        assert verify_chain(entries, PATHWAY, head=entries[-1].hash) == []

    def test_hash_covers_content_not_dict_order(self) -> None:
        entry = record(1).audit[0]
        reordered = entry.model_copy(update={"data": dict(reversed(list(entry.data.items())))})
        assert chain_entry(entry.prev_hash, reordered) == entry.hash

    def test_empty_and_missing_text_hash_alike(self) -> None:
        entry = record(1).audit[0].model_copy(update={"reason": None})
        assert chain_entry("x", entry) == chain_entry("x", entry.model_copy(update={"reason": ""}))

    @pytest.mark.parametrize(
        ("field", "value"),
        [
            ("event", "approve_at_mdtm"),
            ("actor", "dr.mallory"),
            ("role", Role.PROGRAMME_LEAD),
            ("reason", "nothing to see"),
            ("at", T0 - timedelta(days=1)),
            ("data", {"lvef_percent": 70}),
            ("from_state", "referred"),
            ("to_state", "infused"),
            ("update_id", "upd-forged"),
        ],
    )
    def test_an_edited_entry_is_detected(self, field: str, value: Any) -> None:
        entries = record().audit
        entries[2] = entries[2].model_copy(update={field: value})
        problems = verify_chain(entries, PATHWAY)
        assert [(p.kind, p.seq) for p in problems] == [("edited", 3)]

    def test_an_edit_with_its_hash_recomputed_breaks_the_next_link(self) -> None:
        entries = record().audit
        forged = entries[2].model_copy(update={"reason": "forged"})
        forged.hash = chain_entry(forged.prev_hash, forged)
        entries[2] = forged
        assert [(p.kind, p.seq) for p in verify_chain(entries, PATHWAY)] == [("link", 4)]

    def test_rewriting_every_later_hash_shows_against_the_head(self) -> None:
        entries = record().audit
        anchor = entries[-1].hash
        entries[2] = entries[2].model_copy(update={"reason": "forged"})
        prev = entries[1].hash
        for i in range(2, len(entries)):
            entries[i] = entries[i].model_copy(update={"prev_hash": prev})
            entries[i].hash = chain_entry(prev, entries[i])
            prev = entries[i].hash
        assert verify_chain(entries, PATHWAY) == []  # the limit of a chain without anchor
        assert kinds(entries, head=anchor) == {"head"}

    @pytest.mark.parametrize("index", [0, 2])
    def test_a_removed_entry_is_detected(self, index: int) -> None:
        entries = record().audit
        removed = entries.pop(index)
        problems = verify_chain(entries, PATHWAY)
        assert {p.kind for p in problems} == {"sequence", "link"}
        assert {p.seq for p in problems} == {removed.seq + 1}
        assert f"#{removed.seq} missing" in problems[0].message

    def test_entries_cut_from_the_end_show_against_the_head(self) -> None:
        entries = record().audit
        anchor = entries[-1].hash
        del entries[-2:]
        assert verify_chain(entries, PATHWAY) == []
        assert kinds(entries, head=anchor) == {"head"}

    def test_an_inserted_entry_is_detected(self) -> None:
        entries = record().audit
        forged = entries[2].model_copy(update={"seq": 4, "event": "infuse", "actor": "x.y"})
        forged.prev_hash = entries[2].hash
        forged.hash = chain_entry(forged.prev_hash, forged)
        entries.insert(3, forged)
        problems = verify_chain(entries, PATHWAY)
        assert {(p.kind, p.position) for p in problems} == {("sequence", 5), ("link", 5)}

    def test_reordered_entries_are_detected(self) -> None:
        entries = record().audit
        entries[2], entries[3] = entries[3], entries[2]
        problems = verify_chain(entries, PATHWAY)
        assert {p.kind for p in problems} == {"sequence", "link"}
        assert {p.position for p in problems} == {3, 4, 5}

    def test_a_trail_from_another_pathway_does_not_verify(self) -> None:
        entries = record(pathway_id="pathway-centre-b-SSC-001").audit
        assert [(p.kind, p.position) for p in verify_chain(entries, PATHWAY)] == [("link", 1)]

    def test_entries_from_before_the_chain_still_load_and_are_reported(self) -> None:
        old = record(2).model_dump(mode="json")
        for entry in old["audit"]:
            del entry["prev_hash"], entry["hash"]
        legacy = PathwayRecord.model_validate(old)
        assert [e.hash for e in legacy.audit] == ["", ""]
        legacy.append_audit(legacy.audit[-1].model_copy(update={"seq": 3}))
        problems = verify_chain(legacy.audit, PATHWAY)
        assert [(p.kind, p.seq) for p in problems] == [("unsealed", 1), ("unsealed", 2)]

    def test_head_of_an_empty_trail_is_the_genesis(self) -> None:
        assert head_hash([], PATHWAY) == genesis_hash(PATHWAY)
        assert genesis_hash(PATHWAY) != genesis_hash("pathway-centre-a-LUP-901")


class TestExportFiles:
    """Exports read back to the same entries, texts of every shape included."""

    @pytest.mark.parametrize("fmt", list(ExportFormat))
    def test_round_trip(self, fmt: ExportFormat) -> None:
        rec = record(len(TRICKY) + 1)
        text = (
            to_csv(PATHWAY, rec.audit) if fmt is ExportFormat.CSV else to_jsonl(PATHWAY, rec.audit)
        )
        trail = read_trail(text, fmt)
        assert trail.pathway_id == PATHWAY
        assert verify_trail(trail) == []
        assert [e.hash for e in trail.entries] == [e.hash for e in rec.audit]

    def test_csv_cells_are_not_formulas(self) -> None:
        text = to_csv(PATHWAY, record(len(TRICKY)).audit)
        reasons = [row[6] for row in csv.reader(io.StringIO(text, newline=""))][1:]
        assert reasons[:6] == [
            '\'=HYPERLINK("http://evil.example","click")',
            "''=already quoted",
            "'+33 6 12 34 56 78",
            "'-2 days late",
            "'@SUM(A1)",
            "'\tstarts with a tab",
        ]


runner = CliRunner()


def export_file(tmp_path: Path, fmt: ExportFormat, n: int = 6) -> tuple[Path, list[str], str]:
    rec = record(n)
    if fmt is ExportFormat.CSV:
        path, text = tmp_path / "trail.csv", to_csv(PATHWAY, rec.audit)
    else:
        path, text = tmp_path / "trail.jsonl", to_jsonl(PATHWAY, rec.audit)
    path.write_text(text, encoding="utf-8", newline="")
    return path, text.splitlines(keepends=True), rec.audit[-1].hash


def verify(*args: str) -> tuple[int, dict[str, Any]]:
    result = runner.invoke(audit_app, ["verify", *args, "--json"])
    return result.exit_code, json.loads(result.stdout) if result.stdout else {}


def first_data_line(fmt: ExportFormat) -> int:
    return 1 if fmt is ExportFormat.CSV else 0  # after the CSV header


@pytest.mark.parametrize("fmt", list(ExportFormat))
class TestVerifyCommand:
    """``cellpath audit verify FILE``: 0 when intact, 1 with each problem, 2 for a file that
    is not an export."""

    def test_intact(self, tmp_path: Path, fmt: ExportFormat) -> None:
        path, _, head = export_file(tmp_path, fmt)
        code, report = verify(str(path), "--head", head)
        assert (code, report["intact"], report["entries"], report["head"]) == (0, True, 6, head)
        result = runner.invoke(audit_app, ["verify", str(path)])
        assert result.exit_code == 0 and "intact" in result.output

    def test_edited(self, tmp_path: Path, fmt: ExportFormat) -> None:
        path, lines, _ = export_file(tmp_path, fmt)
        i = first_data_line(fmt) + 2
        lines[i] = lines[i].replace("dr.martin", "dr.mallory")
        path.write_text("".join(lines), encoding="utf-8", newline="")
        code, report = verify(str(path))
        assert code == 1
        assert [(p["kind"], p["seq"]) for p in report["problems"]] == [("edited", 3)]

    def test_removed(self, tmp_path: Path, fmt: ExportFormat) -> None:
        path, lines, _ = export_file(tmp_path, fmt)
        del lines[first_data_line(fmt) + 1]
        path.write_text("".join(lines), encoding="utf-8", newline="")
        code, report = verify(str(path))
        assert code == 1 and {p["kind"] for p in report["problems"]} == {"sequence", "link"}

    def test_inserted(self, tmp_path: Path, fmt: ExportFormat) -> None:
        path, lines, _ = export_file(tmp_path, fmt)
        i = first_data_line(fmt) + 3
        lines.insert(i, lines[i])
        path.write_text("".join(lines), encoding="utf-8", newline="")
        code, report = verify(str(path))
        assert code == 1 and {p["kind"] for p in report["problems"]} == {"sequence", "link"}

    def test_reordered(self, tmp_path: Path, fmt: ExportFormat) -> None:
        path, lines, _ = export_file(tmp_path, fmt)
        i = first_data_line(fmt) + 1
        lines[i], lines[i + 1] = lines[i + 1], lines[i]
        path.write_text("".join(lines), encoding="utf-8", newline="")
        code, report = verify(str(path))
        assert code == 1 and {p["kind"] for p in report["problems"]} == {"sequence", "link"}

    def test_cut_from_the_end(self, tmp_path: Path, fmt: ExportFormat) -> None:
        path, lines, head = export_file(tmp_path, fmt)
        path.write_text("".join(lines[:-1]), encoding="utf-8", newline="")
        assert verify(str(path))[0] == 0
        code, report = verify(str(path), "--head", head)
        assert code == 1 and [p["kind"] for p in report["problems"]] == ["head"]

    def test_unreadable_row(self, tmp_path: Path, fmt: ExportFormat) -> None:
        path, lines, _ = export_file(tmp_path, fmt)
        lines[first_data_line(fmt) + 1] = "garbage\n"
        path.write_text("".join(lines), encoding="utf-8", newline="")
        code, report = verify(str(path))
        assert code == 1 and "unreadable" in {p["kind"] for p in report["problems"]}


@pytest.mark.parametrize(
    ("name", "content"),
    [("empty.jsonl", ""), ("other.csv", "a,b\n1,2\n"), ("bin.jsonl", "\udcff")],
)
def test_not_an_export_is_exit_2(tmp_path: Path, name: str, content: str) -> None:
    path = tmp_path / name
    path.write_bytes(content.encode("utf-8", "surrogateescape"))
    result = runner.invoke(audit_app, ["verify", str(path)])
    assert result.exit_code == 2


def test_missing_file_is_exit_2(tmp_path: Path) -> None:
    assert runner.invoke(audit_app, ["verify", str(tmp_path / "nope.csv")]).exit_code == 2
