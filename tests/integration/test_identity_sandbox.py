"""An actor assertion is verified inside a real workflow's update validator, in Temporal's
sandbox with its default restrictions: good ones are accepted, a missing, forged, expired
or replayed one is refused with its rule as the failure type, and nothing is recorded."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import pytest
from argon2 import PasswordHasher
from argon2.profiles import CHEAPEST
from temporalio.client import Client, WorkflowUpdateFailedError
from temporalio.exceptions import ApplicationError
from temporalio.worker import Worker
from temporalio.worker.workflow_sandbox import SandboxedWorkflowRunner, SandboxRestrictions

from models.actor import ASSERTION_TYPE, ISSUER, to_numeric_date
from signin.accounts import demo_accounts
from signin.keys import SigningKeys
from signin.service import AssertionService
from tests.support.identity_probe import IdentityProbeWorkflow, ProbeAction

pytestmark = pytest.mark.integration


async def test_assertions_are_verified_in_the_update_validator(
    client: Client, task_queue: str
) -> None:
    book, passwords = demo_accounts(hasher=PasswordHasher.from_parameters(CHEAPEST))
    keys = SigningKeys.generate("k1")
    service = AssertionService(keys, authenticator=book)
    session = service.sign_in("n.bernard", passwords["n.bernard"])
    pathway_id = f"pathway-centre-a-LUP-{uuid.uuid4().int % 1000:03d}"
    other_pathway = "pathway-centre-a-LUP-999"

    def assertion(update_id: str, action: str = "start_lymphodepletion", **kw: str) -> str:
        return service.assert_action(
            session.token, pathway_id=pathway_id, action=action, update_id=update_id, **kw
        )

    worker = Worker(
        client,
        task_queue=task_queue,
        workflows=[IdentityProbeWorkflow],
        # The default restrictions, not the worker's: the probe's own passthrough must do.
        workflow_runner=SandboxedWorkflowRunner(restrictions=SandboxRestrictions.default),
    )
    async with worker:
        handle = await client.start_workflow(
            IdentityProbeWorkflow.run,
            keys.public_ring().to_spec(),
            id=pathway_id,
            task_queue=task_queue,
        )

        async def send(action: str, token: str | None, update_id: str) -> str:
            return await handle.execute_update(
                IdentityProbeWorkflow.act, ProbeAction(action, token), id=update_id
            )

        assert await send("start_lymphodepletion", assertion("u-1"), "u-1") == "n.bernard"
        infusion = assertion("u-2", action="infuse", credential=passwords["n.bernard"])
        assert await send("infuse", infusion, "u-2") == "n.bernard"

        now = datetime.now(UTC)
        expired = keys.sign(
            ASSERTION_TYPE,
            {
                "iss": ISSUER,
                "sub": "n.bernard",
                "roles": ["nurse"],
                "iat": to_numeric_date(now - timedelta(minutes=10)),
                "exp": to_numeric_date(now - timedelta(minutes=8)),
                "pathway": pathway_id,
                "action": "complete_lymphodepletion",
                "update": "u-4",
            },
        )
        stranger = SigningKeys.generate("k1")
        forged = AssertionService(stranger, authenticator=book).assert_action(
            stranger_session(stranger, book, passwords),
            pathway_id=pathway_id,
            action="complete_lymphodepletion",
            update_id="u-5",
        )
        foreign = service.assert_action(
            session.token,
            pathway_id=other_pathway,
            action="complete_lymphodepletion",
            update_id="u-6",
        )
        refusals = {
            "AssertionMissing": ("complete_lymphodepletion", None, "u-3"),
            "AssertionExpired": ("complete_lymphodepletion", expired, "u-4"),
            "AssertionForged": ("complete_lymphodepletion", forged, "u-5"),
            "AssertionForAnotherPathway": ("complete_lymphodepletion", foreign, "u-6"),
            "AssertionReplayed": ("start_lymphodepletion", assertion("u-1"), "u-7"),
            "AssertionForAnotherAction": ("complete_lymphodepletion", assertion("u-8"), "u-8"),
        }
        for rule, (action, token, update_id) in refusals.items():
            with pytest.raises(WorkflowUpdateFailedError) as err:
                await send(action, token, update_id)
            cause = err.value.cause
            assert isinstance(cause, ApplicationError), rule
            assert cause.type == rule

        assert await handle.query(IdentityProbeWorkflow.accepted_actions) == [
            "n.bernard:start_lymphodepletion:-",
            "n.bernard:infuse:administered",
        ]
        history = await handle.fetch_history()
        accepted = [
            e
            for e in history.events
            if e.HasField("workflow_execution_update_accepted_event_attributes")
        ]
        assert len(accepted) == 2  # refused in the validator: nothing reached the history
        await handle.signal(IdentityProbeWorkflow.finish)
        await handle.result()


def stranger_session(keys: SigningKeys, book: object, passwords: dict[str, str]) -> str:
    """A session of the same person with a signing key the workflow does not trust."""
    service = AssertionService(keys, authenticator=book)  # type: ignore[arg-type]
    return service.sign_in("n.bernard", passwords["n.bernard"]).token
