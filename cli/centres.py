"""``cellpath centres``: what each centre holds, what it misses, and recording its evidence.

Usage::

    cellpath centres list                          # readiness per therapy, next expiry
    cellpath centres show centre-b                 # evidence, expiries, the whole trail
    cellpath centres check centre-b --therapy car-t   # exit 0 ready, 3 not ready
    cellpath login dr.lefevre                      # the programme lead signs evidence
    cellpath centres record centre-b icu_access \\
        --data '{"name": "Medical ICU B", "valid_until": "2027-06-30"}'
    cellpath centres record centre-b icu_access --withdraw --reason "agreement ended" ...
    cellpath centres load centres/centre-a.yaml    # start a centre's workflow from a file

Exit codes as for ``act``: 0 done (``check``: ready); 2 bad input; 3 refused (``check``: not
ready); 4 no such centre; 5 Temporal unreachable. ``--json`` prints one JSON document. The
work is done by ``client.centres``.
"""

from __future__ import annotations

import uuid
from collections.abc import Coroutine
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any, TypeVar

import typer
from rich.console import Console
from rich.table import Table

from cli.app import EXIT_CODES, State, fail, print_json, run
from cli.inputs import load_mapping, read_text
from cli.login import BY_REMOVED, signed_in
from client.centre_trail import CentreTrail, centre_trail
from client.centres import (
    RECORDABLE,
    CentreView,
    centre_notice,
    centre_view,
    evidence_event,
    list_centres,
    load_centres,
    record_evidence,
)
from client.connection import connect
from client.errors import ActionRefused, BadInput
from client.pathways import iso
from client.records import open_reader
from models.centre_actions import EvidenceReceipt
from models.centre_files import POLICY_FILE, CentreFileError, load_centre_policy
from models.centre_notice import CentreNotice
from models.centre_policy import CentrePolicy
from models.contracts import centre_workflow_id
from models.evidence import when_text
from models.protocol import Therapy
from models.roles import Role
from models.settings import Settings
from workflows import search

T = TypeVar("T")

centres_app = typer.Typer(
    help="Centres: prerequisites per therapy, expiries, readiness; record evidence.",
    no_args_is_help=True,
)
console = Console()


def _run(coro: Coroutine[Any, Any, T], as_json: bool) -> T:
    State.as_json = as_json
    return run(coro)


@centres_app.command("list")
def list_command(as_json: Annotated[bool, typer.Option("--json")] = False) -> None:
    """Centres from Temporal visibility: readiness per therapy and next expiry."""

    async def go() -> list[dict[str, Any]]:
        return await list_centres(await connect())

    rows = _run(go(), as_json)
    if as_json:
        print_json({"centres": [{**r, "next_expiry": iso(r["next_expiry"])} for r in rows]})
        return
    therapies = list(search.CENTRE_READY)
    table = Table("centre", *(f"ready {t}" for t in therapies), "next expiry (UTC)")
    for r in rows:
        flags = [
            "[green]yes[/]" if r["ready"].get(t) else "[red]no[/]" if t in r["ready"] else ""
            for t in therapies
        ]
        nxt = r["next_expiry"]
        table.add_row(
            r["centre"] or r["workflow_id"], *flags, f"{nxt:%Y-%m-%d %H:%M}" if nxt else ""
        )
    console.print(table)
    console.print(f"{len(rows)} centre(s)")


def _status(valid_until: datetime, now: datetime, policy: CentrePolicy) -> str:
    if valid_until <= now:
        return "lapsed"
    if valid_until - now <= policy.warn_before:
        return "expiring"
    return "current"


