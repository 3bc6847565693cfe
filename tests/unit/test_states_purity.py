"""The charts and models stay pure: no Temporal, no logging setup, no clock.

They are imported by workflows through ``imports_passed_through()`` and tested in
milliseconds; a Temporal import would drag the SDK into every pure test, and a clock read
would make a workflow non-deterministic (``now`` always comes in with the event).
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
FORBIDDEN = ("temporalio", "structlog")

# The two payload codecs implement Temporal's PayloadCodec interface: the only models/
# modules allowed to import temporalio. The workflow never imports the encryption codec, and
# of the protocol claim check only ``claim_checked`` (which marks a payload for it).
EXEMPT = {"models.encryption", "models.protocol_claim_check"}

_PROBE = (
    f"EXEMPT = {EXEMPT!r}\n"
    + """
import importlib, json, pkgutil, sys
names = sys.argv[1:]
if names == ["--all"]:
    names = [
        f"{pkg}.{m.name}"
        for pkg in ("states", "models")
        for m in pkgutil.iter_modules(importlib.import_module(pkg).__path__)
        if f"{pkg}.{m.name}" not in EXEMPT
    ]
for name in names:
    importlib.import_module(name)
print(json.dumps({"imported": names, "modules": sorted(sys.modules)}))
"""
)


def imported_modules(*names: str) -> tuple[list[str], set[str]]:
    """Import ``names`` in a fresh interpreter; return them and everything they loaded."""
    done = subprocess.run(
        [sys.executable, "-c", _PROBE, *names],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    out = json.loads(done.stdout)
    return out["imported"], set(out["modules"])


def forbidden_in(modules: set[str]) -> list[str]:
    return sorted(m for m in modules if m.split(".")[0] in FORBIDDEN)


class TestNoTemporalInChartsAndModels:
    """Importing the charts, or any module of states/ and models/, loads no temporalio and
    no structlog."""

    def test_charts(self) -> None:
        _, modules = imported_modules("states.cart", "states.msc")
        assert {"states.cart", "states.msc", "statemachine"} <= modules
        assert forbidden_in(modules) == []

    def test_every_module_of_states_and_models(self) -> None:
        names, modules = imported_modules("--all")
        assert {"states.base", "models.record", "models.actions"} <= set(names)
        assert forbidden_in(modules) == []


CLOCK = re.compile(
    r"\b(?:datetime\.(?:now|utcnow|today)|date\.today|time\.(?:time|monotonic|perf_counter)"
    r"(?:_ns)?)\s*\("
    r"|\bfrom\s+time\s+import\b"
)


def state_sources() -> list[Path]:
    return sorted((ROOT / "states").glob("*.py"))


class TestNoClockInStates:
    """No module in states/ reads the clock: ``now`` always comes in with the event."""

    def test_pattern_catches_clock_reads(self) -> None:
        for text in ("datetime.now(UTC)", "datetime.utcnow()", "time.time()", "date.today()"):
            assert CLOCK.search(text), text
        assert not CLOCK.search("def check(self, event, action, now): ...")

    def test_the_scan_sees_the_chart_modules(self) -> None:
        # Without this, an empty glob would make the scan below pass by checking nothing.
        assert {"base.py", "cart.py", "msc.py"} <= {p.name for p in state_sources()}

    @pytest.mark.parametrize("path", state_sources(), ids=lambda p: p.name)
    def test_module_reads_no_clock(self, path: Path) -> None:
        hits = [
            f"{path.name}:{n}: {line.strip()}"
            for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1)
            if CLOCK.search(line)
        ]
        assert hits == []
