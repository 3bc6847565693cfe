"""``cellpath dev``: the dev server on SQLite, the codec server, the worker and (optionally)
the demo, in one process tree that Ctrl-C stops cleanly.

Payloads are always encrypted here: with the configured keys, or else with a local dev key
that the stack generates once in its state dir (and says so), so the SQLite file never holds
plaintext and the Web UI decrypts through the codec server it is started with.

Sign-in is embedded too (signin/dev_stack.py): signing keys and the demo staff's local
accounts are made once in the state dir, the worker verifies every staff action against
the public keys (or the configured ``CELLPATH_ACTOR_KEYS``), the demo acts as the demo staff's
service accounts, and the stack prints where the demo staff's passwords are
(``cellpath login``).
"""

from __future__ import annotations

import asyncio
import os
import secrets
import signal
from collections.abc import Sequence
from contextlib import AsyncExitStack
from datetime import timedelta
from pathlib import Path

from rich.console import Console

from client.connection import connect
from client.records import upgrade_store
from devtools.codec_server import app_from_settings, running
from devtools.companions import StackCompanion
from devtools.demo import seed_demo
from devtools.devserver import DevServer, DevStackError, port_free
from devtools.retention import set_retention
from models.actor_keys import actor_key_ring_from_settings
from models.encryption import (
    DEV_KEY_FILE,
    EncryptionCodec,
    KeyRing,
    data_converter,
    key_ring_from_settings,
)
from models.settings import Settings
from signin.dev_stack import DevSignIn, prepare_dev_sign_in
from worker import build_worker


def write_dev_key(path: Path) -> KeyRing:
    """A fresh key ring in ``path``, readable by its owner only; refuses to overwrite."""
    ring = KeyRing.generate(f"dev-{secrets.token_hex(3)}")
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as out:
        out.write(
            "# cellpath dev-stack key (generated; this machine only, not for real data)\n"
            f"{ring.to_spec()}\n"
        )
    return ring


def dev_codec(settings: Settings, console: Console) -> EncryptionCodec:
    """The configured keys, or the dev key file in the state dir (created if missing)."""
    ring = key_ring_from_settings(settings)
    key_file = settings.state_dir / DEV_KEY_FILE
    if ring is None:
        ring = write_dev_key(key_file)
        console.print(
            f"[yellow]No encryption key configured:[/] generated a local dev key in {key_file} "
            "(this machine only). cellpath commands run from this directory use it; for real "
            "data set CELLPATH_ENCRYPTION_KEYS or CELLPATH_ENCRYPTION_KEY_FILE "
            "(docs/security.md)."
        )
    elif not (settings.encryption_keys or settings.encryption_key_file):
        console.print(f"payloads encrypted with the local dev key in {key_file}")
    else:
        console.print(f"payloads encrypted with the configured key [bold]{ring.current}[/]")
    return EncryptionCodec(ring)


async def run_dev_stack(
    settings: Settings,
    *,
    demo: bool,
    console: Console,
    companions: Sequence[StackCompanion] = (),
) -> None:
    state_dir = settings.state_dir.resolve()
    settings = settings.model_copy(update={"state_dir": state_dir})
    codec = dev_codec(settings, console)
    where, revision = upgrade_store(settings)
    console.print(f"record store {where} (migration {revision})", highlight=False)
    if not port_free(settings.codec_port):
        raise DevStackError(
            f"Port {settings.codec_port} (codec server) is already in use: stop what holds it, "
            "or set CELLPATH_CODEC_PORT."
        )
    ui = settings.dev_ui_port
    codec_app = app_from_settings(
        settings,
        host="127.0.0.1",
        dev=True,
        codec=codec,
        extra_origins=[f"http://localhost:{ui}", f"http://127.0.0.1:{ui}"],
    )
    async with running(codec_app, host="127.0.0.1", port=settings.codec_port) as codec_url:
        server = DevServer(
            port=settings.dev_port,
            ui_port=ui,
            db_file=state_dir / "temporal.db",
            log_file=state_dir / "temporal.log",
            ui_codec_endpoint=codec_url,
        )
        server.start()
        try:
            await _serve(
                server,
                settings,
                codec,
                codec_url,
                demo=demo,
                console=console,
                companions=companions,
            )
        finally:
            server.stop()


async def _serve(
    server: DevServer,
    settings: Settings,
    codec: EncryptionCodec,
    codec_url: str,
    *,
    demo: bool,
    console: Console,
    companions: Sequence[StackCompanion] = (),
) -> None:
    with console.status(f"starting Temporal on {server.address} (SQLite {server.db_file})…"):
        await server.wait_ready()
        client = await connect(
            target_host=server.address, namespace="default", converter=data_converter(codec)
        )
        # Stated, not start-dev's 24 h: closed pathways then answer from the record store.
        await set_retention(client, timedelta(days=settings.dev_retention_days))
    sign_in = prepare_dev_sign_in(settings.state_dir)
    async with (
        build_worker(
            client,
            settings.task_queue,
            max_cached_workflows=settings.workflow_cache,
            # The configured keys, else the dev stack's public keys just written.
            actor_keys=actor_key_ring_from_settings(settings),
        ),
        AsyncExitStack() as beside,
    ):
        console.print(
            f"[green]Temporal[/] on {server.address}, worker on queue "
            f"[bold]{settings.task_queue}[/]; closed pathways kept "
            f"{settings.dev_retention_days:g} days in Temporal, then read from the record store"
        )
        print_sign_in(sign_in, console)
        if demo:
            with console.status("seeding the demo programme…"):
                results = await seed_demo(
                    client,
                    settings.task_queue,
                    settings.demo_seconds_per_day,
                    signers=dict(sign_in.demo_signers()),
                )
            seeded = sum(1 for r in results.values() if r != "exists")
            console.print(
                f"demo: {len(results)} pathways ({seeded} new, "
                f"{len(results) - seeded} already there); one protocol day lasts "
                f"{settings.demo_seconds_per_day:g} s"
            )
        for companion in companions:
            try:
                url = await beside.enter_async_context(companion.start(client))
            except OSError as err:
                raise DevStackError(
                    f"{companion.name} could not start: {err.strerror or err} (is its port "
                    "taken? CELLPATH_WEB_PORT moves the staff web app)"
                ) from None
            console.print(f"[bold]{companion.name}:[/] {url}")
        token_note = (
            "\n  (CELLPATH_CODEC_TOKEN is set: the UI on plain http cannot send it, so it "
            "shows payloads encrypted; `temporal … --codec-auth` can)"
            if settings.codec_token
            else ""
        )
        console.print(
            f"\n[bold]Web UI:[/] {server.ui_url}/namespaces/default/workflows"
            f"\n  payloads are decrypted for the UI by the codec server at {codec_url}"
            f"{token_note}"
            "\n  try the query:  Overdue = true"
            "\n  and:            cellpath list --overdue\n"
            "Ctrl-C stops the worker and the server (pathways stay in the SQLite file)."
        )
        stop = asyncio.Event()
        # SIGTERM (a service manager, `kill`) stops as cleanly as Ctrl-C does.
        asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop.set)
        await stop.wait()


def print_sign_in(sign_in: DevSignIn, console: Console) -> None:
    """Where the demo staff's passwords are, and how to sign in with one."""
    new = " (new accounts)" if sign_in.passwords else ""
    console.print(
        f"[bold]Sign-in:[/] staff actions need a signed-in person; the demo staff's passwords"
        f"{new} are in {sign_in.passwords_file}\n"
        "  e.g.  cellpath login dr.martin   then   cellpath act PATHWAY EVENT"
    )
