"""``cellpath centres``: what each centre holds, what it misses, and recording its evidence.

Usage::

    cellpath centres list                          # readiness per therapy, next expiry
    cellpath centres show centre-b                 # evidence, expiries, alerts, audit
    cellpath centres check centre-b --therapy car-t   # exit 0 ready, 3 not ready
    cellpath centres record centre-b icu_access --by lead.dupont --role programme_lead \\
        --data '{"name": "Medical ICU B", "valid_until": "2027-06-30"}'
    cellpath centres record centre-b icu_access --withdraw --reason "agreement ended" ...
    cellpath centres load centres/centre-a.yaml    # start a centre's workflow from a file

Exit codes as for ``act``: 0 done (``check``: ready); 2 bad input; 3 refused (``check``: not
ready); 4 no such centre; 5 Temporal unreachable. ``--json`` prints one JSON document.

The client-side operations (``load_centres``, ``record_evidence``, ``centre_view``) are used
by the demo and tests too.
"""

from __future__ import annotations

import json
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any

import typer
from pydantic import BaseModel, ValidationError
from rich.console import Console
from rich.table import Table
from temporalio.client import Client, WorkflowHandle, WorkflowUpdateFailedError
from temporalio.common import SearchAttributePair, TypedSearchAttributes, WorkflowIDConflictPolicy
from temporalio.exceptions import ApplicationError, WorkflowAlreadyStartedError
from temporalio.service import RPCError, RPCStatusCode

from cli import operations
from models.centre_actions import CENTRE_EVENTS, EvidenceReceipt, parse_centre_action
from models.centre_files import (
    CENTRE_DIR,
    POLICY_FILE,
    CentreFileError,
    centre_files,
    load_centre,
    load_centre_policy,
)
from models.centre_notice import CentreNotice
from models.centre_policy import CentrePolicy
from models.centre_record import CentreInput, CentreRecord
from models.contracts import centre_workflow_id
from models.evidence import Centre, when_text
from models.protocol import Therapy
from models.readiness import readiness
from models.roles import Role
from models.settings import Settings
from models.validation import readable
from workflows import search
from workflows.centre import CentreWorkflow

centres_app = typer.Typer(
    help="Centres: prerequisites per therapy, expiries, readiness; record evidence.",
    no_args_is_help=True,
)
console = Console()

#: what ``centres record`` accepts (the update is ``record_<what>``)
RECORDABLE = [e.removeprefix("record_") for e in CENTRE_EVENTS if e.startswith("record_")]


# ----- operations ------------------------------------------------------------------------
class CentreView(BaseModel):
    """Everything ``centres show`` prints."""

    record: CentreRecord
    policy: CentrePolicy
    notice: CentreNotice


def _handle(client: Client, centre: str) -> WorkflowHandle[Any, Any]:
    return client.get_workflow_handle(centre_workflow_id(centre))


def _not_found(err: RPCError, centre: str) -> operations.OperationError:
    if err.status == RPCStatusCode.NOT_FOUND:
        return operations.CentreNotFound(f"No centre {centre}.", kind="UnknownCentre")
    return operations.OperationError(err.message)


def initial_search_attributes(centre: Centre, policy: CentrePolicy) -> TypedSearchAttributes:
    now = datetime.now(UTC)
    pairs: list[SearchAttributePair[Any]] = [SearchAttributePair(search.CENTRE, centre.id)]
    for therapy in policy.requirements:
        key = search.CENTRE_READY.get(therapy.value)
        if key is not None:
            pairs.append(SearchAttributePair(key, readiness(centre, policy, therapy, now).ready))
    return TypedSearchAttributes(pairs)


async def start_centre(
    client: Client, centre: Centre, policy: CentrePolicy, *, task_queue: str
) -> bool:
    """Start the centre's workflow; False when it already runs (it is left as it is)."""
    try:
        await client.start_workflow(
            CentreWorkflow.run,
            CentreInput(policy=policy, centre=centre),
            id=centre_workflow_id(centre.id),
            task_queue=task_queue,
            id_conflict_policy=WorkflowIDConflictPolicy.FAIL,
            search_attributes=initial_search_attributes(centre, policy),
            static_summary=f"Centre {centre.id} · {centre.name}",
        )
    except WorkflowAlreadyStartedError:
        return False
    return True


def centre_policy(
    directory: Path | None = None, *, seconds_per_day: float | None = None
) -> CentrePolicy:
    """The policy next to the centre files (``policy.yaml``), compressed if asked."""
    path = (directory or CENTRE_DIR) / POLICY_FILE
    policy = load_centre_policy(path if path.exists() else None)
    return policy.compressed(seconds_per_day=seconds_per_day) if seconds_per_day else policy


