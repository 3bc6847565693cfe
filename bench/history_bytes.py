"""Where a pathway's history bytes go: by event type and by payload (issue 13).

Usage::

    breakdown = history_bytes(histories)          # every run of one workflow
    print(breakdown_table(breakdown))

    .venv/bin/python -m bench.history_bytes tests/histories/lean-cart-v1-run*.json

Sizes are protobuf sizes, as the server stores them (``Message.ByteSize()``), the measure
of the bench's history scenario. Each event's bytes go to its type (``by_event``); the
payloads inside it are also counted apart (``by_payload``), by what they carry:

- ``run input`` (a run's start) and ``continue-as-new input`` (the command that ends a run);
- ``activity input: <name>`` and ``activity result: <name>``;
- ``update request: <name>`` (what clients send, the same on both sides) and
  ``update result: <name>``;
- ``marker: <name>``, ``search attributes``, ``memo``, ``header``;
- ``summary/details`` (user metadata of timers, activities, the run), ``failure``;
- ``workflow task`` (scheduled, started, completed: the SDK's metadata).

``rest`` is what the payloads leave of an event: ids, times, task queues, timeouts, retry
policies and the protobuf framing.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections import Counter
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from google.protobuf.message import Message
from temporalio.api.enums.v1 import EventType
from temporalio.api.history.v1 import HistoryEvent
from temporalio.client import WorkflowHistory

KB = 1024


def _name(event_type: int) -> str:
    return EventType.Name(event_type).removeprefix("EVENT_TYPE_").lower()


def _size(message: Message | None) -> int:
    return message.ByteSize() if message is not None else 0


def _payloads_size(payloads: Any) -> int:
    """Bytes of a ``Payloads`` (its ``payloads`` field), 0 when unset."""
    return sum(p.ByteSize() for p in payloads.payloads) if payloads is not None else 0


def _event_payloads(event: HistoryEvent, activities: dict[int, str]) -> Iterable[tuple[str, int]]:
    """(what, bytes) of the payloads ``event`` holds; ``activities``: activity type by
    scheduled event ID, filled as scheduled events go by."""
    kind = event.event_type
    if event.HasField("user_metadata"):
        yield "summary/details", _size(event.user_metadata)
    if kind == EventType.EVENT_TYPE_WORKFLOW_EXECUTION_STARTED:
        a = event.workflow_execution_started_event_attributes
        yield "run input", _payloads_size(a.input)
        yield "search attributes", _size(a.search_attributes)
        yield "memo", _size(a.memo)
        yield "header", _size(a.header)
        if a.HasField("continued_failure") or a.HasField("last_completion_result"):
            yield "failure", _size(a.continued_failure) + _size(a.last_completion_result)
    elif kind == EventType.EVENT_TYPE_WORKFLOW_EXECUTION_CONTINUED_AS_NEW:
        a = event.workflow_execution_continued_as_new_event_attributes
        yield "continue-as-new input", _payloads_size(a.input)
        yield "search attributes", _size(a.search_attributes)
        yield "memo", _size(a.memo)
        yield "header", _size(a.header)
    elif kind == EventType.EVENT_TYPE_WORKFLOW_EXECUTION_COMPLETED:
        a = event.workflow_execution_completed_event_attributes
        yield "workflow result", _payloads_size(a.result)
    elif kind == EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED:
        a = event.activity_task_scheduled_event_attributes
        activities[event.event_id] = a.activity_type.name
        yield f"activity input: {a.activity_type.name}", _payloads_size(a.input)
        yield "header", _size(a.header)
    elif kind == EventType.EVENT_TYPE_ACTIVITY_TASK_COMPLETED:
        a = event.activity_task_completed_event_attributes
        name = activities.get(a.scheduled_event_id, "?")
        yield f"activity result: {name}", _payloads_size(a.result)
    elif kind == EventType.EVENT_TYPE_ACTIVITY_TASK_STARTED:
        a = event.activity_task_started_event_attributes
        yield "failure", _size(a.last_failure)
    elif kind == EventType.EVENT_TYPE_ACTIVITY_TASK_FAILED:
        yield "failure", _size(event.activity_task_failed_event_attributes.failure)
    elif kind == EventType.EVENT_TYPE_WORKFLOW_EXECUTION_UPDATE_ACCEPTED:
        a = event.workflow_execution_update_accepted_event_attributes
        request = a.accepted_request
        name = request.input.name
        yield f"update request: {name}", _payloads_size(request.input.args)
        yield "header", _size(request.input.header)
    elif kind == EventType.EVENT_TYPE_WORKFLOW_EXECUTION_UPDATE_COMPLETED:
        a = event.workflow_execution_update_completed_event_attributes
        outcome = a.outcome
        if outcome.HasField("failure"):
            yield "failure", _size(outcome.failure)
        else:
            yield "update result", _payloads_size(outcome.success)
    elif kind == EventType.EVENT_TYPE_MARKER_RECORDED:
        a = event.marker_recorded_event_attributes
        yield f"marker: {a.marker_name}", sum(_payloads_size(p) for p in a.details.values())
    elif kind == EventType.EVENT_TYPE_UPSERT_WORKFLOW_SEARCH_ATTRIBUTES:
        a = event.upsert_workflow_search_attributes_event_attributes
        yield "search attributes", _size(a.search_attributes)
    elif kind == EventType.EVENT_TYPE_WORKFLOW_PROPERTIES_MODIFIED:
        a = event.workflow_properties_modified_event_attributes
        yield "memo", _size(a.upserted_memo)
    elif kind == EventType.EVENT_TYPE_WORKFLOW_EXECUTION_SIGNALED:
        a = event.workflow_execution_signaled_event_attributes
        yield f"signal: {a.signal_name}", _payloads_size(a.input)
        yield "header", _size(a.header)
    elif kind == EventType.EVENT_TYPE_WORKFLOW_EXECUTION_FAILED:
        yield "failure", _size(event.workflow_execution_failed_event_attributes.failure)
    elif kind in WORKFLOW_TASK:
        yield "workflow task", event.ByteSize()


WORKFLOW_TASK = {
    EventType.EVENT_TYPE_WORKFLOW_TASK_SCHEDULED,
    EventType.EVENT_TYPE_WORKFLOW_TASK_STARTED,
    EventType.EVENT_TYPE_WORKFLOW_TASK_COMPLETED,
    EventType.EVENT_TYPE_WORKFLOW_TASK_FAILED,
    EventType.EVENT_TYPE_WORKFLOW_TASK_TIMED_OUT,
}


def _update_names(events: Iterable[HistoryEvent]) -> dict[str, str]:
    """Update name by protocol instance (update) ID, from the accepted events."""
    names = {}
    for event in events:
        if event.event_type == EventType.EVENT_TYPE_WORKFLOW_EXECUTION_UPDATE_ACCEPTED:
            a = event.workflow_execution_update_accepted_event_attributes
            names[a.protocol_instance_id] = a.accepted_request.input.name
    return names


def history_bytes(histories: Iterable[WorkflowHistory]) -> dict[str, Any]:
    """Bytes by event type and by payload, over every run given, and per run."""
    by_event: Counter[str] = Counter()
    events: Counter[str] = Counter()
    by_payload: Counter[str] = Counter()
    per_run = []
    for history in histories:
        activities: dict[int, str] = {}
        updates = _update_names(history.events)
        run_bytes = 0
        for event in history.events:
            size = event.ByteSize()
            run_bytes += size
            name = _name(event.event_type)
            by_event[name] += size
            events[name] += 1
            inside = 0
            for what, bytes_ in _event_payloads(event, activities):
                if what == "update result":
                    a = event.workflow_execution_update_completed_event_attributes
                    what = f"update result: {updates.get(a.meta.update_id, '?')}"
                if bytes_:
                    by_payload[what] += bytes_
                    inside += bytes_
            by_payload["rest"] += size - inside
        per_run.append(run_bytes)
    return {
        "bytes_total": sum(per_run),
        "bytes_per_run": per_run,
        "by_event": dict(by_event.most_common()),
        "events": dict(events),
        "by_payload": dict(by_payload.most_common()),
    }


def grouped(by_payload: dict[str, int]) -> dict[str, int]:
    """``by_payload`` with the client's update requests summed into one line, and the
    update results likewise (names vary; their sum is what compares)."""
    out: Counter[str] = Counter()
    for what, size in by_payload.items():
        if what.startswith("update request: "):
            what = "update requests (clients')"
        elif what.startswith("update result: "):
            what = "update results"
        out[what] += size
    return dict(out.most_common())


def breakdown_table(breakdown: dict[str, Any], bare: dict[str, Any] | None = None) -> str:
    """The breakdown as two markdown tables (KB), with the bare baseline's beside it."""
    total = breakdown["bytes_total"]
    lines = [f"history bytes: {total / KB:.1f} KB over {len(breakdown['bytes_per_run'])} runs"]
    if bare is not None:
        lines[0] += f" (bare {bare['bytes_total'] / KB:.1f} KB)"
    for title, key in (("event type", "by_event"), ("payload", "by_payload")):
        rows = breakdown[key] if key == "by_event" else grouped(breakdown[key])
        other = (bare[key] if key == "by_event" else grouped(bare[key])) if bare else {}
        lines += ["", f"| {title} | KB | share | bare KB |", "|---|---:|---:|---:|"]
        for what, size in rows.items():
            base = f"{other[what] / KB:.1f}" if what in other else "—"
            lines.append(f"| {what} | {size / KB:.1f} | {size / total:.0%} | {base} |")
        for what, size in other.items():
            if what not in rows:
                lines.append(f"| {what} | — | — | {size / KB:.1f} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m bench.history_bytes", description=__doc__.splitlines()[0]
    )
    parser.add_argument("histories", nargs="+", type=Path, help="JSON histories, one per run")
    parser.add_argument("--json", action="store_true", help="print the breakdown as JSON")
    args = parser.parse_args(argv)
    histories = [
        WorkflowHistory.from_json(path.stem, json.loads(path.read_text()))
        for path in sorted(args.histories)
    ]
    breakdown = history_bytes(histories)
    print(json.dumps(breakdown, indent=2) if args.json else breakdown_table(breakdown))
    return 0


if __name__ == "__main__":
    sys.exit(main())
