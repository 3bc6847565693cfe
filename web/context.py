"""What every page of the web app needs: the Temporal client, the record store's reader
(closed pathways, centre trails), the sign-in service, the task queue new pathways start on,
and the session settings.

Usage::

    context = WebContext(client=client, signin=dev.service(), task_queue="cellpath-pathways",
                         secret_key=secret)
    app = create_app(context)            # web.app

Built once at start (``web.server``); the routes read it from ``request.app.state.context``.
"""

from __future__ import annotations

import dataclasses
import os
import secrets
import time
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path

from fastapi import Request
from temporalio.client import Client

from client.records import open_reader
from signin.hospital_login import HospitalLogin
from signin.service import AssertionService
from store import RecordReader
from web.held_actions import HeldActions

#: the session cookie's name; ``__Host-`` (Secure, path /, no domain) when behind HTTPS
COOKIE = "cellpath_session"
LOGIN_COOKIE = "cellpath_login"
SECRET_FILE = "web-session.key"


@dataclasses.dataclass(frozen=True)
class WebContext:
    client: Client
    signin: AssertionService
    task_queue: str
    secret_key: str
    idle_timeout: timedelta = timedelta(minutes=15)
    secure_cookies: bool = False
    #: seconds since the epoch, for the idle timeout (tests move it)
    clock: Callable[[], float] = time.time
    #: the record store (CELLPATH_DATABASE_URL or the state dir's), read only
    records: RecordReader = dataclasses.field(default_factory=open_reader)
    #: the hospital's identity provider; None: local accounts (the dev stack)
    hospital: HospitalLogin | None = None
    #: two-person actions waiting for the second person's provider login (web.routes.cosign)
    held: HeldActions = dataclasses.field(default_factory=HeldActions)

    def __post_init__(self) -> None:
        if len(self.secret_key) < 32:
            raise ValueError("the web app's session secret must be at least 32 characters")
        if self.idle_timeout <= timedelta(0):
            raise ValueError("the idle timeout must be positive")

    @property
    def cookie_name(self) -> str:
        return f"__Host-{COOKIE}" if self.secure_cookies else COOKIE

    @property
    def login_cookie_name(self) -> str:
        """The cookie that carries a provider login from its start to its callback."""
        return f"__Host-{LOGIN_COOKIE}" if self.secure_cookies else LOGIN_COOKIE


def context_of(request: Request) -> WebContext:
    context: WebContext = request.app.state.context
    return context


def session_secret(configured: str | None, state_dir: Path) -> str:
    """The configured secret, or one kept in ``state_dir`` (made once, owner-only), so that
    restarting the web app does not sign everyone out."""
    if configured:
        return configured
    path = state_dir / SECRET_FILE
    if path.exists():
        return path.read_text(encoding="utf-8").strip()
    state_dir.mkdir(parents=True, exist_ok=True)
    secret = secrets.token_urlsafe(48)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as out:
        out.write(secret + "\n")
    return secret