async def load_centres(
    client: Client,
    task_queue: str,
    *,
    files: list[Path] | None = None,
    policy: CentrePolicy | None = None,
    seconds_per_day: float | None = None,
) -> dict[str, str]:
    """Start a workflow per centre file (default: the demo centres in ``centres/``);
    one that already runs is left as it is. Relative dates in the files follow the
    policy's clock. Returns ``{centre_id: "started" | "exists"}``."""
    policy = policy or centre_policy(seconds_per_day=seconds_per_day)
    now = datetime.now(UTC)
    results = {}
    for path in files if files is not None else centre_files():
        centre = load_centre(path, now=now, time_scale=policy.time_scale)
        started = await start_centre(client, centre, policy, task_queue=task_queue)
        results[centre.id] = "started" if started else "exists"
    return results


async def centre_view(client: Client, centre: str) -> CentreView:
    handle = _handle(client, centre)
    try:
        record = await handle.query(CentreWorkflow.get_record)
        policy = await handle.query(CentreWorkflow.get_policy)
    except RPCError as err:
        raise _not_found(err, centre) from None
    notice = await operations.centre_notice(client, centre)
    return CentreView(record=record, policy=policy, notice=notice)


def evidence_event(what: str, *, withdraw: bool = False) -> str:
    if withdraw:
        return "withdraw_evidence"
    event = what if what.startswith("record_") else f"record_{what}"
    if event not in CENTRE_EVENTS:
        raise operations.BadInput(
            f"'{what}' is not centre evidence. Possible: {', '.join(RECORDABLE)} "
            "(or an item key with --withdraw).",
            kind="UnknownEvent",
        )
    return event


async def record_evidence(
    client: Client,
    centre: str,
    event: str,
    data: dict[str, Any],
    *,
    update_id: str | None = None,
) -> EvidenceReceipt:
    """Send one piece of evidence; ``ActionRefused`` says which rule refused it."""
    try:
        parse_centre_action(event, data)
    except KeyError:
        pass  # unknown events are refused by the workflow, with what is possible
    except ValidationError as err:
        raise operations.BadInput(
            f"The evidence for '{event}' is not valid: {readable(err)}.",
            kind="MalformedEvidence",
        ) from None
    try:
        return await _handle(client, centre).execute_update(
            event, data, id=update_id, result_type=EvidenceReceipt
        )
    except WorkflowUpdateFailedError as err:
        cause = err.cause
        if isinstance(cause, ApplicationError):
            raise operations.ActionRefused(cause.message, kind=cause.type) from None
        raise operations.ActionRefused(str(cause or err)) from None
    except RPCError as err:
        raise _not_found(err, centre) from None


async def list_centres(client: Client) -> list[dict[str, Any]]:
    query = 'WorkflowType = "CentreWorkflow" AND ExecutionStatus = "Running"'
    rows = []
    async for wf in client.list_workflows(query):
        sa = wf.typed_search_attributes
        rows.append(
            {
                "centre": sa.get(search.CENTRE),
                "workflow_id": wf.id,
                "ready": {
                    therapy: sa.get(key)
                    for therapy, key in search.CENTRE_READY.items()
                    if sa.get(key) is not None
                },
                "next_expiry": sa.get(search.CENTRE_NEXT_EXPIRY),
            }
        )
    return sorted(rows, key=lambda r: str(r["centre"]))


# ----- commands --------------------------------------------------------------------------
def _run(coro: Any, as_json: bool) -> Any:
    # Imported when called: cli.main imports this module to add the sub-app.
    from cli import main

    main.State.as_json = as_json
    return main.run(coro)


def _fail(message: str, code: int = 2) -> typer.Exit:
    from cli import main

    return main.fail(message, code)


async def _client() -> Client:
    from worker import connect

    return await connect()


def _print_json(data: Any) -> None:
    sys.stdout.write(json.dumps(data, indent=2, ensure_ascii=False, default=str) + "\n")


def _iso(value: datetime | None) -> str | None:
    return value.astimezone(UTC).isoformat().replace("+00:00", "Z") if value else None


