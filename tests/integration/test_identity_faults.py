"""Identity faults sent straight through a plain Temporal client (not the CLI, not the
signing test client): a staff action with no assertion, a forged one, an expired one, one
replayed from another pathway, under another Update ID or for another action, one naming
someone else or a role its signer does not hold, and a signature without re-authentication.
Each is refused with its rule and the pathway's history and record are unchanged; a
properly signed action through the same plain client is accepted, and the audit records the
verified signer and the signature's meaning."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from temporalio.client import Client, WorkflowHandle, WorkflowUpdateFailedError
from temporalio.exceptions import ApplicationError

from client import pathways as operations
from client.centres import centre_policy, start_centre
from devtools.demo_answers import CONSENTED, ORGANS
from models.actor import ASSERTION_TYPE, ISSUER, to_numeric_date
from models.centre_files import load_centre
from models.protocol import Protocol
from signin.keys import SigningKeys
from tests.support.cli_support import Cli, cli_env
from tests.support.pathway_driver import ARD, NURSE, SIGNED, Driver, ago, referral, signed
from tests.support.signing import TEST_SIGNING_KEYS, cosign_as, sign_as
from tests.support.waiting import at_rest
from workflows.centre import CentreWorkflow

pytestmark = pytest.mark.integration


def claims(pathway_id: str, action: str, update_id: str, **changes: Any) -> dict[str, Any]:
    now = datetime.now(UTC)
    base: dict[str, Any] = {
        "iss": ISSUER,
        "sub": "dr.martin",
        "roles": ["ard_specialist"],
        "iat": to_numeric_date(now),
        "exp": to_numeric_date(now + timedelta(minutes=2)),
        "pathway": pathway_id,
        "action": action,
        "update": update_id,
    }
    return {**base, **changes}


async def history_of(handle: WorkflowHandle[Any, Any]) -> list[int]:
    return [e.event_type for e in (await handle.fetch_history()).events]


async def test_forged_expired_and_replayed_assertions_are_refused_and_change_nothing(
    client: Client,
    plain_client: Client,
    task_queue: str,
    running_worker,
    cart_protocol: Protocol,
) -> None:
    consent = {**ARD, **CONSENTED}
    async with running_worker():
        suffix = uuid.uuid4().int % 1_000_000
        mine = await operations.refer(
            client, referral(f"IDF-{suffix:06d}"), task_queue=task_queue, protocol=cart_protocol
        )
        other = await operations.refer(
            client, referral(f"IDG-{suffix:06d}"), task_queue=task_queue, protocol=cart_protocol
        )
        go = Driver(client, mine.id, cart_protocol)
        await go("record_work_up", ARD, completed_at=ago(cart_protocol, 5), **ORGANS)
        await go("approve_at_mdtm", ARD, **SIGNED)
        # Now record_consent is possible: every fault below is for it (or for hold).
        pid = mine.id
        stranger = SigningKeys.generate(TEST_SIGNING_KEYS.current)  # same key ID, other key
        faults: dict[str, tuple[str, dict[str, Any], str]] = {
            "AssertionMissing": ("record_consent", consent, "f-1"),
            "AssertionForged": (
                "record_consent",
                {
                    **consent,
                    "assertion": stranger.sign(
                        ASSERTION_TYPE, claims(pid, "record_consent", "f-2")
                    ),
                },
                "f-2",
            ),
            "AssertionExpired": (
                "record_consent",
                {
                    **consent,
                    "assertion": TEST_SIGNING_KEYS.sign(
                        ASSERTION_TYPE,
                        claims(
                            pid,
                            "record_consent",
                            "f-3",
                            iat=to_numeric_date(datetime.now(UTC) - timedelta(minutes=10)),
                            exp=to_numeric_date(datetime.now(UTC) - timedelta(minutes=8)),
                        ),
                    ),
                },
                "f-3",
            ),
            "AssertionForAnotherPathway": (
                "record_consent",
                {
                    **consent,
                    "assertion": sign_as(
                        "dr.martin",
                        "ard_specialist",
                        workflow_id=other.id,
                        event="record_consent",
                        update_id="f-4",
                    ),
                },
                "f-4",
            ),
            "AssertionReplayed": (
                "record_consent",
                {
                    **consent,
                    "assertion": sign_as(
                        "dr.martin",
                        "ard_specialist",
                        workflow_id=pid,
                        event="record_consent",
                        update_id="f-0",
                    ),
                },
                "f-5",
            ),
            "AssertionForAnotherAction": (
                "hold",
                {
                    **ARD,
                    "reason": "x",
                    "assertion": sign_as(
                        "dr.martin",
                        "ard_specialist",
                        workflow_id=pid,
                        event="record_consent",
                        update_id="f-6",
                    ),
                },
                "f-6",
            ),
            "SignedForSomeoneElse": (
                "record_consent",
                {
                    **consent,
                    "assertion": sign_as(
                        "dr.roux",
                        "ard_specialist",
                        workflow_id=pid,
                        event="record_consent",
                        update_id="f-7",
                    ),
                },
                "f-7",
            ),
            "RoleNotHeld": (
                "record_consent",
                {
                    **consent,
                    "assertion": sign_as(
                        "dr.martin",
                        "nurse",
                        workflow_id=pid,
                        event="record_consent",
                        update_id="f-8",
                    ),
                },
                "f-8",
            ),
        }
        length = await at_rest(client, pid)
        before_events = await history_of(mine)
        before_record = await operations.record(client, pid)
        plain = plain_client.get_workflow_handle(pid)
        for rule, (event, data, update_id) in faults.items():
            with pytest.raises(WorkflowUpdateFailedError) as refused:
                await plain.execute_update(event, data, id=update_id)
            cause = refused.value.cause
            assert isinstance(cause, ApplicationError), rule
            assert cause.type == rule, (rule, cause.message)
            assert "nothing was changed" in cause.message or rule == "AssertionMissing", cause
        assert await at_rest(client, pid) == length
        assert await history_of(mine) == before_events
        after = await operations.record(client, pid)
        assert after.audit == before_record.audit and after.state == before_record.state

        # Signed properly, through the same plain client: accepted, signer recorded.
        token = sign_as(
            "dr.martin", "ard_specialist", workflow_id=pid, event="record_consent", update_id="f-9"
        )
        await plain.execute_update("record_consent", {**consent, "assertion": token}, id="f-9")
        entry = (await operations.record(client, pid)).audit[-1]
        assert (entry.event, entry.actor, entry.role.value) == (
            "record_consent",
            "dr.martin",
            "ard_specialist",
        )
        assert "assertion" not in entry.data and entry.meaning is None


async def test_a_signature_records_its_meaning_and_needs_a_fresh_password(
    client: Client, plain_client: Client, task_queue: str, running_worker, cart_protocol: Protocol
) -> None:
    async with running_worker():
        handle = await operations.refer(
            client,
            referral(f"IDS-{uuid.uuid4().int % 1_000_000:06d}"),
            task_queue=task_queue,
            protocol=cart_protocol,
        )
        await Driver(client, handle.id, cart_protocol)(
            "record_work_up", ARD, completed_at=ago(cart_protocol, 5), **ORGANS
        )
        length = await at_rest(client, handle.id)
        plain = plain_client.get_workflow_handle(handle.id)
        # Signed in, but no password again for the MDTM decision: no meaning, no auth_time.
        unsigned = TEST_SIGNING_KEYS.sign(
            ASSERTION_TYPE, claims(handle.id, "approve_at_mdtm", "s-1")
        )
        with pytest.raises(WorkflowUpdateFailedError) as refused:
            await plain.execute_update(
                "approve_at_mdtm", {**ARD, **signed(cart_protocol), "assertion": unsigned}, id="s-1"
            )
        assert isinstance(refused.value.cause, ApplicationError)
        assert refused.value.cause.type == "ReauthenticationRequired"
        assert await at_rest(client, handle.id) == length

        # The nurse signs nothing at the MDTM: the decision's signer must be one of the binôme.
        nurse = sign_as(
            "n.bernard", "nurse", workflow_id=handle.id, event="approve_at_mdtm", update_id="s-2"
        )
        with pytest.raises(WorkflowUpdateFailedError) as refused:
            await plain.execute_update(
                "approve_at_mdtm", {**NURSE, **signed(cart_protocol), "assertion": nurse}, id="s-2"
            )
        assert isinstance(refused.value.cause, ApplicationError)
        assert refused.value.cause.type == "RoleNotAllowed"
        assert await at_rest(client, handle.id) == length

        token = sign_as(
            "dr.martin",
            "ard_specialist",
            workflow_id=handle.id,
            event="approve_at_mdtm",
            update_id="s-3",
        )
        # co-signed by dr.roux, the other half of the binôme (tests/integration/
        # test_identity_cosign.py: the co-signature's own faults)
        second = cosign_as(
            "dr.roux",
            ["cell_therapy_specialist"],
            workflow_id=handle.id,
            event="approve_at_mdtm",
            update_id="s-3",
        )
        await plain.execute_update(
            "approve_at_mdtm",
            {**ARD, **signed(cart_protocol), "assertion": token, "cosignature": second},
            id="s-3",
        )
        entry = (await operations.record(client, handle.id)).audit[-1]
        assert (entry.event, entry.actor, entry.meaning) == (
            "approve_at_mdtm",
            "dr.martin",
            "approved",
        )


async def test_centre_evidence_needs_a_signed_identity_too(
    client: Client, plain_client: Client, demo_centres: dict[str, str]
) -> None:
    centre = next(iter(demo_centres))
    handle = plain_client.get_workflow_handle(f"centre-{centre}")
    before = await history_of(handle)
    lead = {"actor": "dr.lefevre", "role": "programme_lead"}
    soon = (datetime.now(UTC) + timedelta(days=300)).isoformat()
    icu = {"name": "Medical ICU B", "valid_until": soon}
    with pytest.raises(WorkflowUpdateFailedError) as refused:
        await handle.execute_update(
            "record_icu_access", {**lead, "evidence": icu}, id=f"c-{uuid.uuid4()}"
        )
    assert isinstance(refused.value.cause, ApplicationError)
    assert refused.value.cause.type == "AssertionMissing"
    assert await history_of(handle) == before


async def test_the_cli_signs_centre_evidence_as_the_person_signed_in(
    client: Client, dev_server, encryption_codec, task_queue: str, running_worker, tmp_path
) -> None:
    """`cellpath centres record` signs as the person signed in (a programme lead), the centre
    records that person; `--by` is refused, pointing at `cellpath login`."""
    policy = centre_policy()
    centre = load_centre(
        Path("centres") / "centre-b.yaml", now=datetime.now(UTC), time_scale=policy.time_scale
    ).model_copy(update={"id": f"t{uuid.uuid4().hex[:10]}"})
    cli = Cli(
        cli_env(
            dev_server.address,
            task_queue,
            tmp_path / "state",
            keys=encryption_codec.ring.to_spec(),
        )
    )
    soon = (datetime.now(UTC) + timedelta(days=300)).isoformat()
    evidence = json.dumps({"name": "Medical ICU B", "valid_until": soon})
    async with running_worker():
        assert await start_centre(client, centre, policy, task_queue=task_queue)
        typed = await cli("centres", "record", centre.id, "icu_access", "--by", "x.y")
        assert typed.code == 2 and "cellpath login" in typed.stderr, typed
        args = ("centres", "record", centre.id, "icu_access", "--data", evidence, "--json")
        done = await cli(*args, "--by", "dr.lefevre", "--role", "programme_lead")
        assert done.code == 0, done
        record = await client.get_workflow_handle(f"centre-{centre.id}").query(
            CentreWorkflow.get_record
        )
        assert (record.audit[-1].actor, record.audit[-1].role.value) == (
            "dr.lefevre",
            "programme_lead",
        )
        await client.get_workflow_handle(f"centre-{centre.id}").terminate("test over")
