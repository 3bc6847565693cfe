"""The commands that run cellpath itself: ``worker``, ``codec-server``, ``dev`` (the
embedded dev stack, with the staff web app beside it), ``web`` (the staff web app alone) and
``docs`` (regenerate the chart docs); the work is done by ``worker``
and ``devtools``.

Usage::

    cellpath worker
    cellpath dev --demo
    cellpath web
    cellpath docs --check
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated

import typer

from cli.app import EXIT_INTERRUPTED, State, console, err_console, fail, run
from client.logs import configure_logging
from devtools.companions import StackCompanion
from models.settings import Settings

# The worker, the dev stack and the codec server (uvicorn, starlette) are imported by the
# command that runs them: at the top they cost every `cellpath act` ~1.9 s of start-up on a
# loaded 2-core machine (python -X importtime). They import nothing from cli/.


def worker() -> None:
    """Run a worker against the configured Temporal (TEMPORAL_ADDRESS, profiles…)."""
    from worker import serve_until_stopped

    settings = Settings.from_env()
    configure_logging(settings.log_format)
    err_console.print(f"worker on task queue [bold]{settings.task_queue}[/]; Ctrl-C to stop")
    run(serve_until_stopped(settings), timeout=False)


def codec_server(
    dev: Annotated[
        bool, typer.Option("--dev", help="Without a token, on a loopback address only.")
    ] = False,
    host: Annotated[str | None, typer.Option(help="Default: CELLPATH_CODEC_HOST.")] = None,
    port: Annotated[int | None, typer.Option(help="Default: CELLPATH_CODEC_PORT.")] = None,
) -> None:
    """Serve the payload codec for the Temporal Web UI (docs/security.md)."""
    from devtools.codec_server import serve

    try:
        serve(host=host, port=port, dev=dev)
    except ValueError as err:  # CodecServerError, KeyConfigError: one line, exit 2
        if State.debug:
            raise
        raise fail(str(err), kind="BadConfig") from None


def _check_provider(settings: Settings) -> None:
    """A half-configured hospital provider (or an unreadable mapping) stops here, exit 2."""
    from signin.hospital_login import ProviderConfig

    try:
        ProviderConfig.from_settings(settings)
    except ValueError as err:
        raise fail(str(err), kind="BadConfig") from None


def dev(
    demo: Annotated[bool, typer.Option(help="Seed the demo programme.")] = False,
) -> None:
    """Start the embedded dev stack: Temporal server (SQLite), Web UI, worker[, demo]."""
    from devtools.stack import run_dev_stack
    from web.server import serving

    settings = Settings.from_env()
    configure_logging(settings.log_format)
    _check_provider(settings)
    companion = StackCompanion(
        "Staff web app", lambda client: serving(settings, client, console=console)
    )
    try:
        run(
            run_dev_stack(settings, demo=demo, console=console, companions=[companion]),
            timeout=False,
        )
    except typer.Exit as done:
        if done.exit_code != EXIT_INTERRUPTED:
            raise
        console.print("stopped.")


def web(
    port: Annotated[int | None, typer.Option(help="Default: CELLPATH_WEB_PORT (8090).")] = None,
) -> None:
    """Serve the staff web app (sign in, my work, pathways, referrals, centres)."""
    from signin.local import SignInUnavailable
    from web.server import serve_until_stopped

    settings = Settings.from_env()
    if port is not None:
        settings = settings.model_copy(update={"web_port": port})
    configure_logging(settings.log_format)
    _check_provider(settings)
    try:
        run(serve_until_stopped(settings, console), timeout=False)
    except SignInUnavailable as err:
        raise fail(str(err), kind="BadConfig") from None
    except typer.Exit as done:
        if done.exit_code != EXIT_INTERRUPTED:
            raise
        console.print("stopped.")


def docs(check: Annotated[bool, typer.Option(help="Only report stale files.")] = False) -> None:
    """Regenerate docs/pathways.md and the diagrams from the charts."""
    from devtools.docs import stale_docs, write_docs

    root = Path(os.environ.get("CELLPATH_ROOT", Path(__file__).resolve().parent.parent))
    if check:
        stale = stale_docs(root)
        for path in stale:
            err_console.print(f"stale: {path}")
        raise typer.Exit(1 if stale else 0)
    for path in write_docs(root):
        console.print(f"wrote {path}")