@centres_app.command("list")
def list_command(as_json: Annotated[bool, typer.Option("--json")] = False) -> None:
    """Centres from Temporal visibility: readiness per therapy and next expiry."""

    async def go() -> list[dict[str, Any]]:
        return await list_centres(await _client())

    rows = _run(go(), as_json)
    if as_json:
        _print_json({"centres": [{**r, "next_expiry": _iso(r["next_expiry"])} for r in rows]})
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
    """A centre: readiness per therapy, each piece of evidence and its expiry, alerts."""

    async def go() -> CentreView:
        return await centre_view(await _client(), centre)

    view = _run(go(), as_json)
    record, policy, notice = view.record, view.policy, view.notice
    now = datetime.now(UTC)
    items = record.centre.items()
    if as_json:
        _print_json(
            {
                "centre": record.centre.id,
                "name": record.centre.name,
                "readiness": [r.model_dump(mode="json") for r in notice.readiness],
                "tocilizumab_doses": notice.tocilizumab_doses,
                "evidence": [
                    {
                        "item": i.key,
                        "label": i.label,
                        "valid_until": _iso(i.valid_until),
                        "status": _status(i.valid_until, now, policy),
                    }
                    for i in items
                ],
                "alerts": [a.model_dump(mode="json") for a in record.alerts[-20:]],
                "audit": [e.model_dump(mode="json") for e in record.audit[-10:]],
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
    if record.alerts:
        alerts = Table("when (UTC)", "alert", title="last alerts")
        for a in record.alerts[-8:]:
            alerts.add_row(f"{a.at:%Y-%m-%d %H:%M}", f"{a.kind.value}: {a.text(policy)}")
        console.print(alerts)
    if record.audit:
        audit = Table("#", "when (UTC)", "action", "item", "by", "role", title="last evidence")
        for e in record.audit[-8:]:
            audit.add_row(
                str(e.seq), f"{e.at:%Y-%m-%d %H:%M}", e.event, e.item, e.actor, e.role.label
            )
        console.print(audit)


@centres_app.command()
def check(
    centre: Annotated[str, typer.Argument(help="Centre ID, e.g. centre-b")],
    therapy: Annotated[Therapy | None, typer.Option(help="Only this therapy.")] = None,
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """Is the centre ready (for THERAPY, or for every therapy)? Exit 0 ready, 3 not."""

    async def go() -> CentreNotice:
        return await operations.centre_notice(await _client(), centre)

    notice = _run(go(), as_json)
    wanted = [notice.for_therapy(therapy)] if therapy else notice.readiness
    ready = all(r.ready for r in wanted)
    if as_json:
        _print_json(
            {
                "centre": notice.centre,
                "ready": ready,
                "as_of": _iso(notice.as_of),
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
        raise typer.Exit(operations.ActionRefused.code)


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
    by: Annotated[str | None, typer.Option("--by", envvar="CELLPATH_USER")] = None,
    role: Annotated[Role | None, typer.Option("--role", envvar="CELLPATH_ROLE")] = None,
    data: Annotated[
        str | None, typer.Option(help="The evidence: JSON/YAML object or @FILE")
    ] = None,
    reason: Annotated[str | None, typer.Option()] = None,
    withdraw: Annotated[
        bool, typer.Option("--withdraw", help="Withdraw the item (needs --reason).")
    ] = False,
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """Record a centre's evidence (or withdraw it); refused with the rule if invalid."""
    if not by or role is None:
        raise _fail("say who acts: --by USER --role ROLE (or CELLPATH_USER / CELLPATH_ROLE)")
    payload: dict[str, Any] = {"actor": by, "role": role.value}
    if reason:
        payload["reason"] = reason
    try:
        event = evidence_event(what, withdraw=withdraw)
    except operations.OperationError as err:
        raise _fail(err.message, err.code) from None
    if withdraw:
        payload["item"] = what
    else:
        payload["evidence"] = _read_data(data)

    async def go() -> EvidenceReceipt:
        return await record_evidence(await _client(), centre, event, payload)

    receipt = _run(go(), as_json)
    if as_json:
        _print_json(receipt.model_dump(mode="json"))
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
        raise _fail(str(err)) from None
    settings = Settings.from_env()

    async def go() -> dict[str, str]:
        return await load_centres(
            await _client(),
            settings.task_queue,
            files=[f for f in files if f.name != POLICY_FILE],
            policy=policy,
        )

    results = _run(go(), as_json)
    if as_json:
        _print_json({"centres": results})
        return
    for centre, result in results.items():
        console.print(f"{centre}: {result}")


def _read_data(value: str | None) -> dict[str, Any]:
    """The evidence of ``--data``: a JSON/YAML object, inline or ``@FILE`` (read as the
    pathway actions' details are: the same size limit, encoding and YAML checks)."""
    if not value:
        raise _fail("give the evidence: --data JSON/YAML object or @FILE")
    from cli.main import _load_mapping, _read_text

    fits = "evidence fits in a few KB"
    text = _read_text(value[1:], "the evidence file", fits) if value.startswith("@") else value
    return _load_mapping(text, "--data", fits, example='{"valid_until": "2027-06-30"}')
