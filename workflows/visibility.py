"""What a pathway publishes for the Temporal Web UI: search attributes and current details.

Usage (in workflow code only)::

    visibility = Visibility()
    visibility.publish(record)   # after each change; upserts only what changed

Each upsert is a history event and a visibility write carrying every attribute named: a
run's first sets them all, later ones only what changed. Since
``lean2-carried-search-attributes`` a run that continues another starts from the attributes
Temporal carried into it (its start event holds them), so its first upsert, too, names only
what changed, and a run whose attributes are as carried upserts nothing when it starts.
"""

from typing import Any

from temporalio import workflow
from temporalio.common import SearchAttributeUpdate

with workflow.unsafe.imports_passed_through():
    import workflows.search as search
    from models.protocol import Protocol
    from models.record import PathwayRecord
    from workflows.details import current_details


def carried_values() -> dict[str, object]:
    """The values this run started with (a continued run's, carried by Temporal), as
    ``Visibility`` compares them; empty when they are not all there."""
    attributes = workflow.info().typed_search_attributes
    state = attributes.get(search.PATHWAY_STATE)
    static = (search.THERAPY, search.DISEASE, search.CENTRE, search.ESCALATION_LEVEL)
    if state is None or any(attributes.get(key) is None for key in static):
        return {}
    return {
        "state": state,
        "next": attributes.get(search.NEXT_DEADLINE),
        "level": attributes.get(search.ESCALATION_LEVEL),
        "overdue": bool(attributes.get(search.OVERDUE)),
    }


class Visibility:
    """The values last published by this run (a new run publishes everything once)."""

    def __init__(self, *, carried: bool = False) -> None:
        """``carried``: take what the run's start holds as published."""
        self._published: dict[str, object] = carried_values() if carried else {}

    def publish(self, record: PathwayRecord, protocol: Protocol | None = None) -> None:
        nxt = record.next_deadline()
        values: dict[str, object] = {
            "state": record.state,
            "next": nxt.due_at if nxt else None,
            "level": record.escalation_level,
            "overdue": record.overdue,
        }
        if values != self._published:
            first = not self._published
            changed = {key for key, value in values.items() if self._published.get(key) != value}
            updates: list[SearchAttributeUpdate[Any]] = []
            if first or "state" in changed:
                updates.append(search.PATHWAY_STATE.value_set(record.state))
            if first:
                updates += [
                    search.THERAPY.value_set(record.therapy.value),
                    search.DISEASE.value_set(record.disease),
                    search.CENTRE.value_set(record.centre),
                ]
            if first or "level" in changed:
                updates.append(search.ESCALATION_LEVEL.value_set(record.escalation_level))
            if first or "overdue" in changed:
                updates.append(search.OVERDUE.value_set(record.overdue))
            if first or "next" in changed:
                updates.append(
                    search.NEXT_DEADLINE.value_set(nxt.due_at)
                    if nxt
                    else search.NEXT_DEADLINE.value_unset()
                )
            workflow.upsert_search_attributes(updates)
            self._published = values
        workflow.set_current_details(current_details(record, protocol))
