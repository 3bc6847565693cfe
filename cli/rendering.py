"""How the CLI shows a pathway: the ``--json`` documents of ``show`` and ``act`` (the
schemas in docs/cli.md) and the tables a person reads in a terminal.

Usage::

    doc = show_document(record, "RUNNING", allowed.events, datetime.now(UTC))
    print_show(doc, record, ordered(allowed.events))
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from rich import box
from rich.markup import escape
from rich.table import Table

from cli.app import console
from client.diagrams import chart_class
from client.incidents import incident_row
from client.pathways import iso
from models.durations import humanize
from models.eligibility import summary as eligibility_summary
from models.grading_record import course_text
from models.pathway import ActionReceipt
from models.protocol import Therapy
from models.record import AuditEntry, PathwayRecord
from models.withdrawal import WithdrawalNote


def state_name(therapy: Therapy, state: str) -> str:
    found = chart_class(therapy.value).states_map.get(state)
    return str(found.name) if found is not None else state


def dates(record: PathwayRecord) -> dict[str, Any]:
    p = record.product
    return {
        "referred_at": iso(record.referred_at),
        "work_up_completed_at": iso(record.work_up_completed_at),
        "mdtm_approved_at": iso(record.mdtm_approved_at),
        "consent_at": iso(record.consent_at),
        "apheresis_slot_at": iso(record.apheresis_slot_at),
        "product_released_at": iso(p.released_at),
        "product_received_at": iso(p.received_at),
        "cleared_at": iso(record.cleared_at),
        "lymphodepletion_started_at": iso(record.lymphodepletion_started_at),
        "lymphodepletion_ended_at": iso(record.lymphodepletion_ended_at),
        "thawed_at": iso(p.thawed_at),
        "d0": iso(record.d0),
        "infusions": [iso(t) for t in record.infusions],
        "discharged_at": iso(record.discharged_at),
        "visits": {label: iso(at) for label, at in record.visits.items()},
    }


def deadline_docs(record: PathwayRecord, now: datetime) -> list[dict[str, Any]]:
    # Time left is counted here: a query's clock is the workflow's last activation.
    return [
        {
            "key": d.key,
            "label": d.label,
            "state": d.state,
            "status": d.status.value,
            "due_at": iso(d.due_at),
            "seconds_left": round((d.due_at - now).total_seconds(), 3),
            "level": d.level,
            "waiting_on": d.waiting_on.value,
        }
        for d in sorted(record.open_deadlines(), key=lambda d: d.due_at)
    ]


def show_document(
    record: PathwayRecord, status: str | None, allowed: list[str], now: datetime
) -> dict[str, Any]:
    """``cellpath show --json``: the schema documented in docs/cli.md."""
    return {
        "pathway_id": record.pathway_id,
        "pseudonym": record.pseudonym,
        "status": status,
        "state": record.state,
        "state_name": state_name(record.therapy, record.state),
        "therapy": record.therapy.value,
        "disease": record.disease,
        "centre": record.centre,
        "age_band": record.age_band,
        "protocol_id": record.protocol_id,
        "binome": record.binome.model_dump(mode="json"),
        "outcome": record.outcome,
        "held_from": record.held_from,
        "escalation_level": record.escalation_level,
        "overdue": record.overdue,
        "dates": dates(record),
        "product": {
            "coi_id": record.product.coi_id,
            "storage_location": record.product.storage_location,
            "quarantined": record.product.quarantined,
        },
        "centre_alerts": [
            {
                "key": a.key,
                "label": a.label,
                "reason": a.reason,
                "raised_at": iso(a.raised_at),
            }
            for a in record.centre_alerts
            if a.open
        ],
        "eligibility": record.eligibility.model_dump(mode="json"),
        "grading": {
            "observations": len(record.grading.observations),
            "crs": record.grading.crs.model_dump(mode="json"),
            "icans": record.grading.icans.model_dump(mode="json"),
        },
        "withdrawal": {
            "from_study": note_doc(record.study_withdrawal),
            "follow_up_refused": note_doc(record.follow_up_refusal),
        },
        "deadlines": deadline_docs(record, now),
        "incidents": [incident_row(record.pathway_id, i) for i in record.incidents],
        "allowed": allowed,
        "audit": [audit_doc(e) for e in record.audit[-10:]],
        "audit_total": len(record.audit),
    }


def note_doc(note: WithdrawalNote | None) -> dict[str, Any] | None:
    if note is None:
        return None
    return {"at": iso(note.at), "by": note.by, "role": note.role.value, "reason": note.reason}


def audit_doc(entry: AuditEntry) -> dict[str, Any]:
    # Named field by field: the CLI's schema stays put when the record model grows.
    return {
        "seq": entry.seq,
        "at": iso(entry.at),
        "event": entry.event,
        "actor": entry.actor,
        "role": entry.role.value,
        "reason": entry.reason,
        "update_id": entry.update_id,
        "from_state": entry.from_state,
        "to_state": entry.to_state,
        "data": entry.data,
        "meaning": entry.meaning,
        "cosigner": entry.cosigner,
        "cosigner_meaning": entry.cosigner_meaning,
    }


def receipt_document(receipt: ActionReceipt) -> dict[str, Any]:
    """``cellpath act --json``: the schema documented in docs/cli.md."""
    return {
        "pathway_id": receipt.pathway_id,
        "event": receipt.event,
        "seq": receipt.seq,
        "from_state": receipt.from_state,
        "state": receipt.state,
        "at": iso(receipt.at),
        "duplicate": receipt.duplicate,
        "allowed_next": list(receipt.allowed_next),
    }


def left(seconds: float) -> str:
    text = humanize(timedelta(seconds=abs(seconds)))
    return f"[red]overdue {text}[/]" if seconds < 0 else text


def when(value: str) -> str:
    return value[:16].replace("T", " ")


def print_show(doc: dict[str, Any], record: PathwayRecord, possible: list[str]) -> None:
    out = console.print
    ended = f"  [dim]({doc['status'].lower()})[/]" if doc["status"] not in (None, "RUNNING") else ""
    out(
        f"[bold]{doc['pathway_id']}[/]  {doc['therapy']} · {doc['disease']} · "
        f"{doc['centre']}{ended}",
        highlight=False,
    )
    facts = Table.grid(padding=(0, 2))
    facts.add_column(style="dim", no_wrap=True)
    facts.add_column(overflow="fold")
    facts.add_row("state", f"[bold]{doc['state']}[/] ({doc['state_name']})")
    if doc["outcome"]:
        facts.add_row("outcome", doc["outcome"])
    if doc["held_from"]:
        facts.add_row("held from", doc["held_from"])
    level = doc["escalation_level"]
    facts.add_row("escalation", f"[red]level {level}[/]" if level else "none")
    facts.add_row(
        "binôme",
        f"{doc['binome']['ard_specialist']} (ARD) + "
        f"{doc['binome']['cell_therapy_specialist']} (cell therapy)",
    )
    if doc["product"]["coi_id"]:
        facts.add_row("chain of identity", doc["product"]["coi_id"])
    on = doc["dates"]
    for key, label in (
        ("referred_at", "referred"),
        ("work_up_completed_at", "work-up"),
        ("mdtm_approved_at", "MDTM approval"),
        ("consent_at", "consent"),
        ("apheresis_slot_at", "apheresis slot"),
        ("product_received_at", "product received"),
        ("lymphodepletion_ended_at", "lymphodepletion end"),
        ("d0", "D0 (infusion)"),
        ("discharged_at", "discharge"),
    ):
        if on[key]:
            facts.add_row(label, when(on[key]) + " UTC")
    if on["visits"]:
        facts.add_row("visits done", ", ".join(on["visits"]))
    for line in eligibility_summary(record.eligibility):
        facts.add_row("eligibility", escape(line))
    for syndrome, course in (("CRS", record.grading.crs), ("ICANS", record.grading.icans)):
        if text := course_text(syndrome, course):
            facts.add_row(syndrome, text.removeprefix(f"{syndrome}: "))
    for key, label in (("from_study", "withdrawn"), ("follow_up_refused", "follow-up refused")):
        if note := doc["withdrawal"][key]:
            facts.add_row(
                label, escape(f"{when(note['at'])} UTC by {note['by']}: {note['reason']}")
            )
    out(facts)
    for alert in doc["centre_alerts"]:
        out(
            f"[red]centre alert[/] ({doc['centre']}): {escape(alert['label'])}: "
            f"{escape(alert['reason'])} "
            f"(since {when(alert['raised_at'])} UTC)",
            highlight=False,
            soft_wrap=True,
        )
    for incident in doc["incidents"][-5:]:
        out(
            f"[red]incident #{incident['seq']}[/] {when(incident['at'])} UTC, "
            f"{escape(incident['actor'])}: {escape(incident['event'])} "
            f"({escape(incident['rule'])}): {escape(incident['message'])}",
            highlight=False,
            soft_wrap=True,
        )
    if len(doc["incidents"]) > 5:
        out(f"  (all {len(doc['incidents'])}: cellpath incidents {doc['pathway_id']})")
    if doc["deadlines"]:
        table = Table(box=box.SIMPLE_HEAD, pad_edge=False, collapse_padding=True)
        table.add_column("open deadline", overflow="fold")
        for column in ("due (UTC)", "time left", "level", "waiting on"):
            table.add_column(column, no_wrap=True)
        for d in doc["deadlines"]:
            table.add_row(
                d["label"],
                when(d["due_at"]),
                left(d["seconds_left"]),
                str(d["level"]),
                d["waiting_on"],
            )
        out(table)
    else:
        out("no open deadline")
    print_tasks(doc.get("preparation", []))
    if doc["audit"]:
        shown = doc["audit"][-8:]
        out(f"last actions ({len(shown)} of {doc['audit_total']}, UTC):")
        audit = Table.grid(padding=(0, 1))
        for column in ("#", "when", "action"):
            audit.add_column(no_wrap=True, justify="right" if column == "#" else "left")
        audit.add_column(overflow="fold")
        for e in shown:
            audit.add_row(
                f"  {e['seq']}",
                when(e["at"])[5:],
                e["event"],
                f"by {e['actor']} ({e['role']})"
                + (f", signed: {e['meaning']}" if e.get("meaning") else "")
                + (
                    f", co-signed by {e['cosigner']}: {e['cosigner_meaning']}"
                    if e.get("cosigner")
                    else ""
                )
                + f" → {e['to_state']}",
            )
        out(audit)
    out(
        f"possible now: {', '.join(possible) or 'nothing'}"
        + (
            f"\n  (who may, with what: cellpath act {doc['pathway_id']} --help-events)"
            if possible
            else ""
        ),
        highlight=False,
        soft_wrap=True,
    )


def print_tasks(tasks: list[dict[str, Any]]) -> None:
    """The open preparation tasks (models/preparation.py), and how many are done."""
    open_tasks = [t for t in tasks if t["status"] == "open"]
    done = sum(1 for t in tasks if t["status"] == "done")
    if not tasks:
        return
    console.print(
        f"preparation: {done} of {len(tasks)} tasks done, {len(open_tasks)} open",
        highlight=False,
    )
    if open_tasks:
        table = Table(box=box.SIMPLE_HEAD, pad_edge=False, collapse_padding=True)
        table.add_column("open task", overflow="fold")
        for column in ("due (UTC)", "gates", "record with"):
            table.add_column(column, overflow="fold")
        for t in open_tasks:
            due = when(t["due_at"]) if t["due_at"] else "—"
            table.add_row(
                escape(t["label"]) + (" [red](overdue)[/]" if t["overdue"] else ""),
                due,
                ", ".join(t["gates"]) or "—",
                f"record_task {t['key']}",
            )
        console.print(table)


def print_pathways(rows: list[dict[str, Any]], *, overdue: bool) -> None:
    """``cellpath list``: one line per pathway, time left to its next deadline."""
    now = datetime.now(UTC)
    # The centre is part of the pathway ID: five columns fit an 80-column terminal.
    table = Table(box=box.SIMPLE_HEAD, pad_edge=False, collapse_padding=True)
    table.add_column("pathway", no_wrap=True)
    table.add_column("state", no_wrap=True)
    table.add_column("therapy", no_wrap=True)
    table.add_column("next deadline", no_wrap=True)
    table.add_column("level", justify="right")
    for r in rows:
        nd = r["next_deadline"]
        seconds = (datetime.fromisoformat(nd) - now).total_seconds() if nd else None
        if r["status"] != "RUNNING":
            due = f"({(r['status'] or 'closed').lower()})"
        elif seconds is None:
            due = ""
        else:
            due = left(seconds) if seconds < 0 else f"in {left(seconds)}"
        table.add_row(
            r["pathway_id"],
            r["state"] or "",
            r["therapy"] or "",
            due,
            str(r["escalation_level"]),
            style="" if r["status"] == "RUNNING" else "dim",
        )
    console.print(table)
    what = "overdue pathway(s)" if overdue else "pathway(s)"
    console.print(f"{len(rows)} {what}", highlight=False)
