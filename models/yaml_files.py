"""Reading the programme's own YAML files (protocols, grading tables, centres, accounts).

PyYAML's safe loading, on libyaml's parser when PyYAML was built with it (its wheels are):
the same safe constructor, about ten times faster than the pure-Python parser. Every worker,
CLI call and test process loads the shipped protocols; with the pure-Python parser that was
2.4 s of CPU per process (docs/performance.md, "The test suite's own time").
"""

from __future__ import annotations

from typing import Any

import yaml

SafeLoader: type[yaml.SafeLoader] = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
SafeDumper: type[yaml.SafeDumper] = getattr(yaml, "CSafeDumper", yaml.SafeDumper)


def safe_load(text: str) -> Any:
    """``yaml.safe_load`` on the fastest safe loader available."""
    return yaml.load(text, Loader=SafeLoader)  # noqa: S506 — a safe loader
