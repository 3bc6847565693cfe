"""The pathway commands: ``refer``, ``act``, ``show``, ``list`` and ``diagram``; each parses
its arguments, calls ``client.pathways`` and hands the answer to ``cli.rendering``.

Usage::

    cellpath refer docs/examples/referral.yaml
    cellpath act PATHWAY --help-events --role ard_specialist
    cellpath login dr.martin
    cellpath act PATHWAY record_consent
    cellpath list --overdue --json

With ``--json`` every call writes exactly one JSON document on stdout, an ``{"error": …}``
document when it fails (docs/cli.md lists every field).
"""

from __future__ import annotations

import asyncio
import difflib
import re
import sys
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Annotated, Any

import typer
from pydantic import ValidationError
from temporalio.client import Client

from cli.action_fields import a_or_an, check_details, ordered, show_allowed_actions
from cli.app import State, console, err_console, fail, print_json, report, run
from cli.inputs import ECHO_LIMIT, check_pathway_id, echo, load_mapping, read_text
from cli.login import BY_REMOVED, CosignerOption, signed_in
from cli.records import list_closed
from cli.rendering import print_pathways, print_show, receipt_document, show_document
from client import pathways, records
from client.connection import connect
from client.diagrams import FORMATS, DiagramToolMissing, render
from client.errors import ActionRefused, OperationError
from models.actions import EVENT_PAYLOADS
from models.contracts import CENTRE_ID
from models.protocol import Therapy
from models.referral import Referral
from models.roles import Role
from models.settings import Settings
from models.validation import readable
from states.registry import all_state_ids

# Hour-scale windows (thaw to infusion: 90 min) on a training clock stay long enough for
# a person to type the next command.
TRAINING_FLOOR = timedelta(minutes=5)

ROLE_NAMES = ", ".join(r.value for r in Role)

# An event name the pathway could know (it answers an unknown one with what is possible now);
# anything else is refused here, before it travels.
EVENT_NAME = re.compile(r"[a-z][a-z_]{1,63}")
MAX_UPDATE_ID = 200


