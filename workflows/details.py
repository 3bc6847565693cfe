"""What the Temporal Web UI shows of a pathway: its current details, in Markdown.

Usage::

    workflow.set_current_details(current_details(record))

Pure: no temporalio, no clock (absolute times only).
"""

from __future__ import annotations

from models.eligibility import summary as eligibility_summary
from models.evidence import when_text
from models.grading_record import course_text
from models.protocol import Protocol
from models.record import PathwayRecord
from states.preparation import standing_flags, task_views


def current_details(record: PathwayRecord, protocol: Protocol | None = None) -> str:
    """Markdown for the Web UI. Absolute times only: the text is set on each change,
    so "time left" would be stale by the time someone reads it."""
    lines = [f"**State:** {record.state} · {record.therapy.value} · {record.centre}"]
    if record.outcome:
        lines.append(f"**Outcome:** {record.outcome}")
    if record.held_from:
        lines.append(f"**On hold** (from {record.held_from})")
    for alert in [a for a in record.centre_alerts if a.open][:6]:
        lines.append(
            f"**Centre alert ({record.centre}):** {alert.label}: {alert.reason} "
            f"(since {when_text(alert.raised_at)})"
        )
    if record.state in ("referred", "awaiting_mdtm"):
        # What the MDTM decides on: score, treatments tried, exclusion checklist.
        lines += [f"- Eligibility: {line}" for line in eligibility_summary(record.eligibility)]
    for syndrome, course in (("CRS", record.grading.crs), ("ICANS", record.grading.icans)):
        if text := course_text(syndrome, course):
            lines.append(f"**{text}**")
    if record.incidents:
        last = record.incidents[-1]
        lines.append(
            f"**Deviation log:** {record.incident_count} incident(s); last "
            f"#{last.seq} at {when_text(last.at)}, {last.actor} ({last.role.value}): "
            f"{last.describe()}"
        )
    open_deadlines = sorted(record.open_deadlines(), key=lambda d: d.due_at)
    waiting = sorted({d.waiting_on.label for d in open_deadlines})
    if waiting:
        lines.append(f"**Waiting on:** {', '.join(waiting)}")
    for d in open_deadlines[:6]:
        status = f"OVERDUE, escalation level {d.level}" if d.level else "on time"
        lines.append(f"- {d.label}: due {d.due_at:%Y-%m-%d %H:%M} UTC ({status})")
    if not open_deadlines and not record.outcome:
        lines.append("- No open deadline.")
    if protocol is not None:
        lines += preparation_lines(record, protocol)
    return "\n".join(lines)


def preparation_lines(record: PathwayRecord, protocol: Protocol) -> list[str]:
    """Standing flags, then the open preparation tasks (states/preparation.py)."""
    lines = [f"**Flag:** {flag}" for flag in standing_flags(record, protocol)]
    open_tasks = [t for t in task_views(record, protocol) if t.status == "open"]
    if open_tasks:
        lines.append(f"**Preparation open:** {len(open_tasks)}")
    for task in open_tasks[:8]:
        due = f"due {task.due_at:%Y-%m-%d %H:%M} UTC" if task.due_at else "no deadline"
        late = ", OVERDUE" if task.overdue else ""
        gates = f"; gates {', '.join(task.gates)}" if task.gates else ""
        lines.append(f"- {task.label} ({due}{late}{gates})")
    return lines
