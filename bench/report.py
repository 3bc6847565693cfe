"""The bench report: the machine it ran on, the results table, and where results are written.

Usage::

    table = write_results(results, Path("bench"))    # results.json and results.md
    update_docs(Path("docs/performance.md"), table)  # the block between the bench markers
"""

from __future__ import annotations

import importlib.metadata
import json
import os
import platform
import re
import subprocess
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bench.comparison import ratio
from bench.config import (
    CHART_US_MAX,
    EVENTS_PER_RUN_MAX,
    HISTORY_BYTES_RATIO_MAX,
    LATENCY_RATIO_MAX,
    RSS_GROWTH_MAX_MB,
    THROUGHPUT_RATIO_MIN,
    BenchError,
)
from bench.history_bytes import breakdown_table
from devtools.devserver import temporal_binary


def _version(dist: str) -> str:
    try:
        return importlib.metadata.version(dist)
    except importlib.metadata.PackageNotFoundError:
        return "?"


def machine() -> dict[str, Any]:
    cpu = "?"
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.exists():
        found = re.search(r"^model name\s*:\s*(.+)$", cpuinfo.read_text(), re.MULTILINE)
        cpu = found.group(1).strip() if found else cpu
    memory = 0
    meminfo = Path("/proc/meminfo")
    if meminfo.exists():
        found = re.search(r"^MemTotal:\s*(\d+) kB", meminfo.read_text(), re.MULTILINE)
        memory = int(found.group(1)) * 1024 if found else 0
    try:
        server = subprocess.run(
            [temporal_binary(), "--version"], capture_output=True, text=True, timeout=30
        ).stdout.strip()
    except Exception:  # the version line is informative only
        server = "?"
    return {
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "cpu": cpu,
        "cores": os.cpu_count(),
        "memory_gb": round(memory / 1024**3, 1),
        "os": platform.platform(),
        "python": platform.python_version(),
        "temporalio": _version("temporalio"),
        "python-statemachine": _version("python-statemachine"),
        "pydantic": _version("pydantic"),
        "temporal": server,
        "load_average_start": round(os.getloadavg()[0], 2),
    }


def _met(value: bool | None) -> str:
    return "—" if value is None else ("yes" if value else "**no**")


def _trio(p: dict[str, Any]) -> str:
    return f"{p['p50_ms']:.1f} / {p['p95_ms']:.1f} / {p['p99_ms']:.1f}"