@centres_app.command()
def show(
    centre: Annotated[str, typer.Argument(help="Centre ID, e.g. centre-a")],
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """A centre: readiness per therapy, each piece of evidence and its expiry, and its whole
    trail (alerts, evidence audit): earlier runs from the record store, the current run
    from its workflow."""

    async def go() -> tuple[CentreView, CentreTrail]:
        view = await centre_view(await connect(), centre)
        return view, await centre_trail(view, reader=open_reader())

    view, trail = _run(go(), as_json)
    record, policy, notice = view.record, view.policy, view.notice
    now = datetime.now(UTC)
    items = record.centre.items()
    if as_json:
        print_json(
            {
                "centre": record.centre.id,
                "name": record.centre.name,
                "readiness": [r.model_dump(mode="json") for r in notice.readiness],
                "tocilizumab_doses": notice.tocilizumab_doses,
                "evidence": [
                    {
                        "item": i.key,
                        "label": i.label,
                        "valid_until": iso(i.valid_until),
                        "status": _status(i.valid_until, now, policy),
                    }
                    for i in items
                ],
                "read": trail.said(),
                "chain_intact": not trail.problems and trail.store_error is None,
                "chain_problems": [str(p) for p in trail.problems],
                "alerts": [a.model_dump(mode="json") for a in trail.alerts],
                "audit": [e.model_dump(mode="json") for e in trail.audit],
            }
        )
        return
    console.print(f"[bold]{record.centre.id}[/]  {record.centre.name}")
    for r in notice.readiness:
        if r.ready:
            console.print(f"{r.therapy.value}: [green]ready[/]")
        else:
            console.print(f"{r.therapy.value}: [red]not ready[/] — {r.missing_text()}")
    table = Table("evidence", "item", "valid until (UTC)", "status", title="evidence on file")
    style = {"lapsed": "red", "expiring": "yellow", "current": ""}
    for i in sorted(items, key=lambda i: i.valid_until):
        status = _status(i.valid_until, now, policy)
        table.add_row(
            i.label, i.key, f"{i.valid_until:%Y-%m-%d %H:%M}", status, style=style[status]
        )
    console.print(table)
    if trail.alerts:
        alerts = Table("#", "when (UTC)", "alert", title="alerts")
        for a in trail.alerts:
            alerts.add_row(
                str(a.seq), f"{a.at:%Y-%m-%d %H:%M}", f"{a.kind.value}: {a.text(policy)}"
            )
        console.print(alerts)
    if trail.audit:
        audit = Table("#", "when (UTC)", "action", "item", "by", "role", title="evidence audit")
        for e in trail.audit:
            audit.add_row(
                str(e.seq), f"{e.at:%Y-%m-%d %H:%M}", e.event, e.item, e.actor, e.role.label
            )
        console.print(audit)
    console.print(f"Read: {trail.said()}.", highlight=False)
    for problem in trail.problems:
        console.print(f"[red]audit chain:[/] {problem}", highlight=False)


@centres_app.command()
def check(
    centre: Annotated[str, typer.Argument(help="Centre ID, e.g. centre-b")],
    therapy: Annotated[Therapy | None, typer.Option(help="Only this therapy.")] = None,
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """Is the centre ready (for THERAPY, or for every therapy)? Exit 0 ready, 3 not."""

    async def go() -> CentreNotice:
        return await centre_notice(await connect(), centre)

    notice = _run(go(), as_json)
    wanted = [notice.for_therapy(therapy)] if therapy else notice.readiness
    ready = all(r.ready for r in wanted)
    if as_json:
        print_json(
            {
                "centre": notice.centre,
                "ready": ready,
                "as_of": iso(notice.as_of),
                "tocilizumab_doses": notice.tocilizumab_doses,
                "readiness": [r.model_dump(mode="json") for r in wanted],
            }
        )
    else:
        for r in wanted:
            if r.ready:
                console.print(f"{notice.centre} {r.therapy.value}: [green]ready[/]")
            else:
                console.print(f"{notice.centre} {r.therapy.value}: [red]not ready[/]")
                for m in r.missing:
                    console.print(f"  - {m.text()}", highlight=False)
            for e in r.expiring:
                console.print(
                    f"  expiring: {e.label} on {when_text(e.valid_until)}", highlight=False
                )
    if not ready:
        raise typer.Exit(EXIT_CODES[ActionRefused.outcome])


@centres_app.command()
def record(
    centre: Annotated[str, typer.Argument(help="Centre ID, e.g. centre-b")],
    what: Annotated[
        str,
        typer.Argument(
            help=f"What is recorded: {', '.join(RECORDABLE)}; with --withdraw, an item key "
            "(icu_access, trial:CARLUP-01, staff:dr.roux:cell_therapy_specialist…)."
        ),
    ],
    by: Annotated[
        str | None, typer.Option("--by", hidden=True, help="Removed: `cellpath login`.")
    ] = None,
    role: Annotated[
        Role | None,
        typer.Option("--role", envvar="CELLPATH_ROLE", help="Which of your roles."),
    ] = None,
    data: Annotated[
        str | None, typer.Option(help="The evidence: JSON/YAML object or @FILE")
    ] = None,
    reason: Annotated[str | None, typer.Option()] = None,
    withdraw: Annotated[
        bool, typer.Option("--withdraw", help="Withdraw the item (needs --reason).")
    ] = False,
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """Record a centre's evidence (or withdraw it), signed as the person signed in
    (`cellpath login`); refused with the rule if invalid."""
    if by is not None:
        raise fail(BY_REMOVED)
    me = signed_in(role)
    payload: dict[str, Any] = {"actor": me.actor, "role": me.role.value}
    if reason:
        payload["reason"] = reason
    try:
        event = evidence_event(what, withdraw=withdraw)
    except BadInput as err:
        raise fail(err.message) from None
    if withdraw:
        payload["item"] = what
    else:
        payload["evidence"] = _read_data(data)

    key = str(uuid.uuid4())
    payload["assertion"] = me.sign(centre_workflow_id(centre), event, key)

    async def go() -> EvidenceReceipt:
        return await record_evidence(await connect(), centre, event, payload, update_id=key)

    receipt = _run(go(), as_json)
    if as_json:
        print_json(receipt.model_dump(mode="json"))
        return
    ready = ", ".join(
        f"{t.value} {'ready' if ok else 'NOT ready'}" for t, ok in receipt.ready.items()
    )
    console.print(f"[green]done[/]: {event} ({receipt.item}) at {receipt.centre} — {ready}")


@centres_app.command()
def load(
    files: Annotated[list[Path], typer.Argument(help="Centre files (YAML), e.g. centres/*.yaml")],
    policy_file: Annotated[
        Path | None, typer.Option("--policy", help="Centre policy (default centres/policy.yaml)")
    ] = None,
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """Start the workflow of each centre file; a centre already running is left as it is."""
    try:
        policy = load_centre_policy(policy_file)
    except CentreFileError as err:
        raise fail(str(err)) from None
    settings = Settings.from_env()

    async def go() -> dict[str, str]:
        return await load_centres(
            await connect(),
            settings.task_queue,
            files=[f for f in files if f.name != POLICY_FILE],
            policy=policy,
        )

    results = _run(go(), as_json)
    if as_json:
        print_json({"centres": results})
        return
    for centre, result in results.items():
        console.print(f"{centre}: {result}")


def _read_data(value: str | None) -> dict[str, Any]:
    """The evidence of ``--data``: a JSON/YAML object, inline or ``@FILE`` (read as the
    pathway actions' details are: the same size limit, encoding and YAML checks)."""
    if not value:
        raise fail("give the evidence: --data JSON/YAML object or @FILE")
    fits = "evidence fits in a few KB"
    text = read_text(value[1:], "the evidence file", fits) if value.startswith("@") else value
    return load_mapping(text, "--data", fits, example='{"valid_until": "2027-06-30"}')
