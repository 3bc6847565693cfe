"""A pathway's next run gets its protocol through the worker's claim-check codec
(models/protocol_claim_check.py): in history only its hash, compressed and encrypted; the
protocol in the record store; no fetch, and the new run answers at once."""

from __future__ import annotations

import zlib

import pytest
from temporalio.api.common.v1 import Payload
from temporalio.api.enums.v1 import EventType
from temporalio.client import Client

from client import pathways as operations
from models import contracts
from models.carried import ProtocolRef
from models.encryption import ENCODING, EncryptionCodec
from models.protocol import Protocol
from models.protocol_claim_check import COMPRESSED, PROTOCOL_HASH
from store import RecordReader
from tests.support.pathway_driver import ARD, NURSE, Driver, fast, referral
from tests.support.waiting import eventually

pytestmark = pytest.mark.integration


def decompressed(payload: Payload) -> Payload:
    assert payload.metadata["encoding"] == COMPRESSED
    return Payload.FromString(zlib.decompress(payload.data))


async def test_the_next_run_gets_its_protocol_by_claim_check(
    client: Client,
    task_queue: str,
    running_worker,
    cart_protocol: Protocol,
    store_reader: RecordReader,
    encryption_codec: EncryptionCodec,
) -> None:
    protocol = fast(cart_protocol)
    async with running_worker():
        handle = await operations.refer(
            client, referral("LUP-131"), task_queue=task_queue, protocol=protocol
        )
        go = Driver(client, handle.id, protocol)
        await go.to_infusion()
        await go.discharge()
        first_run = (await handle.describe()).run_id
        for label in ("D7", "D14", "D28", "M3", "M6", "M12"):
            await go("record_visit", NURSE, visit=label)

        async def new_run() -> str | None:
            run = (await handle.describe()).run_id
            return run if run != first_run else None

        second_run = await eventually(new_run, timeout=20, what="the follow-up year's new run")
        # The new run answers at once: its protocol came with its input.
        receipt = await operations.act(client, handle.id, "start_long_term_follow_up", ARD)
        assert receipt.state == "long_term"

        history = await client.get_workflow_handle(handle.id, run_id=second_run).fetch_history()
        [sealed] = history.events[0].workflow_execution_started_event_attributes.input.payloads
        assert sealed.metadata["encoding"] == ENCODING, "encrypted after the claim check"
        inner = decompressed(encryption_codec.decrypt(sealed))
        digest = ProtocolRef.of(protocol).content_hash
        assert inner.metadata[PROTOCOL_HASH].decode() == digest
        assert b'"protocol":null' in inner.data
        assert sealed.ByteSize() < 6000, "the protocol stays out of history"
        stored = store_reader.protocol_version(digest)
        assert stored is not None and stored.protocol_id == protocol.id
        activities = [
            e.activity_task_scheduled_event_attributes.activity_type.name
            for e in history.events
            if e.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED
        ]
        assert contracts.FETCH_PROTOCOL not in activities
        await handle.terminate("test over")