def refer(
    file: Annotated[
        str, typer.Argument(metavar="FILE|-", help="Referral file (JSON or YAML), or - for stdin.")
    ],
    seconds_per_day: Annotated[
        float | None,
        typer.Option(
            "--seconds-per-day",
            metavar="SECONDS",
            min=0.01,
            help="Training and demos only: run this pathway's protocol on a compressed "
            "clock where one protocol day lasts SECONDS (never for a real patient).",
        ),
    ] = None,
    icd10: Annotated[
        str | None,
        typer.Option("--icd10", metavar="CODE", help="The disease's ICD-10 code (e.g. M32.1)."),
    ] = None,
    orpha: Annotated[
        str | None,
        typer.Option("--orpha", metavar="CODE", help="The disease's ORPHA code (ORPHA:536)."),
    ] = None,
    protocol_id: Annotated[
        str | None,
        typer.Option(
            "--protocol",
            metavar="ID",
            help="The protocol to follow; without it (and without protocol_id in the file), "
            "the one protocol that matches the therapy and the disease codes.",
        ),
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Start a pathway from a referral; prints the pathway ID.

    The referral needs the disease's ICD-10 and/or ORPHA code (in the file, or --icd10 /
    --orpha); it is refused when no protocol, or several, match its therapy and disease."""
    State.as_json = as_json
    # A range check written so that nan fails it too (click's min= lets nan through).
    if seconds_per_day is not None and not 0.01 <= seconds_per_day <= 86400:
        raise fail("--seconds-per-day must be between 0.01 and 86400 seconds (one real day)")
    what = "the referral on stdin" if file == "-" else f"the referral file {file}"
    raw = load_mapping(read_text(file, "the referral file"), what)
    given = {"icd10": icd10, "orpha": orpha, "protocol_id": protocol_id}
    raw.update({key: value for key, value in given.items() if value is not None})
    try:
        referral = Referral.model_validate(raw)
    except ValidationError as err:
        raise fail(f"{what} is not valid: {readable(err)}", kind="BadInput") from None
    settings = Settings.from_env()

    async def go() -> Any:
        protocol = pathways.protocol_for(referral)
        if seconds_per_day is not None:
            protocol = protocol.compressed(seconds_per_day=seconds_per_day, floor=TRAINING_FLOOR)
        client = await connect()
        await pathways.refer(client, referral, task_queue=settings.task_queue, protocol=protocol)
        return protocol

    protocol = run(go())
    if as_json:
        print_json(
            {
                "pathway_id": referral.pathway_id,
                "state": "referred",
                "protocol_id": protocol.id,
                "seconds_per_day": seconds_per_day,
            }
        )
        return
    console.print(referral.pathway_id, highlight=False)
    if seconds_per_day is not None:
        err_console.print(
            f"training clock: one protocol day lasts {seconds_per_day:g} s", highlight=False
        )
    err_console.print(
        f"next: cellpath show {referral.pathway_id}\n"
        f"      cellpath act {referral.pathway_id} --help-events --role ard_specialist",
        highlight=False,
    )


def act(
    pathway: Annotated[
        str, typer.Argument(metavar="PATHWAY", help="Pathway ID, e.g. pathway-centre-a-LUP-001")
    ],
    event: Annotated[
        str | None, typer.Argument(metavar="EVENT", help="Action, e.g. approve_at_mdtm")
    ] = None,
    by: Annotated[
        str | None,
        typer.Option("--by", metavar="USER", hidden=True, help="Removed: `cellpath login`."),
    ] = None,
    role: Annotated[
        Role | None,
        typer.Option(
            "--role",
            metavar="ROLE",
            envvar="CELLPATH_ROLE",
            case_sensitive=False,
            help=f"Which of your roles (when you hold several): {ROLE_NAMES}.",
        ),
    ] = None,
    data: Annotated[
        str | None,
        typer.Option(
            metavar="JSON|@FILE",
            help='The action\'s details, e.g. \'{"visit": "M3"}\'; date-times may be "now".',
        ),
    ] = None,
    reason: Annotated[
        str | None, typer.Option(metavar="TEXT", help="Why (required by hold, withdraw…).")
    ] = None,
    update_id: Annotated[
        str | None,
        typer.Option(
            "--update-id",
            metavar="ID",
            help="Idempotency key: the same action sent again with the same ID applies once.",
        ),
    ] = None,
    help_events: Annotated[
        bool, typer.Option("--help-events", help="List what ROLE may do now, with the details.")
    ] = False,
    cosigner: CosignerOption = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Send a staff action to a pathway (or list what is possible now: --help-events)."""
    State.as_json = as_json
    check_pathway_id(pathway)
    if help_events:
        show_allowed_actions(pathway, role, as_json)
        return
    if event is None:
        raise fail("give an EVENT (or --help-events --role ROLE to list what is possible now)")
    if event not in EVENT_PAYLOADS and not EVENT_NAME.fullmatch(event):
        close = difflib.get_close_matches(event[:ECHO_LIMIT], list(EVENT_PAYLOADS), n=1)
        raise fail(
            f"{echo(event)} is not a pathway action"
            + (f" (did you mean {close[0]}?)" if close else "")
            + f"; `cellpath act {pathway} --help-events` lists what is possible now",
            kind="UnknownEvent",
        )
    if update_id is not None and not (
        0 < len(update_id) <= MAX_UPDATE_ID and update_id.isprintable()
    ):
        raise fail(f"--update-id must be 1 to {MAX_UPDATE_ID} printable characters")
    if by is not None:
        raise fail(BY_REMOVED)
    me = signed_in(role)
    role = me.role
    text = None
    if data:
        text = read_text(data[1:], "the --data file") if data.startswith("@") else data
    details = load_mapping(text, "--data") if text else {}
    payload = {**details, "actor": me.actor, "role": role.value}
    if reason:
        payload["reason"] = reason
    payload = check_details(event, payload)
    key, payload = me.signed(payload, pathway, event, update_id, cosigner)

    async def go() -> Any:
        client = await connect()
        try:
            return await pathways.act(client, pathway, event, payload, update_id=key)
        except ActionRefused as refused:
            return Refused(refused, await allowed_after(client, pathway, role, refused))

    receipt = run(
        go(),
        wait=f"sending {event} to {pathway}…",
        pathway=pathway,
        timeout_hint=f"The action may still be applied once a worker picks it up: to retry, "
        f"send it again with --update-id {key} so that it applies at most once.",
    )
    if isinstance(receipt, Refused):
        raise report(
            receipt.refusal,
            hint=refusal_hint(receipt, event, role),
            allowed_now=receipt.allowed_now,
        )
    if as_json:
        print_json(receipt_document(receipt))
        return
    applied = f"{receipt.at.astimezone(UTC):%Y-%m-%d %H:%M:%S} UTC"
    note = f" (already applied at {applied}: nothing changed)" if receipt.duplicate else ""
    nxt = ", ".join(ordered(receipt.allowed_next)) or "nothing, the pathway has ended"
    console.print(
        f"[green]done[/]: {event} — {receipt.from_state} → [bold]{receipt.state}[/]{note}",
        highlight=False,
    )
    console.print(f"possible now: {nxt}", highlight=False, soft_wrap=True)


@dataclass(frozen=True)
class Refused:
    """An action refused by the pathway, and what the role may do instead (if it answered)."""

    refusal: ActionRefused
    allowed_now: list[str] | None


async def allowed_after(
    client: Client, pathway: str, role: Role, refused: ActionRefused
) -> list[str] | None:
    """What this role may do now, asked after a refusal (``None`` if the pathway ended)."""
    if refused.rule == "PathwayEnded":
        return None
    try:
        found = await asyncio.wait_for(
            pathways.allowed_actions(client, pathway, role), min(5.0, State.timeout)
        )
    except (OperationError, TimeoutError):
        return None  # the refusal stands on its own
    return ordered(found.events)


def refusal_hint(refused: Refused, event: str, role: Role) -> str:
    """The rule, what this role may send now, and the event meant if it was misspelt."""
    hint = f"rule: {refused.refusal.rule}"
    if refused.allowed_now is not None:
        hint += (
            f"; {a_or_an(role.label)} may now send: {', '.join(refused.allowed_now) or 'nothing'}"
        )
    if refused.refusal.rule == "UnknownEvent":
        close = difflib.get_close_matches(event, list(EVENT_PAYLOADS), n=1)
        if close:
            hint += f"; did you mean {close[0]}?"
    return hint


def show(
    pathway: Annotated[str, typer.Argument(metavar="PATHWAY")],
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """A pathway: state, binôme, key dates, open deadlines, last actions, what is possible."""
    State.as_json = as_json
    check_pathway_id(pathway)

    async def go() -> records.PathwayRead:
        return await records.read_pathway(await connect(), pathway, reader=records.open_reader())

    read = run(go(), wait=f"asking {pathway}…", pathway=pathway)
    doc = show_document(read.record, read.status, read.allowed, datetime.now(UTC))
    doc["preparation"] = [t.model_dump(mode="json") for t in read.preparation]
    doc["source"] = read.source.value
    if as_json:
        print_json(doc)
        return
    print_show(doc, read.record, ordered(read.allowed))
    err_console.print(f"({read.source.said})", highlight=False)


def known_states() -> list[str]:
    return all_state_ids()


def list_pathways(
    state: Annotated[str | None, typer.Option(metavar="STATE", help="e.g. awaiting_mdtm")] = None,
    therapy: Annotated[str | None, typer.Option(metavar="car-t|msc")] = None,
    centre: Annotated[str | None, typer.Option(metavar="CENTRE", help="e.g. centre-a")] = None,
    overdue: Annotated[bool, typer.Option("--overdue", help="Only overdue pathways.")] = False,
    closed: Annotated[bool, typer.Option("--closed", help="Closed, from the store.")] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Pathways from Temporal visibility (search attributes); needs no worker. ``--closed``:
    the pathways that closed, from the record store (kept beyond Temporal's retention)."""
    State.as_json = as_json
    if therapy is not None:
        therapy = {"cart": "car-t"}.get(therapy.lower(), therapy.lower())
        if therapy not in {t.value for t in Therapy}:
            raise fail(f"--therapy must be one of {', '.join(t.value for t in Therapy)}")
    if state is not None and state not in known_states():
        close = difflib.get_close_matches(state, known_states(), n=1)
        raise fail(
            f"unknown state {state!r}"
            + (f" (did you mean {close[0]}?)" if close else "")
            + f"; states: {', '.join(known_states())}"
        )
    if centre is not None and not CENTRE_ID.fullmatch(centre):
        raise fail(f"invalid centre {centre!r}: e.g. centre-a")
    if closed:
        return list_closed(centre, as_json=as_json)
    query = pathways.list_query(state=state, therapy=therapy, centre=centre, overdue=overdue)

    async def go() -> list[dict[str, Any]]:
        return await pathways.list_pathways(await connect(), query)

    rows = run(go(), wait="searching…")
    if as_json:
        print_json({"query": query, "pathways": rows})
        return
    print_pathways(rows, overdue=overdue)


def diagram(
    chart: Annotated[
        str,
        typer.Argument(
            metavar="cart|msc|PATHWAY", help="A chart, or a pathway ID (its state highlighted)."
        ),
    ],
    fmt: Annotated[
        str, typer.Option("--format", metavar="FORMAT", help="mermaid, dot, svg or png")
    ] = "mermaid",
    output: Annotated[Path | None, typer.Option("-o", "--output", metavar="FILE")] = None,
) -> None:
    """Draw a pathway chart from the code itself; for a pathway, its current state is marked."""
    if fmt not in FORMATS:
        raise fail(f"--format must be one of {', '.join(FORMATS)}")
    if fmt == "png" and output is None:
        raise fail("png is binary: give -o FILE")
    active = None
    name = chart
    if chart.startswith("pathway-"):
        check_pathway_id(chart)

        async def go() -> Any:
            return await records.read_record(await connect(), chart, reader=records.open_reader())

        record, _ = run(go(), wait=f"asking {chart}…", pathway=chart)
        name, active = record.therapy.value, record.configuration
    try:
        out = render(name, fmt, active=active)
    except DiagramToolMissing as err:
        raise report(OperationError(str(err), kind="ToolMissing")) from None
    except ValueError as err:
        raise fail(str(err)) from None
    if output:
        output.write_bytes(out if isinstance(out, bytes) else out.encode())
        err_console.print(f"wrote {output}", highlight=False)
    else:
        text = out.decode() if isinstance(out, bytes) else out
        sys.stdout.write(text if text.endswith("\n") else text + "\n")
