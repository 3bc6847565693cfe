"""Who sent a staff action, as the workflows know it: verified in the validator, read back
from history in the handler.

The validator (``verify_sender``) checks the action's signed actor assertion against the
worker's trusted keys (models/trusted_signers.py) for this workflow, this action and this
Update ID at ``workflow.now()``, then that the typed actor and role are the signer's
(models/signed_action.py); any failure is the ``ApplicationError`` of its refusal, so the
action never reaches history. A worker without a trusted ring checks nothing (legacy).

The handler (``recorded_signer``) must give the same answer on replay, where validators do
not run and the keys may have rotated: it reads the claims of the token kept in the Update's
own payload, which the validator already verified, and never the key ring.

Usage::

    verified = verify_sender(event, action)       # in the validator, after decoding
    verify_two_person_signer(action, verified)    # after the chart's checks
    actor, meaning = recorded_signer(action)      # in the handler, for the audit entry
"""

from __future__ import annotations

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from models.actions import StaffAction, person_key
    from models.actor import AssertionRefused, VerifiedActor, verify_assertion
    from models.signed_action import check_sender, check_signer_named, signed_claims
    from models.trusted_signers import trusted_signers
    from workflows.updates import current_update_id, rejection

#: the audit entry records the signer named by the verified assertion, and its meaning
SIGNER_PATCH = "identity-signed-actor"


def verify_sender(event: str, action: StaffAction) -> VerifiedActor | None:
    """Refuse ``action`` unless its assertion proves the typed actor and role (validators
    only: reads the worker's configuration); ``None`` when this worker checks no identity."""
    info = workflow.info()
    ring = trusted_signers(info.task_queue)
    if ring is None:
        return None
    try:
        verified = verify_assertion(
            action.assertion,
            ring,
            pathway_id=info.workflow_id,
            action=event,
            update_id=current_update_id() or "",
            now=workflow.now(),
        )
        check_sender(action, verified)
    except AssertionRefused as err:
        raise rejection(err) from None
    return verified


def verify_two_person_signer(action: StaffAction, verified: VerifiedActor | None) -> None:
    """Refuse a two-person action whose verified signer is not one of the people it names."""
    if verified is None:
        return
    try:
        check_signer_named(action, verified)
    except AssertionRefused as err:
        raise rejection(err) from None


def recorded_signer(action: StaffAction) -> tuple[str, str | None]:
    """The actor the audit records and the signature's meaning, from the payload alone."""
    claims = signed_claims(action.assertion)
    # A token naming someone else was never verified (a worker that checks refuses it).
    if claims is None or person_key(claims.sub) != person_key(action.actor):
        return action.actor, None
    if not workflow.patched(SIGNER_PATCH):
        return action.actor, None
    return claims.sub, claims.meaning
