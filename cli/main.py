"""The ``cellpath`` command: operations staff start, advance and watch pathways.

Usage::

    cellpath refer docs/examples/referral.yaml
    cellpath act PATHWAY --help-events --role ard_specialist
    cellpath act PATHWAY record_consent --by dr.martin --role ard_specialist
    cellpath list --overdue --json

Exit codes: 0 done; 1 anything else (no worker answered, dev stack failed…); 2 bad usage or
input; 3 action refused; 4 no such pathway; 5 Temporal unreachable. ``--debug`` shows
tracebacks. With ``--json`` every call writes exactly one JSON document on stdout, an
``{"error": …}`` document when it fails (docs/cli.md lists every field).
"""

from __future__ import annotations

import asyncio
import difflib
import json
import os
import re
import sys
import traceback
import types
import typing
import uuid
from collections.abc import Coroutine
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Annotated, Any, TypeVar

import typer
import yaml
from pydantic import AwareDatetime, BaseModel, ValidationError
from rich import box
from rich.console import Console
from rich.markup import escape
from rich.table import Table
from temporalio.client import WorkflowUpdateRPCTimeoutOrCancelledError
from temporalio.service import RPCError, RPCStatusCode

from cli import operations
from cli.devstack import DevStackError
from cli.logs import configure_logging
from models.actions import EVENT_PAYLOADS, parse_action
from models.durations import humanize
from models.encryption import DEV_KEY_FILE, EncryptionError
from models.pathway import ActionReceipt
from models.protocol import ProtocolFileError, Therapy
from models.record import AuditEntry, PathwayRecord
from models.referral import PATHWAY_ID, Referral
from models.roles import Role, roles_allowed
from models.settings import Settings
from models.validation import readable


class _App(typer.Typer):
    """The ``cellpath`` entry point: ends the process without interpreter teardown.

    The Temporal client's Rust threads can outlive the event loop, and CPython's
    finalization then sometimes aborts the process (SIGABRT, "PyGILState_Release … must be
    current", temporalio/sdk-python#300), turning exit code 0 into -6. Once the command is
    done and the output flushed there is nothing left to tear down, so exit directly.
    """

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        code: int = 0
        try:
            super().__call__(*args, **kwargs)
        except SystemExit as done:
            if isinstance(done.code, int):
                code = done.code
            elif done.code is not None:
                sys.stderr.write(f"{done.code}\n")
                code = 1
        except KeyboardInterrupt:
            code = 130
        except BaseException:
            traceback.print_exc()
            code = 1
        _exit_now(code)


def _exit_now(code: int) -> None:
    import logging

    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError):
            pass  # a closed pipe (`cellpath list | head`) has nothing more to take
    logging.shutdown()
    os._exit(code)


