"""Stored chart configurations across chart versions: a renamed state is mapped, an unknown
one refuses the pathway with words an administrator can act on.

A record carries the ``chart_version`` of the chart that wrote its configuration (records
from before the field existed are version 1). When a therapy's chart renames a state, its
``CHART_VERSIONS`` entry goes up by one and ``RENAMES[therapy][old_version]`` says what each
old state ID became::

    CHART_VERSIONS = {Therapy.CAR_T: 2, ...}
    RENAMES = {Therapy.CAR_T: {1: {"stored": "stored_on_site"}}, ...}

``migrate(record, chart)`` applies the renames of every version between the record's and
the chart's, in order, to the configuration, the history memory, ``held_from`` and the open
deadlines, then checks that the chart knows every state left: a state it does not know
raises ``UnknownChartState`` (a rename someone forgot, a record written by newer code).
Renaming a state changes the search attribute a running pathway publishes: guard the
rename with ``workflow.patched`` in the workflow if a committed history would see it.

Pure: no temporalio, no I/O.
"""

from __future__ import annotations

from collections.abc import Mapping

from models.protocol import Therapy
from models.record import PathwayRecord
from states.base import PathwayChart
from states.errors import UnknownChartState

# The current version of each therapy's chart: a new record is written at it. Adding a state
# needs no new version (no stored configuration names it): the MSC ``observation`` state is
# entered only by pathways whose protocol sets an observation period, never by older ones.
CHART_VERSIONS: dict[Therapy, int] = {Therapy.CAR_T: 1, Therapy.MSC: 1}

# Renames by therapy, then by the version they lead away from: {old state ID: new state ID}.
RENAMES: dict[Therapy, dict[int, dict[str, str]]] = {Therapy.CAR_T: {}, Therapy.MSC: {}}

Renames = Mapping[int, Mapping[str, str]]


def stored_states(record: PathwayRecord) -> list[str]:
    """The chart state IDs a record names (configuration, history memory, hold); the
    history memory's keys name history pseudo-states, not states."""
    named = list(record.configuration)
    for values in record.history.values():
        named += values
    if record.held_from:
        named.append(record.held_from)
    return list(dict.fromkeys(named))


def rename_states(record: PathwayRecord, renames: Mapping[str, str]) -> None:
    """Apply one version's renames to everything in ``record`` that names a chart state."""

    def new(state: str) -> str:
        return renames.get(state, state)

    record.configuration = [new(s) for s in record.configuration]
    record.history = {new(key): [new(s) for s in states] for key, states in record.history.items()}
    if record.held_from:
        record.held_from = new(record.held_from)
    for deadline in record.deadlines:
        if deadline.open:
            deadline.state = new(deadline.state)


def migrate(
    record: PathwayRecord,
    chart: type[PathwayChart],
    *,
    version: int | None = None,
    renames: Renames | None = None,
) -> None:
    """Bring ``record`` to ``chart``'s version (``CHART_VERSIONS`` and ``RENAMES`` of its
    therapy unless given), in place; raise ``UnknownChartState`` for a state it cannot map."""
    target = CHART_VERSIONS[record.therapy] if version is None else version
    table = RENAMES[record.therapy] if renames is None else renames
    therapy = record.therapy.value.upper()
    if record.chart_version > target:
        raise UnknownChartState(
            f"Pathway {record.pathway_id} was last saved by a newer version of the {therapy} "
            f"pathway (chart version {record.chart_version}; this worker knows up to "
            f"{target}). Nothing was changed: ask the administrator to run the newer "
            "cellpath workers.",
            state=record.state,
        )
    for old in range(record.chart_version, target):
        rename_states(record, table.get(old, {}))
    record.chart_version = target
    unknown = [s for s in stored_states(record) if s not in chart.states_map]
    if unknown:
        raise UnknownChartState(
            f"Pathway {record.pathway_id} is saved at a step the {therapy} pathway no longer "
            f"has ({', '.join(unknown)}; chart version {target}). Nothing was changed and "
            "no action can be recorded until an administrator maps the old step to a current "
            "one (states/migrations.py) and restarts the pathway.",
            state=record.state,
        )
