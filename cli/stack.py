"""``cellpath dev``: the dev server on SQLite, the worker and (optionally) the demo, in one
process tree that Ctrl-C stops cleanly."""

from __future__ import annotations

import asyncio
import signal

from rich.console import Console

from cli.devstack import DevServer
from models.settings import Settings


async def run_dev_stack(settings: Settings, *, demo: bool, console: Console) -> None:
    from worker import build_worker, connect

    state_dir = settings.state_dir.resolve()
    server = DevServer(
        port=settings.dev_port,
        ui_port=settings.dev_ui_port,
        db_file=state_dir / "temporal.db",
        log_file=state_dir / "temporal.log",
    )
    server.start()
    try:
        with console.status(f"starting Temporal on {server.address} (SQLite {server.db_file})…"):
            await server.wait_ready()
            client = await connect(target_host=server.address, namespace="default")
        async with build_worker(client, settings.task_queue):
            console.print(
                f"[green]Temporal[/] on {server.address}, worker on queue "
                f"[bold]{settings.task_queue}[/]"
            )
            if demo:
                from cli.demo import seed_demo

                with console.status("seeding the demo programme…"):
                    results = await seed_demo(
                        client, settings.task_queue, settings.demo_seconds_per_day
                    )
                seeded = sum(1 for r in results.values() if r != "exists")
                console.print(
                    f"demo: {len(results)} pathways ({seeded} new, "
                    f"{len(results) - seeded} already there); one protocol day lasts "
                    f"{settings.demo_seconds_per_day:g} s"
                )
            console.print(
                f"\n[bold]Web UI:[/] {server.ui_url}/namespaces/default/workflows"
                "\n  try the query:  Overdue = true"
                "\n  and:            cellpath list --overdue\n"
                "Ctrl-C stops the worker and the server (pathways stay in the SQLite file)."
            )
            stop = asyncio.Event()
            # SIGTERM (a service manager, `kill`) stops as cleanly as Ctrl-C does.
            asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop.set)
            await stop.wait()
    finally:
        server.stop()
