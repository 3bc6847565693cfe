"""The chart registry: which chart class draws which therapy's pathway, by therapy or name.

The one place a chart class is looked up (the workflow, the diagrams, the generated docs,
the tests and the bench all use it)::

    CHARTS[Therapy.CAR_T]        # CarTChart
    chart_class("CAR-T")         # CarTChart: a therapy value or an alias, any case

A new therapy's chart is added to ``CHARTS``; a short name people type, to ``ALIASES``.
"""

from __future__ import annotations

from models.protocol import Therapy
from states.base import PathwayChart
from states.cart import CarTChart
from states.msc import MscChart

CHARTS: dict[Therapy, type[PathwayChart]] = {Therapy.CAR_T: CarTChart, Therapy.MSC: MscChart}

# Names people type for a therapy besides its value ("car-t", "msc").
ALIASES: dict[str, Therapy] = {"cart": Therapy.CAR_T}

# Every name ``chart_class`` accepts, with its chart.
CHART_NAMES: dict[str, type[PathwayChart]] = {
    **{therapy.value: chart for therapy, chart in CHARTS.items()},
    **{alias: CHARTS[therapy] for alias, therapy in ALIASES.items()},
}


def chart_class(name: str) -> type[PathwayChart]:
    """The chart class for a therapy value or alias (``"cart"``, ``"car-t"``, ``"msc"``,
    any case); ``ValueError`` naming the known ones otherwise."""
    if not isinstance(name, str):
        raise ValueError(f"a chart name must be a string, not {type(name).__name__}")
    chart = CHART_NAMES.get(name.strip().lower())
    if chart is None:
        raise ValueError(f"unknown chart {name!r}: use one of {', '.join(sorted(CHART_NAMES))}")
    return chart


def all_state_ids() -> list[str]:
    """Every state ID of every chart, sorted (what a state filter may name)."""
    return sorted({state for chart in CHARTS.values() for state in chart.states_map})
