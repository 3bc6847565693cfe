"""What the Temporal Web UI shows of a pathway: its current details, in Markdown.

Usage::

    workflow.set_current_details(current_details(record))

Pure: no temporalio, no clock (absolute times only).
"""

from __future__ import annotations

from models.eligibility import summary as eligibility_summary
from models.evidence import when_text
from models.grading_record import course_text
from models.record import PathwayRecord


def current_details(record: PathwayRecord) -> str:
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
    open_deadlines = sorted(record.open_deadlines(), key=lambda d: d.due_at)
    waiting = sorted({d.waiting_on.label for d in open_deadlines})
    if waiting:
        lines.append(f"**Waiting on:** {', '.join(waiting)}")
    for d in open_deadlines[:6]:
        status = f"OVERDUE, escalation level {d.level}" if d.level else "on time"
        lines.append(f"- {d.label}: due {d.due_at:%Y-%m-%d %H:%M} UTC ({status})")
    if not open_deadlines and not record.outcome:
        lines.append("- No open deadline.")
    return "\n".join(lines)