app = _App(
    help="cellpath: durable care pathways for cell therapy in autoimmune disease.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
console = Console()
err_console = Console(stderr=True)
T = TypeVar("T")

EXIT_FAILED = 1
EXIT_USAGE = 2
EXIT_UNREACHABLE = 5

# Hour-scale windows (thaw to infusion: 90 min) on a training clock stay long enough for
# a person to type the next command.
TRAINING_FLOOR = timedelta(minutes=5)

# Actions possible almost anywhere: listed after the ones that move the pathway on.
ANY_TIME = ("record_adverse_event", "report_adverse_event", "hold", "withdraw", "record_death")

ROLE_NAMES = ", ".join(r.value for r in Role)

# An event name the pathway could know (it answers an unknown one with what is possible now);
# anything else is refused here, before it travels.
EVENT_NAME = re.compile(r"[a-z][a-z_]{1,63}")
MAX_UPDATE_ID = 200
# What a message quotes of what was typed.
ECHO_LIMIT = 80
# A referral or an action's details are a few KB. Past this a file, stdin or --data is
# refused before it is parsed (a stray 10 MB file took ~5 s to parse, then was refused).
MAX_INPUT_BYTES = 1_000_000


class State:
    debug = False
    as_json = False
    timeout = 30.0


class CliError(Exception):
    """A failure for people (stderr) and scripts (exit code, ``--json`` error document)."""

    def __init__(
        self,
        message: str,
        code: int,
        kind: str,
        *,
        allowed_now: list[str] | None = None,
        hint: str | None = None,
    ):
        super().__init__(message)
        self.message = message
        self.code = code
        self.kind = kind
        self.allowed_now = allowed_now
        self.hint = hint


@app.callback()
def main(
    debug: Annotated[bool, typer.Option("--debug", help="Show tracebacks.")] = False,
    timeout: Annotated[
        float,
        typer.Option(
            "--timeout",
            metavar="SECONDS",
            min=0.1,
            help="How long to wait for a pathway to answer (a worker must be running).",
        ),
    ] = 30.0,
) -> None:
    State.debug = debug
    State.timeout = timeout
    State.as_json = False


def report(err: CliError) -> typer.Exit:
    """Tell people (stderr) and scripts (exit code, JSON document on stdout)."""
    # Messages echo what was typed (a pathway ID, an event): never rich markup, and no
    # control characters reach the terminal (an ESC sequence could rewrite the screen).
    err_console.print(
        f"[bold red]error:[/] {_for_terminal(err.message)}", highlight=False, soft_wrap=True
    )
    if err.hint:
        err_console.print(_for_terminal(err.hint), highlight=False, soft_wrap=True)
    if State.as_json:
        _print_json(
            {
                "error": {
                    "exit_code": err.code,
                    "kind": err.kind,
                    "message": err.message,
                    "allowed_now": err.allowed_now,
                }
            }
        )
    return typer.Exit(err.code)


def _for_terminal(text: str) -> str:
    shown = "".join(ch if ch in "\n\t" or ch.isprintable() else repr(ch)[1:-1] for ch in text)
    return escape(shown)


def fail(message: str, code: int = EXIT_USAGE, kind: str = "BadUsage") -> typer.Exit:
    return report(CliError(message, code, kind))


def _echo(text: str) -> str:
    """What was typed, quoted and shortened: a message never repeats a huge argument."""
    head = text[:ECHO_LIMIT]
    # ascii() spells out a look-alike letter (Cyrillic "а" as \u0430) or a control character.
    shown = head if head.isascii() and head.isprintable() else ascii(head)[1:-1]
    return f"'{shown}{'…' if len(text) > ECHO_LIMIT else ''}'"


def _check_pathway_id(pathway: str) -> None:
    if not PATHWAY_ID.fullmatch(pathway):
        raise fail(
            f"{_echo(pathway)} is not a pathway ID: they read pathway-<centre>-<pseudonym>, "
            "e.g. pathway-centre-a-LUP-001, in Latin letters (`cellpath list` shows them)"
        )


def run(
    coro: Coroutine[Any, Any, T],
    *,
    wait: str | None = None,
    timeout: bool = True,
    pathway: str | None = None,
    timeout_hint: str | None = None,
) -> T:
    """Run a coroutine, turning known failures into one line and an exit code.

    ``wait`` is shown as a spinner in a terminal while the call waits for the worker;
    after ``--timeout`` seconds without an answer from ``pathway`` the call stops with
    ``timeout_hint`` added to the message.
    """

    async def bounded() -> T:
        if not timeout:
            return await coro
        try:
            return await asyncio.wait_for(coro, State.timeout)
        # The client turns the cancelled wait for an update into its own error.
        except (TimeoutError, WorkflowUpdateRPCTimeoutOrCancelledError):
            raise CliError(
                await _no_answer(pathway), EXIT_FAILED, "NoAnswer", hint=timeout_hint
            ) from None

    try:
        if wait and err_console.is_terminal:
            with err_console.status(wait):
                return asyncio.run(bounded())
        return asyncio.run(bounded())
    except Exception as exc:
        if State.debug:
            raise
        err = _as_cli_error(exc)
        if err is None:
            raise
        raise report(err) from None
    except KeyboardInterrupt:
        if State.debug:
            raise
        raise typer.Exit(130) from None


async def _no_answer(pathway: str | None) -> str:
    """Why nothing answered: no worker polls the pathway's task queue."""
    queue = Settings.from_env().task_queue
    if pathway is not None:
        try:
            client = await _client()
            desc = await asyncio.wait_for(client.get_workflow_handle(pathway).describe(), 3.0)
            queue = desc.task_queue
        except Exception:  # the message below holds without the queue name
            pass
    return (
        f"No answer within {State.timeout:g} s"
        + (f" from {pathway}" if pathway else "")
        + f": is a worker running on task queue '{queue}'? (`make run` or `cellpath worker`)"
    )


def _as_cli_error(exc: Exception) -> CliError | None:
    """The known failures, as a message, an exit code and a kind; ``None`` for a bug."""
    from worker import TemporalUnreachable, connect_config

    if isinstance(exc, CliError):
        return exc
    if isinstance(exc, operations.OperationError):
        return CliError(exc.message, exc.code, exc.kind)
    if isinstance(exc, TemporalUnreachable):
        return CliError(str(exc), EXIT_UNREACHABLE, "TemporalUnreachable")
    if isinstance(exc, RPCError):
        if exc.status == RPCStatusCode.UNAVAILABLE:
            address = connect_config().get("target_host", "?")
            return CliError(
                f"Lost Temporal at {address}: {exc.message}",
                EXIT_UNREACHABLE,
                "TemporalUnreachable",
            )
        return CliError(f"Temporal refused the call: {exc.message}", EXIT_FAILED, "TemporalError")
    if isinstance(exc, DevStackError):
        return CliError(str(exc), EXIT_FAILED, "DevStackError")
    if isinstance(exc, EncryptionError):
        return CliError(
            str(exc),
            EXIT_USAGE,
            "EncryptionKey",
            hint=f"With the dev stack, the key is in .cellpath/{DEV_KEY_FILE} of the directory "
            "where `make run` runs: run cellpath from that directory (or set "
            "CELLPATH_STATE_DIR to the stack's state dir).",
        )
    if isinstance(exc, (ProtocolFileError, ValueError)):
        return CliError(str(exc), EXIT_USAGE, "BadInput")
    return None


async def _client() -> Any:
    from worker import connect

    return await connect()


def _print_json(data: Any) -> None:
    sys.stdout.write(json.dumps(data, indent=2, ensure_ascii=False) + "\n")


def _iso(value: datetime | None) -> str | None:
    """UTC, ISO 8601, ``Z`` suffix: the same spelling as the pydantic models' JSON."""
    if value is None:
        return None
    return value.astimezone(UTC).isoformat().replace("+00:00", "Z")


def _yaml_problem(err: yaml.YAMLError) -> str:
    problem = getattr(err, "problem", None) or str(err).splitlines()[0]
    mark = getattr(err, "problem_mark", None)
    return f"{problem} (line {mark.line + 1}, column {mark.column + 1})" if mark else problem


DETAILS_FIT = "a referral or an action's details fit in a few KB"


def _too_large(what: str, fits: str) -> typer.Exit:
    return fail(f"{what} is larger than {MAX_INPUT_BYTES // 1_000_000} MB: {fits}", kind="BadInput")


def _read_text(path: str, what: str, fits: str = DETAILS_FIT) -> str:
    """A file (or stdin for ``-``) of at most ``MAX_INPUT_BYTES``, or exit 2 saying why not."""
    try:
        if path == "-":
            text = sys.stdin.read(MAX_INPUT_BYTES + 1)
        elif Path(path).stat().st_size > MAX_INPUT_BYTES:
            raise _too_large(f"{what} {path}", fits)
        else:
            text = Path(path).read_text(encoding="utf-8")
    except OSError as err:
        raise fail(f"cannot read {what} {path}: {err.strerror}", kind="BadInput") from None
    except UnicodeDecodeError:
        raise fail(f"{what} {path} is not UTF-8 text", kind="BadInput") from None
    if len(text) > MAX_INPUT_BYTES:
        raise _too_large(what if path == "-" else f"{what} {path}", fits)
    return text


def _load_mapping(
    text: str, what: str, fits: str = DETAILS_FIT, example: str = '{"visit": "M3"}'
) -> dict[str, Any]:
    """A JSON or YAML object, or exit 2 saying what is wrong and where."""
    if not text.strip():
        raise fail(f"{what} is empty", kind="BadInput")
    if len(text) > MAX_INPUT_BYTES:
        raise _too_large(what, fits)
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as err:
        raise fail(
            f"{what} is not valid JSON or YAML: {_yaml_problem(err)}", kind="BadInput"
        ) from None
    except RecursionError:
        # The YAML parser recurses once per level: thousands of nested brackets overflow it.
        raise fail(
            f"{what} is nested too deeply to be an action's details", kind="BadInput"
        ) from None
    if not isinstance(data, dict):
        raise fail(
            f"{what} must be a JSON or YAML object (mapping), e.g. {example}",
            kind="BadInput",
        )
    return data


def _ordered(events: list[str]) -> list[str]:
    """Actions that move the pathway on first, the any-time ones (hold, withdraw…) last."""
    return [e for e in events if e not in ANY_TIME] + [e for e in events if e in ANY_TIME]


# ----- sub-commands from their own modules ----------------------------------------------
def _add_subcommands() -> None:
    from cli.audit import audit_app
    from cli.centres import centres_app

    app.add_typer(centres_app, name="centres", rich_help_panel="Centres and audit")
    app.add_typer(audit_app, name="audit", rich_help_panel="Centres and audit")


# ----- refer -----------------------------------------------------------------------------
@app.command(rich_help_panel="Pathways")
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
    raw = _load_mapping(_read_text(file, "the referral file"), what)
    given = {"icd10": icd10, "orpha": orpha, "protocol_id": protocol_id}
    raw.update({key: value for key, value in given.items() if value is not None})
    try:
        referral = Referral.model_validate(raw)
    except ValidationError as err:
        raise fail(f"{what} is not valid: {readable(err)}", kind="BadInput") from None
    settings = Settings.from_env()

    async def go() -> Any:
        protocol = operations.protocol_for(referral)
        if seconds_per_day is not None:
            protocol = protocol.compressed(seconds_per_day=seconds_per_day, floor=TRAINING_FLOOR)
        client = await _client()
        await operations.refer(client, referral, task_queue=settings.task_queue, protocol=protocol)
        return protocol

    protocol = run(go())
    if as_json:
        _print_json(
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


# ----- act -------------------------------------------------------------------------------
def _mentions(annotation: Any, kind: type) -> bool:
    if annotation is kind or (kind is datetime and annotation is AwareDatetime):
        return True
    return any(_mentions(arg, kind) for arg in typing.get_args(annotation))


def _submodel(annotation: Any) -> type[BaseModel] | None:
    for arg in typing.get_args(annotation):
        if isinstance(arg, type) and issubclass(arg, BaseModel):
            return arg
    return None


def _fill_now(model: type[BaseModel], data: dict[str, Any], now: str) -> dict[str, Any]:
    """``"now"`` in a date-time field of the action's details means the current time."""
    out = dict(data)
    for name, value in data.items():
        field = model.model_fields.get(name)
        if field is None:
            continue
        if isinstance(value, str) and value.strip().lower() == "now":
            if _mentions(field.annotation, datetime):
                out[name] = now
        elif isinstance(value, list) and (sub := _submodel(field.annotation)) is not None:
            out[name] = [_fill_now(sub, v, now) if isinstance(v, dict) else v for v in value]
    return out


def _naive_times(value: Any, where: str = "") -> list[str]:
    if isinstance(value, datetime):
        return [where] if value.tzinfo is None else []
    if isinstance(value, BaseModel):
        return [
            p
            for name in type(value).model_fields
            for p in _naive_times(getattr(value, name), f"{where}.{name}" if where else name)
        ]
    if isinstance(value, (list, tuple)):
        return [p for i, v in enumerate(value) for p in _naive_times(v, f"{where}.{i}")]
    return []


def _type_hint(annotation: Any) -> str:
    if _mentions(annotation, datetime):
        return "date-time"
    if _mentions(annotation, bool):
        return "true|false"
    if _mentions(annotation, int) or _mentions(annotation, float):
        return "number"
    origin = typing.get_origin(annotation)
    if origin is typing.Literal:
        return "|".join(str(a) for a in typing.get_args(annotation))
    if origin in (typing.Union, types.UnionType, typing.Annotated):
        inner = [a for a in typing.get_args(annotation) if a is not type(None)]
        return _type_hint(inner[0]) if inner else "text"
    if origin is list:
        sub = _submodel(annotation)
        if sub is not None:
            return "list of {" + ", ".join(_field_names(sub)) + "}"
        return "list"
    return "text"


def _field_names(model: type[BaseModel]) -> list[str]:
    return [
        n if f.is_required() else f"{n}?"
        for n, f in model.model_fields.items()
        if n not in ("actor", "role", "reason")
    ]


def _fields(event: str) -> tuple[dict[str, str], dict[str, str]]:
    """The details an event takes (actor and role aside): required and optional, each
    field with a short type (``date-time``, ``number``, ``true|false``…)."""
    model = EVENT_PAYLOADS.get(event)
    if model is None:
        return {}, {}
    required: dict[str, str] = {}
    optional: dict[str, str] = {}
    for name, field in model.model_fields.items():
        if name in ("actor", "role"):
            continue
        (required if field.is_required() else optional)[name] = _type_hint(field.annotation)
    return required, optional


def _fields_text(event: str) -> str:
    """``--data ard_specialist, cell_therapy_specialist; optional: meeting_id`` (a reason
    that must be given goes in ``--reason``)."""
    required, optional = _fields(event)

    def named(name: str, kind: str) -> str:
        return name if kind == "text" else f"{name} ({kind})"

    parts = []
    need = [named(n, t) for n, t in required.items() if n != "reason"]
    if need:
        parts.append("--data " + ", ".join(need))
    if "reason" in required:
        parts.append("--reason TEXT")
    extra = [n for n in optional if n != "reason"]
    if extra:
        parts.append("optional: " + ", ".join(extra))
    return "; ".join(parts) or "no details"


def _a(label: str) -> str:
    return f"an {label}" if label[:1] in "aeiou" else f"a {label}"


def _action_doc(event: str) -> dict[str, Any]:
    required, optional = _fields(event)
    return {
        "event": event,
        "roles": sorted(r.value for r in roles_allowed(event)),
        "required": list(required),
        "optional": list(optional),
    }


def _help_events(pathway: str, role: Role | None, as_json: bool) -> None:
    async def go() -> Any:
        client = await _client()
        return await operations.allowed_actions(client, pathway, role)

    allowed = run(go(), wait=f"asking {pathway}…", pathway=pathway)
    events = _ordered(allowed.events)
    if as_json:
        _print_json(
            {
                "pathway_id": pathway,
                "state": allowed.state,
                "role": role.value if role else None,
                "actions": [_action_doc(e) for e in events],
            }
        )
        return
    who = _a(role.label) if role else "staff"
    console.print(f"{pathway} is at [bold]{allowed.state}[/]; {who} may now:", highlight=False)
    if not events:
        console.print("  nothing" + ("" if role else " (the pathway has ended)"))
        return
    table = Table.grid(padding=(0, 2))
    table.add_column(no_wrap=True)
    table.add_column(overflow="fold")
    for event in events:
        details = _fields_text(event)
        if role is None:
            who_may = ", ".join(sorted(r.value for r in roles_allowed(event)))
            details += f"\n[dim]by: {who_may}[/]"
        table.add_row("  " + event, details)
    console.print(table)
    console.print(
        'Date-times: ISO 8601 with a time zone ("2026-03-02T09:30:00+01:00") or "now".',
        highlight=False,
    )


def _check_details(event: str, payload: dict[str, Any]) -> dict[str, Any]:
    """Fill ``now``, then refuse (exit 2) details the action cannot take, before sending."""
    model = EVENT_PAYLOADS.get(event)
    if model is None:
        return payload  # not an action: the pathway refuses it with what is possible now
    payload = _fill_now(model, payload, _iso(datetime.now(UTC)) or "")
    try:
        action = parse_action(event, payload)
    except ValidationError as err:
        raise report(
            CliError(
                f"The details of '{event}' are not valid: {readable(err)}.",
                EXIT_USAGE,
                "MalformedAction",
                hint=f"'{event}' takes: {_fields_text(event) or 'no details'}",
            )
        ) from None
    naive = _naive_times(action)
    if naive:
        raise report(
            CliError(
                f"{', '.join(naive)}: give the time zone, e.g. 2026-03-02T09:30:00+01:00 or "
                '2026-03-02T08:30:00Z (or "now").',
                EXIT_USAGE,
                "MalformedAction",
            )
        )
    return payload


@app.command(rich_help_panel="Pathways")
def act(
    pathway: Annotated[
        str, typer.Argument(metavar="PATHWAY", help="Pathway ID, e.g. pathway-centre-a-LUP-001")
    ],
    event: Annotated[
        str | None, typer.Argument(metavar="EVENT", help="Action, e.g. approve_at_mdtm")
    ] = None,
    by: Annotated[
        str | None,
        typer.Option("--by", metavar="USER", envvar="CELLPATH_USER", help="Who acts."),
    ] = None,
    role: Annotated[
        Role | None,
        typer.Option(
            "--role",
            metavar="ROLE",
            envvar="CELLPATH_ROLE",
            case_sensitive=False,
            help=f"In which role: {ROLE_NAMES}.",
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
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Send a staff action to a pathway (or list what is possible now: --help-events)."""
    State.as_json = as_json
    _check_pathway_id(pathway)
    if help_events:
        _help_events(pathway, role, as_json)
        return
    if event is None:
        raise fail("give an EVENT (or --help-events --role ROLE to list what is possible now)")
    if event not in EVENT_PAYLOADS and not EVENT_NAME.fullmatch(event):
        close = difflib.get_close_matches(event[:ECHO_LIMIT], list(EVENT_PAYLOADS), n=1)
        raise fail(
            f"{_echo(event)} is not a pathway action"
            + (f" (did you mean {close[0]}?)" if close else "")
            + f"; `cellpath act {pathway} --help-events` lists what is possible now",
            kind="UnknownEvent",
        )
    if update_id is not None and not (
        0 < len(update_id) <= MAX_UPDATE_ID and update_id.isprintable()
    ):
        raise fail(f"--update-id must be 1 to {MAX_UPDATE_ID} printable characters")
    missing = [w for w, v in (("--by USER", by), ("--role ROLE", role)) if not v]
    if missing or role is None:
        raise fail(
            f"say who acts: {' and '.join(missing)} (or CELLPATH_USER / CELLPATH_ROLE); "
            f"roles: {ROLE_NAMES}"
        )
    text = None
    if data:
        text = _read_text(data[1:], "the --data file") if data.startswith("@") else data
    payload = {**(_load_mapping(text, "--data") if text else {}), "actor": by, "role": role.value}
    if reason:
        payload["reason"] = reason
    payload = _check_details(event, payload)
    key = update_id or str(uuid.uuid4())

    async def go() -> Any:
        client = await _client()
        try:
            return await operations.act(client, pathway, event, payload, update_id=key)
        except operations.ActionRefused as refused:
            raise await _refusal(client, pathway, event, role, refused) from None

    receipt = run(
        go(),
        wait=f"sending {event} to {pathway}…",
        pathway=pathway,
        timeout_hint=f"The action may still be applied once a worker picks it up: to retry, "
        f"send it again with --update-id {key} so that it applies at most once.",
    )
    if as_json:
        _print_json(receipt_document(receipt))
        return
    note = " (already applied: nothing changed)" if receipt.duplicate else ""
    nxt = ", ".join(_ordered(receipt.allowed_next)) or "nothing, the pathway has ended"
    console.print(
        f"[green]done[/]: {event} — {receipt.from_state} → [bold]{receipt.state}[/]{note}",
        highlight=False,
    )
    console.print(f"possible now: {nxt}", highlight=False, soft_wrap=True)


async def _refusal(
    client: Any, pathway: str, event: str, role: Role, refused: operations.OperationError
) -> CliError:
    """The refusal, with the rule and what this role may do now."""
    allowed: list[str] | None = None
    if refused.kind != "PathwayEnded":
        try:
            found = await asyncio.wait_for(
                operations.allowed_actions(client, pathway, role), min(5.0, State.timeout)
            )
            allowed = _ordered(found.events)
        except (operations.OperationError, TimeoutError):
            pass  # the refusal stands on its own
    hint = f"rule: {refused.kind}"
    if allowed is not None:
        hint += f"; {_a(role.label)} may now send: {', '.join(allowed) or 'nothing'}"
    if refused.kind == "UnknownEvent":
        close = difflib.get_close_matches(event, list(EVENT_PAYLOADS), n=1)
        if close:
            hint += f"; did you mean {close[0]}?"
    return CliError(refused.message, refused.code, refused.kind, allowed_now=allowed, hint=hint)


# ----- show ------------------------------------------------------------------------------
def _state_name(therapy: Therapy, state: str) -> str:
    from states.registry import chart_class

    found = chart_class(therapy.value).states_map.get(state)
    return str(found.name) if found is not None else state


def _dates(record: PathwayRecord) -> dict[str, Any]:
    p = record.product
    return {
        "referred_at": _iso(record.referred_at),
        "work_up_completed_at": _iso(record.work_up_completed_at),
        "mdtm_approved_at": _iso(record.mdtm_approved_at),
        "consent_at": _iso(record.consent_at),
        "apheresis_slot_at": _iso(record.apheresis_slot_at),
        "product_released_at": _iso(p.released_at),
        "product_received_at": _iso(p.received_at),
        "cleared_at": _iso(record.cleared_at),
        "lymphodepletion_started_at": _iso(record.lymphodepletion_started_at),
        "lymphodepletion_ended_at": _iso(record.lymphodepletion_ended_at),
        "thawed_at": _iso(p.thawed_at),
        "d0": _iso(record.d0),
        "infusions": [_iso(t) for t in record.infusions],
        "discharged_at": _iso(record.discharged_at),
        "visits": {label: _iso(at) for label, at in record.visits.items()},
    }


def _deadline_docs(record: PathwayRecord, now: datetime) -> list[dict[str, Any]]:
    # Time left is counted here: a query's clock is the workflow's last activation.
    return [
        {
            "key": d.key,
            "label": d.label,
            "state": d.state,
            "status": d.status.value,
            "due_at": _iso(d.due_at),
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
        "state_name": _state_name(record.therapy, record.state),
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
        "dates": _dates(record),
        "product": {
            "coi_id": record.product.coi_id,
            "storage_location": record.product.storage_location,
            "quarantined": record.product.quarantined,
        },
        "deadlines": _deadline_docs(record, now),
        "allowed": allowed,
        "audit": [_audit_doc(e) for e in record.audit[-10:]],
        "audit_total": len(record.audit),
    }


def _audit_doc(entry: AuditEntry) -> dict[str, Any]:
    # Named field by field: the CLI's schema stays put when the record model grows.
    return {
        "seq": entry.seq,
        "at": _iso(entry.at),
        "event": entry.event,
        "actor": entry.actor,
        "role": entry.role.value,
        "reason": entry.reason,
        "update_id": entry.update_id,
        "from_state": entry.from_state,
        "to_state": entry.to_state,
        "data": entry.data,
    }


def receipt_document(receipt: ActionReceipt) -> dict[str, Any]:
    """``cellpath act --json``: the schema documented in docs/cli.md."""
    return {
        "pathway_id": receipt.pathway_id,
        "event": receipt.event,
        "seq": receipt.seq,
        "from_state": receipt.from_state,
        "state": receipt.state,
        "at": _iso(receipt.at),
        "duplicate": receipt.duplicate,
        "allowed_next": list(receipt.allowed_next),
    }


def _left(seconds: float) -> str:
    text = humanize(timedelta(seconds=abs(seconds)))
    return f"[red]overdue {text}[/]" if seconds < 0 else text


@app.command(rich_help_panel="Pathways")
def show(
    pathway: Annotated[str, typer.Argument(metavar="PATHWAY")],
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """A pathway: state, binôme, key dates, open deadlines, last actions, what is possible."""
    State.as_json = as_json
    _check_pathway_id(pathway)

    async def go() -> Any:
        client = await _client()
        return await asyncio.gather(
            operations.record(client, pathway),
            operations.status(client, pathway),
            operations.allowed_actions(client, pathway, None),
        )

    record, status, allowed = run(go(), wait=f"asking {pathway}…", pathway=pathway)
    doc = show_document(record, status.name if status else None, allowed.events, datetime.now(UTC))
    if as_json:
        _print_json(doc)
        return
    _print_show(doc, record, _ordered(allowed.events))


def _when(value: str) -> str:
    return value[:16].replace("T", " ")


def _print_show(doc: dict[str, Any], record: PathwayRecord, possible: list[str]) -> None:
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
    dates = doc["dates"]
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
        if dates[key]:
            facts.add_row(label, _when(dates[key]) + " UTC")
    if dates["visits"]:
        facts.add_row("visits done", ", ".join(dates["visits"]))
    out(facts)
    if doc["deadlines"]:
        table = Table(box=box.SIMPLE_HEAD, pad_edge=False, collapse_padding=True)
        table.add_column("open deadline", overflow="fold")
        for column in ("due (UTC)", "time left", "level", "waiting on"):
            table.add_column(column, no_wrap=True)
        for d in doc["deadlines"]:
            table.add_row(
                d["label"],
                _when(d["due_at"]),
                _left(d["seconds_left"]),
                str(d["level"]),
                d["waiting_on"],
            )
        out(table)
    else:
        out("no open deadline")
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
                _when(e["at"])[5:],
                e["event"],
                f"by {e['actor']} ({e['role']}) → {e['to_state']}",
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


# ----- list ------------------------------------------------------------------------------
def _known_states() -> list[str]:
    from states.registry import all_state_ids

    return all_state_ids()


@app.command("list", rich_help_panel="Pathways")
def list_pathways(
    state: Annotated[str | None, typer.Option(metavar="STATE", help="e.g. awaiting_mdtm")] = None,
    therapy: Annotated[str | None, typer.Option(metavar="car-t|msc")] = None,
    centre: Annotated[str | None, typer.Option(metavar="CENTRE", help="e.g. centre-a")] = None,
    overdue: Annotated[bool, typer.Option("--overdue", help="Only overdue pathways.")] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Pathways from Temporal visibility (search attributes); needs no worker."""
    State.as_json = as_json
    if therapy is not None:
        therapy = {"cart": "car-t"}.get(therapy.lower(), therapy.lower())
        if therapy not in {t.value for t in Therapy}:
            raise fail(f"--therapy must be one of {', '.join(t.value for t in Therapy)}")
    if state is not None and state not in _known_states():
        close = difflib.get_close_matches(state, _known_states(), n=1)
        raise fail(
            f"unknown state {state!r}"
            + (f" (did you mean {close[0]}?)" if close else "")
            + f"; states: {', '.join(_known_states())}"
        )
    if centre is not None and not re.fullmatch(r"[a-z][a-z0-9-]{1,39}", centre):
        raise fail(f"invalid centre {centre!r}: e.g. centre-a")
    # A pathway in long follow-up has one closed run per year: list only its current run.
    clauses = ['WorkflowType = "PathwayWorkflow"', 'ExecutionStatus != "ContinuedAsNew"']
    for name, value in (("PathwayState", state), ("Therapy", therapy), ("Centre", centre)):
        if value:
            clauses.append(f'{name} = "{value}"')
    if overdue:
        clauses.append("Overdue = true")
    query = " AND ".join(clauses)

    async def go() -> list[dict[str, Any]]:
        from workflows import search as s

        client = await _client()
        rows = []
        async for wf in client.list_workflows(query):
            sa = wf.typed_search_attributes
            rows.append(
                {
                    "pathway_id": wf.id,
                    "status": wf.status.name if wf.status else None,
                    "state": sa.get(s.PATHWAY_STATE),
                    "therapy": sa.get(s.THERAPY),
                    "centre": sa.get(s.CENTRE),
                    "disease": sa.get(s.DISEASE),
                    "next_deadline": _iso(sa.get(s.NEXT_DEADLINE)),
                    "escalation_level": sa.get(s.ESCALATION_LEVEL) or 0,
                    "overdue": bool(sa.get(s.OVERDUE)),
                }
            )
        return sorted(rows, key=lambda r: r["pathway_id"])

    rows = run(go(), wait="searching…")
    if as_json:
        _print_json({"query": query, "pathways": rows})
        return
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
        left = (datetime.fromisoformat(nd) - now).total_seconds() if nd else None
        if r["status"] != "RUNNING":
            due = f"({(r['status'] or 'closed').lower()})"
        elif left is None:
            due = ""
        else:
            due = _left(left) if left < 0 else f"in {_left(left)}"
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


# ----- service commands ------------------------------------------------------------------
@app.command(rich_help_panel="Running cellpath")
def worker() -> None:
    """Run a worker against the configured Temporal (TEMPORAL_ADDRESS, profiles…)."""
    settings = Settings.from_env()
    configure_logging(settings.log_format)
    err_console.print(f"worker on task queue [bold]{settings.task_queue}[/]; Ctrl-C to stop")
    run(_serve_until_stopped(settings), timeout=False)


async def _serve_until_stopped(settings: Settings) -> None:
    """The worker until Ctrl-C or SIGTERM (a service manager), then a graceful shutdown."""
    import signal

    from worker import run_worker

    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    serving = asyncio.create_task(run_worker(settings))
    stopping = asyncio.create_task(stop.wait())
    await asyncio.wait({serving, stopping}, return_when=asyncio.FIRST_COMPLETED)
    stopping.cancel()
    if not serving.done():
        # Leaving the worker's context shuts it down: tasks in flight finish or are retried.
        serving.cancel()
    try:
        await serving
    except asyncio.CancelledError:
        pass


@app.command("codec-server", rich_help_panel="Running cellpath")
def codec_server(
    dev: Annotated[
        bool, typer.Option("--dev", help="Without a token, on a loopback address only.")
    ] = False,
    host: Annotated[str | None, typer.Option(help="Default: CELLPATH_CODEC_HOST.")] = None,
    port: Annotated[int | None, typer.Option(help="Default: CELLPATH_CODEC_PORT.")] = None,
) -> None:
    """Serve the payload codec for the Temporal Web UI (docs/security.md)."""
    from cli.codec_server import serve

    try:
        serve(host=host, port=port, dev=dev)
    except ValueError as err:  # CodecServerError, KeyConfigError: one line, exit 2
        if State.debug:
            raise
        raise fail(str(err), EXIT_USAGE, "BadConfig") from None


@app.command(rich_help_panel="Running cellpath")
def dev(
    demo: Annotated[bool, typer.Option(help="Seed the demo programme.")] = False,
) -> None:
    """Start the embedded dev stack: Temporal server (SQLite), Web UI, worker[, demo]."""
    from cli.stack import run_dev_stack

    settings = Settings.from_env()
    configure_logging(settings.log_format)
    try:
        run(run_dev_stack(settings, demo=demo, console=console), timeout=False)
    except typer.Exit as done:
        if done.exit_code != 130:
            raise
        console.print("stopped.")


# ----- diagram, docs ---------------------------------------------------------------------
@app.command(rich_help_panel="Pathways")
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
    from cli.diagram import FORMATS, DiagramToolMissing, render

    if fmt not in FORMATS:
        raise fail(f"--format must be one of {', '.join(FORMATS)}")
    if fmt == "png" and output is None:
        raise fail("png is binary: give -o FILE")
    active = None
    name = chart
    if chart.startswith("pathway-"):
        _check_pathway_id(chart)

        async def go() -> Any:
            client = await _client()
            return await operations.record(client, chart)

        record = run(go(), wait=f"asking {chart}…", pathway=chart)
        name, active = record.therapy.value, record.configuration
    try:
        out = render(name, fmt, active=active)
    except DiagramToolMissing as err:
        raise fail(str(err), EXIT_FAILED, "ToolMissing") from None
    except ValueError as err:
        raise fail(str(err)) from None
    if output:
        output.write_bytes(out if isinstance(out, bytes) else out.encode())
        err_console.print(f"wrote {output}", highlight=False)
    else:
        text = out.decode() if isinstance(out, bytes) else out
        sys.stdout.write(text if text.endswith("\n") else text + "\n")


@app.command(rich_help_panel="Running cellpath")
def docs(check: Annotated[bool, typer.Option(help="Only report stale files.")] = False) -> None:
    """Regenerate docs/pathways.md and the diagrams from the charts."""
    from cli.docs import stale_docs, write_docs

    root = Path(os.environ.get("CELLPATH_ROOT", Path(__file__).resolve().parent.parent))
    if check:
        stale = stale_docs(root)
        for path in stale:
            err_console.print(f"stale: {path}")
        raise typer.Exit(1 if stale else 0)
    for path in write_docs(root):
        console.print(f"wrote {path}")


_add_subcommands()

if __name__ == "__main__":
    app()
