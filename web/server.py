"""Running the web app: beside the dev stack (``serving``, in its event loop) or on its own
(``cellpath web``: connects to the configured Temporal, serves until Ctrl-C).

Sign-in uses the local accounts and signing keys in the state dir (``signin.dev_stack``,
made on first use); uvicorn's access log is off, so no URL and no form reaches a log.

Usage::

    async with serving(settings, client, console=console) as url:   # the dev stack
        ...
    serve(settings)                                                  # cellpath web
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import timedelta

from rich.console import Console
from temporalio.client import Client

from client.connection import connect
from devtools.codec_server import running
from models.settings import Settings
from signin.dev_stack import prepare_dev_sign_in
from web.app import create_app
from web.context import WebContext, session_secret


def web_context(settings: Settings, client: Client, console: Console | None = None) -> WebContext:
    dev = prepare_dev_sign_in(settings.state_dir)
    if dev.passwords and console is not None:
        console.print(f"demo staff accounts created: their passwords are in {dev.passwords_file}")
    configured = settings.web_secret_key.get_secret_value() if settings.web_secret_key else None
    return WebContext(
        client=client,
        signin=dev.service(),
        task_queue=settings.task_queue,
        secret_key=session_secret(configured, settings.state_dir),
        idle_timeout=timedelta(minutes=settings.web_idle_minutes),
        secure_cookies=settings.web_secure_cookies,
    )


@asynccontextmanager
async def serving(
    settings: Settings, client: Client, *, console: Console | None = None
) -> AsyncIterator[str]:
    """The web app on ``settings.web_host``:``web_port`` while the block runs; its URL."""
    app = create_app(web_context(settings, client, console))
    async with running(app, host=settings.web_host, port=settings.web_port) as url:
        yield url


async def serve_until_stopped(settings: Settings, console: Console) -> None:
    client = await connect()
    async with serving(settings, client, console=console) as url:
        console.print(f"[bold]Staff web app:[/] {url}  (Ctrl-C stops it)")
        await asyncio.Event().wait()
