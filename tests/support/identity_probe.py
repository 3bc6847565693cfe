"""A tiny workflow that verifies an actor assertion in an update validator, in the sandbox.

It stands in for the pathway workflow's validators (not yet wired, docs/identity.md) so that
the verification path is proved inside Temporal's workflow sandbox: the crypto that
``models.actor`` uses comes through ``imports_passed_through``, the clock is
``workflow.now()`` and the Update ID is Temporal's own.
"""

from __future__ import annotations

from dataclasses import dataclass

from temporalio import workflow
from temporalio.exceptions import ApplicationError

with workflow.unsafe.imports_passed_through():
    from models.actor import AssertionRefused, VerifiedActor, verify_assertion
    from models.actor_keys import ActorKeyRing


@dataclass
class ProbeAction:
    action: str
    assertion: str | None = None


@workflow.defn(name="IdentityProbe")
class IdentityProbeWorkflow:
    @workflow.init
    def __init__(self, trusted_keys: str) -> None:
        self.ring = ActorKeyRing.parse(trusted_keys)
        self.accepted: list[str] = []
        self.finished = False

    @workflow.run
    async def run(self, trusted_keys: str) -> list[str]:
        await workflow.wait_condition(lambda: self.finished)
        return self.accepted

    @workflow.update
    def act(self, request: ProbeAction) -> str:
        # The validator has verified it; on replay validators do not run, and the handler
        # reads the same history, so it verifies again at the same workflow.now().
        actor = self.verified(request)
        self.accepted.append(f"{actor.actor}:{request.action}:{actor.meaning or '-'}")
        return actor.actor

    @act.validator
    def validate_act(self, request: ProbeAction) -> None:
        self.verified(request)

    @workflow.query
    def accepted_actions(self) -> list[str]:
        return self.accepted

    @workflow.signal
    def finish(self) -> None:
        self.finished = True

    def verified(self, request: ProbeAction) -> VerifiedActor:
        update = workflow.current_update_info()
        assert update is not None
        try:
            return verify_assertion(
                request.assertion,
                self.ring,
                pathway_id=workflow.info().workflow_id,
                action=request.action,
                update_id=update.id,
                now=workflow.now(),
            )
        except AssertionRefused as refused:
            raise ApplicationError(refused.message, type=refused.rule) from None
