"""The ``cellpath`` typer app and how its failures reach people and scripts: one message on
stderr, one exit code per ``Outcome``, one ``{"error": …}`` document with ``--json``.

Usage::

    raise fail("give an EVENT")                       # exit 2, kind BadUsage
    receipt = run(go(), wait="sending…", pathway=p)   # known failures become one line

Exit codes: 0 done; 1 anything else (no worker answered, dev stack failed…); 2 bad usage or
input; 3 action refused; 4 no such pathway; 5 Temporal unreachable. ``--debug`` shows
tracebacks.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import sys
import traceback
from collections.abc import Coroutine
from typing import Annotated, Any, TypeVar

import typer
from rich.console import Console
from rich.markup import escape
from temporalio.client import WorkflowUpdateRPCTimeoutOrCancelledError
from temporalio.service import RPCError, RPCStatusCode

from client.connection import connect, connect_config, task_queue_of
from client.errors import OperationError, TemporalUnreachable
from client.logs import logs_off_stdout
from models.encryption import DEV_KEY_FILE, EncryptionError
from models.protocol import ProtocolFileError
from models.refusals import Outcome, Refusal
from models.settings import Settings

T = TypeVar("T")

#: the one place an outcome becomes an exit code
EXIT_CODES: dict[Outcome, int] = {
    Outcome.FAILED: 1,
    Outcome.BAD_INPUT: 2,
    Outcome.REFUSED: 3,
    Outcome.NOT_FOUND: 4,
    Outcome.UNREACHABLE: 5,
}
EXIT_INTERRUPTED = 130

KEY_HINT = (
    f"With the dev stack, the key is in .cellpath/{DEV_KEY_FILE} of the directory where "
    "`make run` runs: run cellpath from that directory (or set CELLPATH_STATE_DIR to the "
    "stack's state dir)."
)


class CliApp(typer.Typer):
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
            code = EXIT_INTERRUPTED
        except BaseException:
            traceback.print_exc()
            code = 1
        exit_now(code)


def exit_now(code: int) -> None:
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError):
            pass  # a closed pipe (`cellpath list | head`) has nothing more to take
    logging.shutdown()
    os._exit(code)


app = CliApp(
    help="cellpath: durable care pathways for cell therapy in autoimmune disease.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
console = Console()
err_console = Console(stderr=True)


class State:
    debug = False
    as_json = False
    timeout = 30.0


class CliError(Refusal):
    """A usage or input problem the CLI finds before anything travels (exit 2)."""

    outcome = Outcome.BAD_INPUT

    def __init__(self, message: str, *, rule: str = "BadUsage"):
        super().__init__(message, rule=rule)


class NoAnswer(Refusal):
    """Nothing answered within ``--timeout``: no worker polls the pathway's task queue."""

    outcome = Outcome.FAILED


def exit_code(err: Refusal) -> int:
    return EXIT_CODES[err.outcome]


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
    logs_off_stdout()


def report(
    err: Refusal, *, hint: str | None = None, allowed_now: list[str] | None = None
) -> typer.Exit:
    """Tell people (stderr) and scripts (exit code, JSON document on stdout)."""
    # Messages echo what was typed (a pathway ID, an event): never rich markup, and no
    # control characters reach the terminal (an ESC sequence could rewrite the screen).
    err_console.print(
        f"[bold red]error:[/] {for_terminal(err.message)}", highlight=False, soft_wrap=True
    )
    if hint:
        err_console.print(for_terminal(hint), highlight=False, soft_wrap=True)
    if State.as_json:
        print_json(
            {
                "error": {
                    "exit_code": exit_code(err),
                    "kind": err.rule,
                    "message": err.message,
                    "allowed_now": allowed_now,
                }
            }
        )
    return typer.Exit(exit_code(err))


def for_terminal(text: str) -> str:
    shown = "".join(ch if ch in "\n\t" or ch.isprintable() else repr(ch)[1:-1] for ch in text)
    return escape(shown)


def fail(message: str, *, kind: str = "BadUsage") -> typer.Exit:
    """Report a usage or input problem (exit 2)."""
    return report(CliError(message, rule=kind))


def print_json(data: Any) -> None:
    sys.stdout.write(json.dumps(data, indent=2, ensure_ascii=False, default=str) + "\n")


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
            raise NoAnswer(await no_answer(pathway)) from None

    try:
        if wait and err_console.is_terminal:
            with err_console.status(wait):
                return asyncio.run(bounded())
        return asyncio.run(bounded())
    except Exception as exc:
        if State.debug:
            raise
        known = explain(exc)
        if known is None:
            raise
        err, hint = known
        raise report(err, hint=timeout_hint if isinstance(err, NoAnswer) else hint) from None
    except KeyboardInterrupt:
        if State.debug:
            raise
        raise typer.Exit(EXIT_INTERRUPTED) from None


async def no_answer(pathway: str | None) -> str:
    """Why nothing answered: no worker polls the pathway's task queue."""
    queue = Settings.from_env().task_queue
    if pathway is not None:
        try:
            queue = await task_queue_of(await connect(), pathway)
        except Exception:  # the message below holds without the queue name
            pass
    return (
        f"No answer within {State.timeout:g} s"
        + (f" from {pathway}" if pathway else "")
        + f": is a worker running on task queue '{queue}'? (`make run` or `cellpath worker`)"
    )


def explain(exc: Exception) -> tuple[Refusal, str | None] | None:
    """A known failure as a refusal and a hint; ``None`` for a bug."""
    if isinstance(exc, Refusal):
        return exc, None
    if isinstance(exc, RPCError):
        if exc.status == RPCStatusCode.UNAVAILABLE:
            address = connect_config().get("target_host", "?")
            return TemporalUnreachable(
                f"Lost Temporal at {address}: {exc.message}", kind="TemporalUnreachable"
            ), None
        return OperationError(
            f"Temporal refused the call: {exc.message}", kind="TemporalError"
        ), None
    if isinstance(exc, EncryptionError):
        return CliError(str(exc), rule="EncryptionKey"), KEY_HINT
    if isinstance(exc, (ProtocolFileError, ValueError)):
        return CliError(str(exc), rule="BadInput"), None
    return None
