"""Co-signature faults sent straight through a plain Temporal client: an MDTM decision (a
two-person action, the binôme) properly signed by dr.martin but with no co-signature, a
forged one, an expired one, one replayed from another Update, one by the signer himself,
by someone the decision does not name, or by dr.roux without the cell-therapy specialist's
role. Each is refused with its rule, and the pathway's history and record are unchanged; a
valid co-signature is accepted, and the audit entry records both people, both meanings, and
is sealed by chain version 2."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from temporalio.client import Client, WorkflowHandle, WorkflowUpdateFailedError
from temporalio.exceptions import ApplicationError

from client import pathways as operations
from devtools.demo_answers import ORGANS
from models.actor import COSIGNATURE_TYPE, ISSUER, to_numeric_date
from models.audit import verify_chain
from models.protocol import Protocol
from models.roles import Role
from signin.keys import SigningKeys
from tests.support.pathway_driver import ARD, Driver, ago, referral, signed
from tests.support.signing import TEST_SIGNING_KEYS, cosign_as, sign_as
from tests.support.waiting import at_rest

pytestmark = pytest.mark.integration

EVENT = "approve_at_mdtm"
CTS = ["cell_therapy_specialist"]


def cosign_claims(pathway_id: str, update_id: str, **changes: Any) -> dict[str, Any]:
    now = datetime.now(UTC)
    base: dict[str, Any] = {
        "iss": ISSUER,
        "sub": "dr.roux",
        "roles": CTS,
        "iat": to_numeric_date(now),
        "exp": to_numeric_date(now + timedelta(minutes=2)),
        "pathway": pathway_id,
        "action": EVENT,
        "update": update_id,
        "meaning": "verified",
        "auth_time": to_numeric_date(now),
    }
    return {**base, **changes}


async def history_of(handle: WorkflowHandle[Any, Any]) -> list[int]:
    return [e.event_type for e in (await handle.fetch_history()).events]


async def test_the_second_person_must_cosign_and_both_are_audited(
    client: Client, plain_client: Client, task_queue: str, running_worker, cart_protocol: Protocol
) -> None:
    async with running_worker():
        handle = await operations.refer(
            client,
            referral(f"COS-{uuid.uuid4().int % 1_000_000:06d}"),
            task_queue=task_queue,
            protocol=cart_protocol,
        )
        pid = handle.id
        await Driver(client, pid, cart_protocol)(
            "record_work_up", ARD, completed_at=ago(cart_protocol, 5), **ORGANS
        )
        decision = {**ARD, **signed(cart_protocol)}  # dr.martin and dr.roux, the binôme

        def cosigned_by(actor: str, roles: list[str], update_id: str) -> str:
            return cosign_as(actor, roles, workflow_id=pid, event=EVENT, update_id=update_id)

        stranger = SigningKeys.generate(TEST_SIGNING_KEYS.current)  # same key ID, other key
        old = datetime.now(UTC) - timedelta(minutes=10)
        faults: dict[str, tuple[str, str | None]] = {
            "CosignatureMissing": ("c-1", None),
            "AssertionForged": ("c-2", stranger.sign(COSIGNATURE_TYPE, cosign_claims(pid, "c-2"))),
            "AssertionExpired": (
                "c-3",
                TEST_SIGNING_KEYS.sign(
                    COSIGNATURE_TYPE,
                    cosign_claims(
                        pid,
                        "c-3",
                        iat=to_numeric_date(old),
                        exp=to_numeric_date(old + timedelta(minutes=2)),
                        auth_time=to_numeric_date(old),
                    ),
                ),
            ),
            "AssertionReplayed": ("c-4", cosigned_by("dr.roux", CTS, "c-0")),
            "CosignedBySigner": ("c-5", cosigned_by("dr.martin", ["ard_specialist"], "c-5")),
            "CosignerNotNamed": ("c-6", cosigned_by("dr.garnier", CTS, "c-6")),
            "CosignerRoleNotHeld": ("c-7", cosigned_by("dr.roux", ["nurse"], "c-7")),
        }
        length = await at_rest(client, pid)
        before_events = await history_of(handle)
        before = await operations.record(client, pid)
        plain = plain_client.get_workflow_handle(pid)
        for rule, (update_id, cosignature) in faults.items():
            assertion = sign_as(
                "dr.martin", "ard_specialist", workflow_id=pid, event=EVENT, update_id=update_id
            )
            data = {**decision, "assertion": assertion}
            if cosignature is not None:
                data["cosignature"] = cosignature
            with pytest.raises(WorkflowUpdateFailedError) as refused:
                await plain.execute_update(EVENT, data, id=update_id)
            cause = refused.value.cause
            assert isinstance(cause, ApplicationError), rule
            assert cause.type == rule, (rule, cause.message)
            assert "nothing was changed" in cause.message, cause.message
        assert await at_rest(client, pid) == length
        assert await history_of(handle) == before_events
        after = await operations.record(client, pid)
        assert after.audit == before.audit and after.state == before.state

        # Co-signed by dr.roux, the other half of the binôme: accepted, both audited.
        assertion = sign_as(
            "dr.martin", "ard_specialist", workflow_id=pid, event=EVENT, update_id="c-9"
        )
        cosignature = cosigned_by("dr.roux", CTS, "c-9")
        await plain.execute_update(
            EVENT, {**decision, "assertion": assertion, "cosignature": cosignature}, id="c-9"
        )
        record = await operations.record(client, pid)
        entry = record.audit[-1]
        assert (entry.event, entry.actor, entry.meaning) == (EVENT, "dr.martin", "approved")
        assert (entry.cosigner, entry.cosigner_role, entry.cosigner_meaning) == (
            "dr.roux",
            Role.CELL_THERAPY_SPECIALIST,
            "verified",
        )
        assert entry.chain == 2 and "cosignature" not in entry.data
        assert verify_chain(record.audit, pid) == []
        # the meaning is sealed: changed, the chain says so
        record.audit[-1] = entry.model_copy(update={"meaning": "rejected"})
        assert [p.kind for p in verify_chain(record.audit, pid)] == ["edited"]
        await handle.terminate("test over")
