"""What each staff action takes, read from its pydantic model: the fields for
``--help-events`` and its messages, details checked before they travel (what each action
takes is read by ``models.action_fields``, shared with the web app).

Usage::

    fields_text("approve_at_mdtm")   # "--data ard_specialist, cell_therapy_specialist; ..."
    payload = check_details("record_consent", {"actor": "dr.martin", ...})
    show_allowed_actions("pathway-centre-a-LUP-001", Role.NURSE, as_json=False)
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from pydantic import ValidationError
from rich.table import Table

from cli.app import CliError, console, print_json, report, run
from client import pathways
from client.connection import connect
from client.pathways import iso
from models.action_fields import (  # noqa: F401  (re-exported: the CLI's names)
    ANY_TIME,
    fields,
    fields_text,
    fill_now,
    naive_times,
    ordered,
)
from models.actions import EVENT_PAYLOADS, parse_action
from models.roles import Role, roles_allowed
from models.validation import readable


def a_or_an(label: str) -> str:
    return f"an {label}" if label[:1] in "aeiou" else f"a {label}"


def action_doc(event: str) -> dict[str, Any]:
    required, optional = fields(event)
    return {
        "event": event,
        "roles": sorted(r.value for r in roles_allowed(event)),
        "required": list(required),
        "optional": list(optional),
    }


def show_allowed_actions(pathway: str, role: Role | None, as_json: bool) -> None:
    async def go() -> Any:
        return await pathways.allowed_actions(await connect(), pathway, role)

    allowed = run(go(), wait=f"asking {pathway}…", pathway=pathway)
    events = ordered(allowed.events)
    if as_json:
        print_json(
            {
                "pathway_id": pathway,
                "state": allowed.state,
                "role": role.value if role else None,
                "actions": [action_doc(e) for e in events],
            }
        )
        return
    who = a_or_an(role.label) if role else "staff"
    console.print(f"{pathway} is at [bold]{allowed.state}[/]; {who} may now:", highlight=False)
    if not events:
        console.print("  nothing" + ("" if role else " (the pathway has ended)"))
        return
    table = Table.grid(padding=(0, 2))
    table.add_column(no_wrap=True)
    table.add_column(overflow="fold")
    for event in events:
        details = fields_text(event)
        if role is None:
            who_may = ", ".join(sorted(r.value for r in roles_allowed(event)))
            details += f"\n[dim]by: {who_may}[/]"
        table.add_row("  " + event, details)
    console.print(table)
    console.print(
        'Date-times: ISO 8601 with a time zone ("2026-03-02T09:30:00+01:00") or "now".',
        highlight=False,
    )


def check_details(event: str, payload: dict[str, Any]) -> dict[str, Any]:
    """Fill ``now``, then refuse (exit 2) details the action cannot take, before sending."""
    model = EVENT_PAYLOADS.get(event)
    if model is None:
        return payload  # not an action: the pathway refuses it with what is possible now
    payload = fill_now(model, payload, iso(datetime.now(UTC)) or "")
    try:
        action = parse_action(event, payload)
    except ValidationError as err:
        raise report(
            CliError(
                f"The details of '{event}' are not valid: {readable(err)}.", rule="MalformedAction"
            ),
            hint=f"'{event}' takes: {fields_text(event) or 'no details'}",
        ) from None
    naive = naive_times(action)
    if naive:
        raise report(
            CliError(
                f"{', '.join(naive)}: give the time zone, e.g. 2026-03-02T09:30:00+01:00 or "
                '2026-03-02T08:30:00Z (or "now").',
                rule="MalformedAction",
            )
        )
    return payload
