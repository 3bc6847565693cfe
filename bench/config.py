"""What a bench run measures and the targets it holds them to: sizes, scenarios, thresholds.

Usage::

    config = Config(pathways=100, scenarios=("throughput",))

``Config`` checks its sizes up front (``ValueError``); ``BenchError`` is what any part of the
bench raises when it cannot measure something.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
HERE = Path(__file__).resolve().parent
SCENARIOS = ("chart", "latency", "throughput", "history", "rest")
MB = 1024 * 1024

# Targets of issue 8.
THROUGHPUT_RATIO_MIN = 0.9
LATENCY_RATIO_MAX = 1.2
RSS_GROWTH_MAX_MB = 100
EVENTS_PER_RUN_MAX = 2000
# issue 13: a 15-year pathway's history bytes within 3x the bare baseline's
HISTORY_BYTES_RATIO_MAX = 3.0
CHART_US_MAX = 100


class BenchError(RuntimeError):
    """The bench could not measure something; the message says what and where to look."""


@dataclass
class Config:
    # Issue 8's sizes: 500 pathways a side, 10,000 at rest (docs/performance.md, "Sizes").
    pathways: int = 500
    clients: int = 50
    # Client count → pathways per side, for the latency-only runs.
    latency: dict[int, int] = field(default_factory=lambda: {1: 8, 8: 48})
    rest: int = 10_000
    rest_concurrency: int = 50
    # At rest: the worker idle this many seconds in a row, after a pause before "before".
    rest_quiet_seconds: int = 3
    rest_pause_seconds: float = 2.0
    replays: int = 5
    seconds_per_day: float = 5.0
    chart_rounds: int = 5
    chart_pathways: int = 50
    chart_rebuilds: int = 20
    # Workers read and write .pyc files (in the bench's temporary directory) even where
    # PYTHONDONTWRITEBYTECODE is set, as an installed worker does: without them the sandbox
    # compiles the workflow module again for every workflow run (docs/performance.md).
    bytecode_cache: bool = True
    scenarios: tuple[str, ...] = SCENARIOS
    #: a directory to write the warm-up pathways' histories to (JSON, one file per run)
    keep_histories: str | None = None

    def __post_init__(self) -> None:
        unknown = set(self.scenarios) - set(SCENARIOS)
        if unknown:
            raise ValueError(f"unknown scenarios {sorted(unknown)}; choose from {SCENARIOS}")
        if self.pathways < 1 or self.clients < 1 or self.rest < 1:
            raise ValueError("pathways, clients and rest must be at least 1")
        if self.seconds_per_day < 1:
            raise ValueError("seconds_per_day below 1 lets deadlines fall due under load")
