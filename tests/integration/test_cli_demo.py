"""The demo programme: seeded once whatever the number of runs, listed, and soon overdue."""

from __future__ import annotations

from pathlib import Path

import pytest
from temporalio.client import Client

from devtools.demo import load_cases, seed_demo
from devtools.devserver import DevServer
from models.referral import pathway_id
from tests.support.cli_support import Cli, ListDoc, cli_env
from tests.support.waiting import eventually

pytestmark = pytest.mark.integration

# One protocol day lasts three seconds: the case approved on day 88 of its 90-day work-up
# validity keeps 6 s for its MDTM on a loaded machine (1 s a day left 2 s, and it failed),
# and the 1-day sponsor report and 2-day quarantine review still fall overdue within seconds.
SECONDS_PER_DAY = 3.0


async def first_run(client: Client, workflow_id: str) -> str:
    described = await client.get_workflow_handle(workflow_id).describe()
    return described.raw_description.workflow_execution_info.first_run_id


async def test_demo_seeding_is_idempotent_listed_and_soon_overdue(
    client: Client, dev_server: DevServer, task_queue: str, running_worker, tmp_path: Path
) -> None:
    cases = load_cases()
    ids = {pathway_id(c.centre, c.pseudonym) for c in cases}
    assert len(ids) == 20
    cli = Cli(cli_env(dev_server.address, task_queue, tmp_path / "state"))
    async with running_worker():
        seen: list[str] = []
        first = await seed_demo(
            client, task_queue, SECONDS_PER_DAY, progress=lambda case, r: seen.append(r)
        )
        try:
            assert set(first.values()) == {"seeded"}, first
            assert len(seen) == 20
            # The chain's first run: a pathway seeded into follow-up may still continue as
            # new after its last action (the run's record store write comes first).
            runs = {p: await first_run(client, p) for p in ids}

            second = await seed_demo(client, task_queue, SECONDS_PER_DAY)
            assert second == dict.fromkeys(first, "exists")
            again = {p: await first_run(client, p) for p in ids}
            assert again == runs, "the second seeding started no workflow"

            listed: set[str] = set()
            overdue: set[str] = set()

            async def seen() -> bool:
                nonlocal listed, overdue
                out = await cli("list", "--json")
                assert out.code == 0, out
                listed = {r.pathway_id for r in ListDoc.model_validate(out.json()).pathways}
                late = await cli("list", "--overdue", "--json")
                overdue = {r.pathway_id for r in ListDoc.model_validate(late.json()).pathways}
                return ids <= listed and len(overdue & ids) >= 3

            await eventually(seen, timeout=90, what="seeded pathways listed, three overdue")
            assert ids <= listed
            assert len(overdue & ids) >= 3, sorted(overdue & ids)
            table = await cli("list", "--overdue")
            assert "overdue pathway(s)" in table.stdout
            assert any(p in table.stdout for p in overdue & ids)
        finally:
            for p in ids:
                handle = client.get_workflow_handle(p)
                if (await handle.describe()).status.name == "RUNNING":  # type: ignore[union-attr]
                    await handle.terminate("test over")
