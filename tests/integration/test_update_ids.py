"""An Update ID is the idempotency key of one click: a true repeat gets the original receipt,
marked duplicate; the same ID with another action (or other details) is refused, naming the
action it recorded, and changes nothing.

Within a run the Temporal server answers a completed Update ID with its stored result and
never asks the workflow (so the client looks first); in a later run (continue-as-new) the
workflow's validator finds the ID in the record. Both paths are checked, through the client
layer and through the CLI with ``--update-id``.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from temporalio.client import Client

from client import pathways as operations
from models.encryption import EncryptionCodec
from models.pathway import PathwayInput
from models.protocol import Protocol
from tests.support.cli_support import ActDoc, Cli, ErrorDoc, cli_env
from tests.support.pathway_driver import ARD, ago, referral, signed
from tests.support.waiting import at_rest
from workflows.pathway import PathwayWorkflow

pytestmark = pytest.mark.integration


async def history_length(client: Client, workflow_id: str) -> int:
    return len((await client.get_workflow_handle(workflow_id).fetch_history()).events)


async def test_a_reused_update_id_is_refused_and_a_repeat_says_so(
    client: Client, task_queue: str, running_worker, cart_protocol: Protocol
) -> None:
    protocol = cart_protocol.compressed(seconds_per_day=60)
    work_up = {**ARD, "completed_at": ago(protocol, 5), "lvef_percent": 61, "egfr": 90}
    async with running_worker():
        handle = await operations.refer(
            client, referral("IDS-101"), task_queue=task_queue, protocol=protocol
        )
        first = await operations.act(client, handle.id, "record_work_up", work_up, update_id="u-1")
        assert not first.duplicate

        again = await operations.act(client, handle.id, "record_work_up", work_up, update_id="u-1")
        assert again.duplicate and (again.seq, again.at) == (first.seq, first.at)

        length = await at_rest(client, handle.id)
        with pytest.raises(operations.ActionRefused) as other:
            await operations.act(
                client, handle.id, "approve_at_mdtm", {**ARD, **signed(protocol)}, update_id="u-1"
            )
        assert other.value.kind == "UpdateIdReused"
        assert "'record_work_up'" in str(other.value) and "approve_at_mdtm" in str(other.value)

        # The same action with other details under the same ID is not a repeat either.
        with pytest.raises(operations.ActionRefused) as changed:
            await operations.act(
                client,
                handle.id,
                "record_work_up",
                {**work_up, "lvef_percent": 40, "egfr": 90},
                update_id="u-1",
            )
        assert changed.value.kind == "UpdateIdReused" and "other details" in str(changed.value)

        assert await at_rest(client, handle.id) == length
        shown = await operations.record(client, handle.id)
        assert [e.event for e in shown.audit] == ["record_work_up"]
        assert shown.state == "awaiting_mdtm" and shown.audit[0].data["lvef_percent"] == 61
        await handle.terminate("test over")


async def test_a_later_run_refuses_the_id_in_its_validator(
    client: Client, task_queue: str, running_worker, cart_protocol: Protocol
) -> None:
    """The server forgets Update IDs at a new run; the record carries them over."""
    protocol = cart_protocol.compressed(seconds_per_day=60)
    work_up = {**ARD, "completed_at": ago(protocol, 5), "lvef_percent": 61, "egfr": 90}
    async with running_worker():
        handle = await operations.refer(
            client, referral("IDS-102"), task_queue=task_queue, protocol=protocol
        )
        await operations.act(client, handle.id, "record_work_up", work_up, update_id="u-2")
        carried = await operations.record(client, handle.id)
        await handle.terminate("a new run takes over, as continue-as-new would")
        carried.run += 1
        later = await client.start_workflow(
            PathwayWorkflow.run,
            PathwayInput(protocol=protocol, record=carried),
            id=handle.id,
            task_queue=task_queue,
        )
        length = await at_rest(client, later.id)
        with pytest.raises(operations.ActionRefused) as other:
            await operations.act(
                client, later.id, "approve_at_mdtm", {**ARD, **signed(protocol)}, update_id="u-2"
            )
        assert other.value.kind == "UpdateIdReused" and "'record_work_up'" in str(other.value)
        assert await at_rest(client, later.id) == length

        repeat = await operations.act(client, later.id, "record_work_up", work_up, update_id="u-2")
        assert repeat.duplicate and repeat.seq == 1
        shown = await operations.record(client, later.id)
        assert [e.event for e in shown.audit] == ["record_work_up"]
        await later.terminate("test over")


async def test_the_cli_refuses_a_reused_update_id_with_exit_3(
    client: Client,
    dev_server: Any,
    encryption_codec: EncryptionCodec,
    task_queue: str,
    running_worker,
    cart_protocol: Protocol,
    tmp_path: Path,
) -> None:
    keys = encryption_codec.ring.to_spec()
    cli = Cli(cli_env(dev_server.address, task_queue, tmp_path / "state", keys=keys))
    ard = ("--by", "dr.martin", "--role", "ard_specialist")
    protocol = cart_protocol.compressed(seconds_per_day=60)
    async with running_worker():
        handle = await operations.refer(
            client, referral("IDS-103"), task_queue=task_queue, protocol=protocol
        )
        work_up = json.dumps({"completed_at": ago(protocol, 5), "lvef_percent": 61, "egfr": 90})
        sent = ("act", handle.id, "record_work_up", *ard, "--data", work_up, "--update-id", "c-1")
        first = await cli(*sent, "--json")
        assert first.code == 0, first
        assert not ActDoc.model_validate(first.json()).duplicate

        again = await cli(*sent)
        assert again.code == 0 and "already applied at" in again.stdout, again
        repeat = await cli(*sent, "--json")
        assert repeat.code == 0 and ActDoc.model_validate(repeat.json()).duplicate, repeat

        length = await at_rest(client, handle.id)
        approve = (
            "act",
            handle.id,
            "approve_at_mdtm",
            *ard,
            "--data",
            json.dumps(signed(protocol)),
        )
        other = await cli(*approve, "--update-id", "c-1", "--json")
        assert other.code == 3, other
        error = ErrorDoc.model_validate(other.json()).error
        assert error.kind == "UpdateIdReused" and "'record_work_up'" in error.message
        assert "done:" not in other.stdout + other.stderr
        text = await cli(*approve, "--update-id", "c-1")
        assert text.code == 3 and "record_work_up" in text.stderr, text

        assert await at_rest(client, handle.id) == length
        shown = await operations.record(client, handle.id)
        assert shown.state == "awaiting_mdtm" and len(shown.audit) == 1
        await handle.terminate("test over")
