"""Running the web app: beside the dev stack (``serving``, in its event loop) or on its own
(``cellpath web``: connects to the configured Temporal, serves until Ctrl-C).

Sign-in uses the local accounts and signing keys in the state dir: the dev stack makes them
on first use (``signin.dev_stack``); ``cellpath web`` alone uses them as they are and refuses
to start without them. With ``CELLPATH_OIDC_*`` set, staff sign in with the hospital's
provider instead (``web.routes.provider_signin``). uvicorn's access log is off, so no URL and no form reaches a log.

Usage::

    async with serving(settings, client, console=console) as url:   # the dev stack
        ...
    await serve_until_stopped(settings, console)                     # cellpath web
"""

from __future__ import annotations

import asyncio
import signal
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import timedelta

from rich.console import Console
from temporalio.client import Client

from client.connection import connect
from client.records import open_reader
from devtools.codec_server import running
from models.settings import Settings
from signin.dev_stack import prepare_dev_sign_in
from signin.hospital_login import HospitalLogin
from signin.local import hospital_login, local_sign_in
from signin.service import AssertionService
from web.app import create_app
from web.context import WebContext, session_secret


def local_service(settings: Settings) -> AssertionService:
    """The sign-in service of the configured (or the state dir's) signing keys and local
    accounts: the same one ``cellpath login`` uses (signin/local.py)."""
    return local_sign_in(settings)


def dev_service(settings: Settings, console: Console | None) -> AssertionService:
    """The dev stack's sign-in: keys and demo accounts made on first use."""
    dev = prepare_dev_sign_in(settings.state_dir)
    if dev.passwords and console is not None:
        console.print(f"demo staff accounts created: their passwords are in {dev.passwords_file}")
    return dev.service()


def web_context(settings: Settings, client: Client, signin: AssertionService) -> WebContext:
    configured = settings.web_secret_key.get_secret_value() if settings.web_secret_key else None
    hospital = signin.provider if isinstance(signin.provider, HospitalLogin) else None
    if hospital is None:
        hospital = hospital_login(settings)
        signin.provider = hospital  # its people re-authenticate there to sign
    return WebContext(
        client=client,
        signin=signin,
        task_queue=settings.task_queue,
        secret_key=session_secret(configured, settings.state_dir),
        idle_timeout=timedelta(minutes=settings.web_idle_minutes),
        secure_cookies=settings.web_secure_cookies,
        records=open_reader(settings),
        hospital=hospital,
    )


@asynccontextmanager
async def serving(
    settings: Settings,
    client: Client,
    *,
    console: Console | None = None,
    signin: AssertionService | None = None,
) -> AsyncIterator[str]:
    """The web app on ``settings.web_host``:``web_port`` while the block runs; its URL.
    Without ``signin``, the dev stack's (made on first use)."""
    signin = signin or dev_service(settings, console)
    app = create_app(web_context(settings, client, signin))
    async with running(app, host=settings.web_host, port=settings.web_port) as url:
        yield url


async def serve_until_stopped(settings: Settings, console: Console) -> None:
    signin = local_service(settings)
    client = await connect()
    async with serving(settings, client, signin=signin) as url:
        console.print(f"[bold]Staff web app:[/] {url}  (Ctrl-C stops it)")
        stop = asyncio.Event()
        # SIGTERM (a service manager, `kill`) stops as cleanly as Ctrl-C does.
        asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop.set)
        await stop.wait()
