"""Eligibility at the MDTM through the real workflow and dev server: a referral that does not
meet the protocol's refractoriness rule is refused at approval (NotEligible, the unmet
criterion named, nothing in history), and approved once the work-up completes the treatment
history; an unanswered exclusion checklist is refused the same way."""

from __future__ import annotations

import pytest
from temporalio.client import Client

from client import pathways as operations
from devtools.demo_answers import ORGANS
from devtools.demo_eligibility import eligibility_for, no_exclusions, one_treatment_only
from models.protocol import Protocol
from tests.support.pathway_driver import ARD, CTS, SIGNED, Driver, ago, referral
from tests.support.waiting import at_rest

pytestmark = pytest.mark.integration

LUPUS = "systemic lupus erythematosus"


async def test_not_refractory_is_refused_until_the_history_is_complete(
    client: Client, task_queue: str, running_worker, cart_protocol: Protocol
) -> None:
    protocol = cart_protocol.compressed(seconds_per_day=60)
    async with running_worker():
        handle = await operations.refer(
            client,
            referral("ELI-101", **one_treatment_only(LUPUS)),
            task_queue=task_queue,
            protocol=protocol,
        )
        go = Driver(client, handle.id, protocol)
        await go("record_work_up", ARD, completed_at=ago(protocol, 5), **ORGANS)
        before = await at_rest(client, handle.id)
        with pytest.raises(operations.ActionRefused) as refused:
            await go("approve_at_mdtm", ARD, **SIGNED)
        assert refused.value.kind == "NotEligible"
        message = refused.value.message
        assert "refractoriness rule not met" in message
        assert "at least two standard immunosuppressants" in message
        assert "1 failed treatment(s) counted (mycophenolate mofetil), 2 needed" in message
        assert await at_rest(client, handle.id) == before
        record = await operations.record(client, handle.id)
        assert record.state == "awaiting_mdtm"
        assert record.eligibility.disease == LUPUS
        assert record.eligibility.severity is not None
        assert record.eligibility.severity.score == "SLEDAI-2K"

        await go("defer_at_mdtm", CTS, **SIGNED, reason="treatment history incomplete")
        await go(
            "record_work_up",
            ARD,
            completed_at=ago(protocol, 1),
            prior_treatments=eligibility_for(LUPUS)["prior_treatments"],
            **ORGANS,
        )
        receipt = await go("approve_at_mdtm", ARD, **SIGNED)
        assert receipt.state == "awaiting_consent"
        record = await operations.record(client, handle.id)
        assert [t.drug for t in record.eligibility.prior_treatments] == [
            "mycophenolate mofetil",
            "cyclophosphamide",
        ]
        assert record.eligibility.exclusions == no_exclusions(protocol)
        await handle.terminate("test over")


async def test_an_unanswered_exclusion_checklist_is_refused(
    client: Client, task_queue: str, running_worker, cart_protocol: Protocol
) -> None:
    protocol = cart_protocol.compressed(seconds_per_day=60)
    async with running_worker():
        handle = await operations.refer(
            client, referral("ELI-102"), task_queue=task_queue, protocol=protocol
        )
        go = Driver(client, handle.id, protocol)
        await go("record_work_up", ARD, completed_at=ago(protocol, 5), exclusions={}, **ORGANS)
        with pytest.raises(operations.ActionRefused) as refused:
            await go("approve_at_mdtm", ARD, **SIGNED)
        assert refused.value.kind == "NotEligible"
        assert "exclusion checklist not answered at work-up: active uncontrolled" in (
            refused.value.message
        )
        await go("defer_at_mdtm", CTS, **SIGNED, reason="exclusion checklist to answer")
        with pytest.raises(operations.ActionRefused) as unknown:
            await go(
                "record_work_up",
                ARD,
                completed_at=ago(protocol, 1),
                exclusions={"smoker": True},
                **ORGANS,
            )
        assert unknown.value.kind == "MalformedAction"
        assert "'smoker' is not on this protocol's exclusion checklist" in unknown.value.message
        await go("record_work_up", ARD, completed_at=ago(protocol, 1), **ORGANS)
        assert (await go("approve_at_mdtm", ARD, **SIGNED)).state == "awaiting_consent"
        await handle.terminate("test over")
