"""The benchmark code keeps working: a tiny run of every scenario (bench/), no timings asserted.

``make bench`` measures; this only checks that each scenario runs end to end against real
dev servers and worker processes, and that the results and the table have their shape.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import pytest

from bench.config import SCENARIOS, Config
from bench.report import markdown, update_docs, write_results
from bench.run import run_bench

pytestmark = pytest.mark.integration

TINY = Config(
    pathways=1,
    clients=2,
    latency={1: 1},
    rest=3,
    rest_concurrency=3,
    rest_quiet_seconds=1,
    rest_pause_seconds=0.2,
    replays=1,
    chart_rounds=1,
    chart_pathways=2,
    chart_rebuilds=1,
)


def positive(value: Any) -> bool:
    return isinstance(value, int | float) and math.isfinite(value) and value > 0


@pytest.fixture(scope="module")
async def results() -> dict[str, Any]:
    return await run_bench(TINY, log=lambda message: None)


class TestEveryScenarioRuns:
    """A tiny run yields every scenario, with both sides measured and a verdict."""

    def test_all_scenarios_and_the_machine(self, results: dict[str, Any]) -> None:
        assert set(results["scenarios"]) == set(SCENARIOS)
        assert results["machine"]["cores"] >= 1
        assert positive(results["seconds"]["total"])

    def test_throughput_compares_equal_work(self, results: dict[str, Any]) -> None:
        t = results["scenarios"]["throughput"]
        for side in ("bare", "cellpath"):
            assert t[side]["pathways"] == TINY.pathways
            assert positive(t[side]["pathways_per_s"])
            assert t[side]["latency"]["count"] == TINY.pathways * t["updates_per_pathway"]
        assert positive(t["ratio"]) and isinstance(t["met"], bool)

    def test_latency_at_each_client_count(self, results: dict[str, Any]) -> None:
        latency = results["scenarios"]["latency"]
        assert set(latency) == {"1", str(TINY.clients)}
        for row in latency.values():
            for side in ("bare", "cellpath"):
                assert row[side]["p50_ms"] <= row[side]["p95_ms"] <= row[side]["p99_ms"]
            assert row["ratio"] and all(positive(r) for r in row["ratio"].values())

    def test_rest_measures_the_worker_and_the_database(self, results: dict[str, Any]) -> None:
        rest = results["scenarios"]["rest"]
        for side in ("bare", "cellpath"):
            assert rest[side]["pathways"] == TINY.rest
            assert positive(rest[side]["rss_before_mb"]) and positive(rest[side]["db_mb"])

    def test_history_has_one_run_per_follow_up_year(self, results: dict[str, Any]) -> None:
        history = results["scenarios"]["history"]
        # 15 follow-up years, each starting a new run, the bare twin with the same runs. On the
        # bench's compressed clock a year recorded while the previous one's record store write
        # runs joins that run (docs/performance.md, "Record store writes"): fewer runs.
        cellpath_runs, bare_runs = history["parity"]["runs"]
        assert cellpath_runs == bare_runs and 2 <= cellpath_runs <= 16
        assert history["parity"]["updates"][0] == history["parity"]["updates"][1]
        assert positive(history["replay_largest_run_ms"]["cellpath"])
        assert history["cellpath"]["events_max"] == max(history["cellpath"]["events_per_run"])
        for side in ("cellpath", "bare"):
            counts = history[side]
            assert counts["events_total"] == sum(counts["events_per_run"])
            assert 0 < counts["bytes_max"] <= counts["bytes_total"]
            # at least a start per run and an Update per staff action
            assert counts["billable_actions"] >= counts["runs"] + counts["updates"]
        for key in ("bytes_total", "events_total", "billable_actions"):
            assert positive(history["ratio"][key])
        assert isinstance(history["bytes_met"], bool) and "3" in history["bytes_target"]
        store = history["store"]
        # a write at the infusion, at each run's end, at the close
        assert store["writes"] >= history["parity"]["runs"][0]
        assert positive(store["write_ms"]) and 0 < store["write_ms_max"] <= store["write_ms"]
        assert store["retry_ms"] >= 0

    def test_chart_cost_and_its_baseline(self, results: dict[str, Any]) -> None:
        chart = results["scenarios"]["chart"]
        for key in ("transition_us", "check_us", "rebuild_us"):
            assert positive(chart[key])
        assert positive(chart["baseline"]["rebuild_us"])

    def test_no_deadline_fell_due_while_driving(self, results: dict[str, Any]) -> None:
        assert results["escalations_while_driving"] == 0


class TestReport:
    """The results are written as JSON and as the markdown table, which docs can embed."""

    def test_files_and_table(self, results: dict[str, Any], tmp_path: Path) -> None:
        table = write_results(results, tmp_path)
        written = json.loads((tmp_path / "results.json").read_text())
        assert written["scenarios"]["throughput"] == results["scenarios"]["throughput"]
        assert (tmp_path / "results.md").read_text() == table == markdown(results)
        rows = [line for line in table.splitlines() if line.startswith("| ")]
        # header, throughput 3, latency 2, rest 3 (RSS, RSS per cached workflow, DB),
        # history 6 (events per run, replay, bytes, events, actions, store time), chart 2
        assert len(rows) == 1 + 3 + 2 + 3 + 6 + 2
        for number in ("1.", "2.", "3.", "4.", "5."):
            assert any(row.startswith(f"| {number}") for row in rows)
        # The bench signs like production (bench/signing.py), and the table says so.
        assert results["signed"] is True
        assert "actions signed, worker verifies" in table

    def test_docs_block_is_replaced(self, results: dict[str, Any], tmp_path: Path) -> None:
        doc = tmp_path / "performance.md"
        doc.write_text("intro\n<!-- bench:results -->\nold\n<!-- /bench:results -->\nend\n")
        update_docs(doc, markdown(results))
        text = doc.read_text()
        assert "old" not in text and text.startswith("intro\n") and text.endswith("end\n")
        assert "| 1. Throughput" in text
