"""The history-bytes breakdown (bench/history_bytes.py) accounts for every byte, by event
type and by payload, on committed histories."""

from __future__ import annotations

from pathlib import Path

from temporalio.client import WorkflowHistory

from bench.history_bytes import breakdown_table, grouped, history_bytes, main

HISTORIES = Path(__file__).resolve().parents[1] / "histories"


def runs(name: str) -> list[WorkflowHistory]:
    return [
        WorkflowHistory.from_json(p.stem, p.read_text(encoding="utf-8"))
        for p in sorted(HISTORIES.glob(f"{name}-run*.json"))
    ]


def test_every_byte_is_counted_once_by_event_and_by_payload() -> None:
    histories = runs("lean-cart-v1")
    breakdown = history_bytes(histories)
    total = sum(sum(e.ByteSize() for e in h.events) for h in histories)
    assert breakdown["bytes_total"] == total == sum(breakdown["bytes_per_run"])
    assert sum(breakdown["by_event"].values()) == total
    assert sum(breakdown["by_payload"].values()) == total
    assert sum(grouped(breakdown["by_payload"]).values()) == total
    assert breakdown["by_payload"]["activity result: fetch_protocol_version"] > 0
    assert any(k.startswith("update request: ") for k in breakdown["by_payload"])


def test_lean2_runs_fetch_no_protocol() -> None:
    lean2 = history_bytes(runs("lean2-cart-v1"))
    assert not any("fetch_protocol_version" in k for k in lean2["by_payload"])
    table = breakdown_table(lean2, history_bytes(runs("lean-cart-v1")))
    assert "| payload | KB | share | bare KB |" in table


def test_the_command_reads_files() -> None:
    assert main([str(p) for p in sorted(HISTORIES.glob("lean2-cart-v1-run0*.json"))]) == 0
