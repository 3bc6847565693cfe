"""A real headless Chromium (the Debian package) driven by Playwright, and the staff web app
served in the test's event loop against the test's Temporal server and worker.

Usage::

    async with web_app(client, task_queue, tmp_path) as app, chromium() as browser:
        page = await browser.new_page()
        await sign_in(page, app, "n.bernard")

Playwright's own browser downloads are never used: ``CHROMIUM`` (or ``/usr/bin/chromium``)
is launched through ``executable_path``; without it the browser tests skip and say so.
"""

from __future__ import annotations

import dataclasses
import os
import secrets
import shutil
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from argon2 import PasswordHasher
from playwright.async_api import Browser, Page, async_playwright
from temporalio.client import Client

from devtools.codec_server import running
from signin.dev_stack import prepare_dev_sign_in
from signin.keys import SigningKeys
from signin.service import AssertionService
from web.app import create_app
from web.context import WebContext

try:  # the keys the test workers trust, once workers verify identity (tests/support/signing.py)
    from tests.support.signing import TEST_SIGNING_KEYS as TRUSTED_KEYS  # type: ignore[import-not-found]
except ImportError:
    TRUSTED_KEYS: SigningKeys | None = None  # type: ignore[no-redef]


def chromium_path() -> str | None:
    configured = os.environ.get("CHROMIUM")
    if configured and Path(configured).exists():
        return configured
    return shutil.which("chromium") or shutil.which("chromium-browser")


NO_CHROMIUM = (
    "the browser tests need Debian's chromium (apt-get install -y chromium; .ci/run installs "
    "it) or CHROMIUM=/path/to/chromium"
)


@dataclasses.dataclass(frozen=True)
class WebApp:
    url: str
    passwords: dict[str, str]
    context: WebContext


@asynccontextmanager
async def web_app(client: Client, task_queue: str, state_dir: Path) -> AsyncIterator[WebApp]:
    # Cheap Argon2 parameters: the demo accounts are hashed in every test.
    dev = prepare_dev_sign_in(
        state_dir, hasher=PasswordHasher(time_cost=1, memory_cost=64, parallelism=1)
    )
    context = WebContext(
        client=client,
        signin=AssertionService(TRUSTED_KEYS or dev.keys, authenticator=dev.accounts),
        task_queue=task_queue,
        secret_key=secrets.token_urlsafe(40),
    )
    async with running(create_app(context)) as url:
        yield WebApp(url, dev.passwords, context)


@asynccontextmanager
async def chromium() -> AsyncIterator[Browser]:
    path = chromium_path()
    assert path, NO_CHROMIUM
    async with async_playwright() as pw:
        # --no-sandbox: CI and the dev machines run the tests as root.
        browser = await pw.chromium.launch(
            executable_path=path, headless=True, args=["--no-sandbox"]
        )
        try:
            yield browser
        finally:
            await browser.close()


async def sign_in(page: Page, app: WebApp, staff_id: str) -> None:
    await page.goto(f"{app.url}/sign-in")
    await page.fill("input[name=staff_id]", staff_id)
    await page.fill("input[name=password]", app.passwords[staff_id])
    await page.click("form[action='/sign-in'] button[type=submit]")
