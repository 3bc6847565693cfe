"""Record the histories that the replay test keeps replaying.

Run ``make histories`` (or ``python -m tests.histories.regenerate``) after a deliberate
change to the workflow's history shape, *and* guard the change with ``workflow.patched`` so
that the old histories still replay: old files are kept beside new ones, never rewritten.

It starts a real dev server in memory, plays a full CAR-T pathway (15 years of follow-up,
one run per follow-up year) and a full MSC pathway with repeated infusions on compressed
protocols, and writes every run's history as JSON.
"""

from __future__ import annotations

import asyncio
import sys
import uuid
from datetime import timedelta
from pathlib import Path

from temporalio.client import Client
from temporalio.contrib.pydantic import pydantic_data_converter

from cli import operations
from cli.centres import load_centres
from cli.devstack import DevServer, free_port
from models.protocol import Protocol, Therapy, load_default_protocol, load_protocol, protocol_path
from tests.pathway_driver import ARD, CTS, NURSE, PHARMA, TECH, Driver, referral
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
    await go.to_consent()
    await go("order_product", PHARMA, coi_id=coi, doses=2)
    await go("receive_product", TECH, bag_coi_id=coi)
    await go("clear_for_treatment", CTS, active_infection=False)
    await go("thaw_product", TECH, bag_coi_id=coi)
    await go("infuse", NURSE, bag_coi_id=coi, checked_by=["n.bernard", "dr.roux"])
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


async def main(out: Path) -> None:
    server = DevServer(port=free_port())
    server.start()
    try:
        await server.wait_ready()
        client = await Client.connect(server.address, data_converter=pydantic_data_converter)
        task_queue = f"histories-{uuid.uuid4()}"
        async with build_worker(client, task_queue):
            await load_centres(client, task_queue)
            cart_id = await play_cart(client, task_queue)
            msc_id = await play_msc(client, task_queue)
            version = (out / "VERSION").read_text().strip() if (out / "VERSION").exists() else "v1"
            for workflow_id, name in (
                (cart_id, f"cart-full-{version}"),
                (msc_id, f"msc-full-{version}"),
            ):
                for path in await write_runs(client, workflow_id, name, out):
                    print(
                        f"wrote {path.relative_to(Path.cwd()) if path.is_relative_to(Path.cwd()) else path}"
                    )
    finally:
        server.stop()


if __name__ == "__main__":
    asyncio.run(main(Path(sys.argv[1]) if len(sys.argv) > 1 else HERE))
