"""Record the histories that the replay test keeps replaying.

Run ``make histories`` (or ``python -m tests.histories.regenerate``) after a deliberate
change to the workflow's history shape, *and* guard the change with ``workflow.patched`` so
that the old histories still replay: old files are kept beside new ones, never rewritten.

It starts a real dev server in memory, plays a full CAR-T pathway (15 years of follow-up,
one run per follow-up year), a full MSC pathway with repeated infusions and a CAR-T pathway
whose work-up is late (its deadline escalates through notification activities) on
compressed protocols, and writes every run's history as JSON. ``--only NAME`` records one
scenario (``cart-full``, ``msc-full``, ``cart-escalations``) beside the others.
"""

from __future__ import annotations

import asyncio
import sys
import uuid
from datetime import timedelta
from pathlib import Path

from temporalio.client import Client
from temporalio.contrib.pydantic import pydantic_data_converter

from client import pathways as operations
from client.centres import load_centres
from devtools.devserver import DevServer, free_port
from models.protocol import Protocol, Therapy, load_default_protocol, load_protocol, protocol_path
from tests.pathway_driver import ARD, CTS, NURSE, TECH, Driver, ago, referral
from worker import build_worker

HERE = Path(__file__).resolve().parent


async def play_cart(client: Client, task_queue: str) -> str:
    real = load_default_protocol(Therapy.CAR_T)
    protocol = real.compressed(seconds_per_day=0.02, floor=timedelta(seconds=1))
    handle = await operations.refer(
        client, referral("HIS-001"), task_queue=task_queue, protocol=protocol
    )
    go = Driver(client, handle.id, protocol)
    await go.to_infusion()
    await go("record_adverse_event", NURSE, kind="CRS", grade=2)
    await go("discharge", CTS)
    for visit in protocol.visits:
        if visit.label == "Y2":
            await go("start_long_term_follow_up", ARD)
        await go("record_visit", NURSE, visit=visit.label)
    await go("complete_follow_up", ARD)
    await handle.result()
    return handle.id


async def play_msc(client: Client, task_queue: str) -> str:
    real: Protocol = load_protocol(protocol_path("msc-lupus-repeated"))
    protocol = real.compressed(seconds_per_day=0.02, floor=timedelta(seconds=5))
    handle = await operations.refer(
        client,
        referral("HIS-002", therapy="msc"),
        task_queue=task_queue,
        protocol=protocol,
    )
    go = Driver(client, handle.id, protocol)
    coi = "COI-HIS-MSC"
    await go.to_msc_infusion(coi)
    await asyncio.sleep(
        (real.infusions.interval - real.infusions.interval_tolerance).total_seconds()
        * protocol.time_scale
        + 0.1
    )
    await go("thaw_product", TECH, bag_coi_id=coi)
    await go("infuse", NURSE, bag_coi_id=coi, checked_by=["n.bernard", "dr.roux"])
    for visit in protocol.visits:
        if (
            visit.long_term
            and "long_term" not in (await operations.record(client, handle.id)).configuration
        ):
            await go("start_long_term_follow_up", ARD)
        await go("record_visit", NURSE, visit=visit.label)
    await go("complete_follow_up", ARD)
    await handle.result()
    return handle.id


async def play_escalations(client: Client, task_queue: str) -> str:
    """A late work-up: the deadline escalates twice (activities) before it is recorded,
    then the patient withdraws."""
    real = load_default_protocol(Therapy.CAR_T)
    protocol = real.compressed(seconds_per_day=0.02, floor=timedelta(seconds=1))
    handle = await operations.refer(
        client, referral("HIS-003"), task_queue=task_queue, protocol=protocol
    )
    while (await operations.record(client, handle.id)).escalation_level < 2:
        await asyncio.sleep(0.2)
    go = Driver(client, handle.id, protocol)
    await go("record_work_up", ARD, completed_at=ago(protocol, 1), lvef_percent=60)
    await go("withdraw", ARD, reason="the patient chose another treatment")
    await handle.result()
    return handle.id


SCENARIOS = {"cart-full": play_cart, "msc-full": play_msc, "cart-escalations": play_escalations}


async def write_runs(client: Client, workflow_id: str, name: str, out: Path) -> list[Path]:
    runs = [w async for w in client.list_workflows(f'WorkflowId = "{workflow_id}"')]
    runs.sort(key=lambda w: w.start_time)
    written = []
    for index, run in enumerate(runs, start=1):
        history = await client.get_workflow_handle(workflow_id, run_id=run.run_id).fetch_history()
        path = out / f"{name}-run{index:02d}.json"
        path.write_text(history.to_json(), encoding="utf-8")
        written.append(path)
    return written


async def main(out: Path, only: str | None = None) -> None:
    server = DevServer(port=free_port())
    server.start()
    try:
        await server.wait_ready()
        client = await Client.connect(server.address, data_converter=pydantic_data_converter)
        task_queue = f"histories-{uuid.uuid4()}"
        async with build_worker(client, task_queue):
            await load_centres(client, task_queue)
            version = (out / "VERSION").read_text().strip() if (out / "VERSION").exists() else "v1"
            for scenario, play in SCENARIOS.items():
                if only and scenario != only:
                    continue
                workflow_id = await play(client, task_queue)
                for path in await write_runs(client, workflow_id, f"{scenario}-{version}", out):
                    print(
                        f"wrote {path.relative_to(Path.cwd()) if path.is_relative_to(Path.cwd()) else path}"
                    )
    finally:
        server.stop()


if __name__ == "__main__":
    args = sys.argv[1:]
    only = None
    if "--only" in args:
        at = args.index("--only")
        only = args[at + 1]
        del args[at : at + 2]
        if only not in SCENARIOS:
            sys.exit(f"--only takes one of {', '.join(SCENARIOS)}")
    asyncio.run(main(Path(args[0]) if args else HERE, only))