def markdown(results: dict[str, Any]) -> str:
    m = results["machine"]
    s = results["scenarios"]
    minutes, secs = divmod(int(results["seconds"].get("total", 0)), 60)
    lines = [
        "# cellpath benchmark results",
        "",
        f"{m['date']} · {m['cpu']} · {m['cores']} cores · {m['memory_gb']} GB · {m['os']} · "
        f"Python {m['python']} · temporalio {m['temporalio']} · python-statemachine "
        f"{m['python-statemachine']} · {m['temporal']} · load average "
        f"{m['load_average_start']} at start, {m.get('load_average_end', '?')} at end · "
        f"workers {'with' if results['config'].get('bytecode_cache') else 'without'} .pyc · "
        f"{'actions signed, worker verifies' if results.get('signed') else 'unsigned'} · "
        f"{minutes} min {secs} s",
        "",
        "| Scenario | Measure | cellpath | bare baseline | ratio | target | met |",
        "|---|---|---:|---:|---:|---|---|",
    ]
    row = lines.append
    if "throughput" in s:
        t = s["throughput"]
        c, b = t["cellpath"], t["bare"]
        row(
            f"| 1. Throughput ({t['pathways_per_side']} pathways × {t['updates_per_pathway']} "
            f"actions, {t['clients']} clients) | pathways/s | {c['pathways_per_s']:.2f} | "
            f"{b['pathways_per_s']:.2f} | {t['ratio']:.2f} | ≥ {THROUGHPUT_RATIO_MIN} | "
            f"{_met(t['met'])} |"
        )
        row(
            f"| | worker CPU per pathway (ms) | {c['worker_cpu_ms_per_pathway']:.0f} | "
            f"{b['worker_cpu_ms_per_pathway']:.0f} | {t['worker_cpu_ratio']:.2f} | — | |"
        )
        row(
            f"| | server CPU per pathway (ms) | {c['server_cpu_ms_per_pathway']:.0f} | "
            f"{b['server_cpu_ms_per_pathway']:.0f} | "
            f"{ratio(c['server_cpu_ms_per_pathway'], b['server_cpu_ms_per_pathway']):.2f} | — | |"
        )
    for clients, lat in s.get("latency", {}).items():
        r = lat["ratio"]
        row(
            f"| 2. Update latency, {clients} client{'s' if clients != '1' else ''} "
            f"({lat['cellpath']['count']} actions) | p50 / p95 / p99 (ms) | "
            f"{_trio(lat['cellpath'])} | {_trio(lat['bare'])} | "
            f"{r['p50']:.2f} / {r['p95']:.2f} / {r['p99']:.2f} | ≤ {LATENCY_RATIO_MAX} each | "
            f"{_met(lat['met'])} |"
        )
    if "rest" in s:
        r = s["rest"]
        c, b = r["cellpath"], r["bare"]
        row(
            f"| 3. {r['pathways']:,} open pathways at rest | worker RSS growth (MB) | "
            f"{c['rss_growth_mb']:.0f} ({c['rss_before_mb']:.0f} → {c['rss_after_mb']:.0f}) | "
            f"{b['rss_growth_mb']:.0f} ({b['rss_before_mb']:.0f} → {b['rss_after_mb']:.0f}) | "
            f"{r['ratio']['rss_growth']:.2f} | < {RSS_GROWTH_MAX_MB} MB | {_met(r['met'])} |"
        )
        if "rss_kb_per_cached" in c:
            row(
                f"| | worker RSS per cached workflow (KB; cache {r['worker_cache']}) | "
                f"{c['rss_kb_per_cached']:.0f} | {b['rss_kb_per_cached']:.0f} | "
                f"{c['rss_kb_per_cached'] / max(b['rss_kb_per_cached'], 0.1):.2f} | — | |"
            )
        row(
            f"| | server DB growth (MB) | {c['db_growth_mb']:.0f} | {b['db_growth_mb']:.0f} | "
            f"{r['ratio']['db_growth']:.2f} | — | |"
        )
    if "history" in s:
        h = s["history"]
        c, b = h["cellpath"], h["bare"]
        row(
            f"| 4. History of a 15-year CAR-T pathway | events per run: max (mean), runs | "
            f"{c['events_max']} ({c['events_mean']:.0f}), {c['runs']} | "
            f"{b['events_max']} ({b['events_mean']:.0f}), {b['runs']} | "
            f"{h['ratio']['events_max']:.2f} | < {EVENTS_PER_RUN_MAX:,} | {_met(h['met'])} |"
        )
        rep = h["replay_largest_run_ms"]
        row(
            f"| | replay of the largest run (ms) | {rep['cellpath']:.1f} | {rep['bare']:.1f} | "
            f"{h['ratio']['replay']:.2f} | — | |"
        )
        hr = h["ratio"]
        row(
            f"| | history bytes per pathway (KB) | {c['bytes_total'] / 1024:.0f} | "
            f"{b['bytes_total'] / 1024:.0f} | {hr['bytes_total']:.2f} | "
            f"≤ {HISTORY_BYTES_RATIO_MAX:g}× bare | {_met(h['bytes_met'])} |"
        )
        row(
            f"| | events per pathway | {c['events_total']} | {b['events_total']} | "
            f"{hr['events_total']:.2f} | — | |"
        )
        row(
            f"| | billable Temporal actions per pathway | {c['billable_actions']} | "
            f"{b['billable_actions']} | {hr['billable_actions']:.2f} | — | |"
        )
        st = h["store"]
        row(
            f"| | record store write time per pathway (ms; {st['writes']} writes, the "
            f"slowest {st['write_ms_max']:.0f} ms) | {st['write_ms']:.0f} | — | — | — | |"
        )
    if "chart" in s:
        ch = s["chart"]
        base = ch["baseline"]
        row(
            f"| 5. Chart cost ({ch['chart']}, {ch['states']} states; baseline: 3-state chart) "
            f"| µs per transition | {ch['transition_us']:.0f} | {base['transition_us']:.0f} | "
            f"{ch['ratio']['transition']:.1f} | < {CHART_US_MAX} µs | "
            f"{_met(ch['transition_us'] < CHART_US_MAX)} |"
        )
        row(
            f"| | µs per rebuild from a record | {ch['rebuild_us']:.0f} | "
            f"{base['rebuild_us']:.0f} | {ch['ratio']['rebuild']:.1f} | < {CHART_US_MAX} µs | "
            f"{_met(ch['rebuild_us'] < CHART_US_MAX)} |"
        )
    if "escalations_while_driving" in results:
        lines += [
            "",
            f"Escalations while driving: {results['escalations_while_driving']} (0 expected: "
            "every deadline of the compressed protocol is longer than an action's latency).",
        ]
    if "history" in s:
        p = s["history"]["parity"]
        lines.append(
            f"Bare twin parity (cellpath, bare): runs {p['runs']}, updates {p['updates']}, "
            f"timers {p['timers']}."
        )
    return "\n".join(lines) + "\n"


DOCS_BEGIN = "<!-- bench:results -->"
DOCS_END = "<!-- /bench:results -->"


def update_docs(path: Path, table: str) -> None:
    """Replace the block between the bench markers of ``path`` with the latest table."""
    text = path.read_text(encoding="utf-8")
    if DOCS_BEGIN not in text or DOCS_END not in text:
        raise BenchError(f"{path} has no {DOCS_BEGIN} … {DOCS_END} block to update")
    head, rest = text.split(DOCS_BEGIN, 1)
    _, tail = rest.split(DOCS_END, 1)
    body = table.split("\n", 2)[2]  # without the "# cellpath benchmark results" title
    path.write_text(f"{head}{DOCS_BEGIN}\n{body}{DOCS_END}{tail}", encoding="utf-8")


def write_results(results: dict[str, Any], out: Path) -> str:
    out.mkdir(parents=True, exist_ok=True)
    (out / "results.json").write_text(json.dumps(results, indent=2) + "\n", encoding="utf-8")
    table = markdown(results)
    (out / "results.md").write_text(table, encoding="utf-8")
    breakdown = results["scenarios"].get("history", {}).get("breakdown")
    if breakdown:
        text = breakdown_table(breakdown["cellpath"], breakdown["bare"])
        (out / "history-bytes.md").write_text(text + "\n", encoding="utf-8")
    return table
