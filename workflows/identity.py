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

A two-person action must also carry the second person's co-signature (models/
cosignature.py), verified with the same keys after the chart's checks; the handler records
the co-signer from the co-signature's claims and seals the entry with audit chain version 2
(meanings and co-signer hashed), both behind the patch ``cosign-verified-second-person``.

Usage::

    verified = verify_sender(event, action)       # in the validator, after decoding
    verify_two_person_signer(action, verified)    # after the chart's checks: signer named,
                                                  # and the co-signature
    AuditEntry(..., **audit_fields(event, action))   # in the handler: signers and details
"""

from __future__ import annotations

from typing import Any

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from models.actions import StaffAction, person_key
    from models.actor import AssertionRefused, VerifiedActor, verify_assertion
    from models.audit import CURRENT_CHAIN
    from models.cosignature import SIGNATURE_FIELDS, cosigned_role, verify_cosignature
    from models.signed_action import check_sender, check_signer_named, signed_claims
    from models.trusted_signers import trusted_signers
    from workflows.patches import patched
    from workflows.updates import current_update_id, rejection

#: the audit entry records the signer named by the verified assertion, and its meaning
SIGNER_PATCH = "identity-signed-actor"
#: the audit entry records the co-signer, and is sealed with chain version 2
COSIGN_PATCH = "cosign-verified-second-person"
#: what an audit entry's details leave out: who did it (its own fields) and the signatures
UNAUDITED = frozenset({"actor", "role", "reason", *SIGNATURE_FIELDS})


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
    """Refuse a two-person action whose verified signer is not one of the people it names,
    or that the other person did not co-sign (validators only)."""
    if verified is None:
        return
    ring = trusted_signers(workflow.info().task_queue)
    try:
        check_signer_named(action, verified)
        if ring is not None:
            verify_cosignature(action, verified.action, verified, ring, now=workflow.now())
    except AssertionRefused as err:
        raise rejection(err) from None


def recorded_signer(action: StaffAction) -> tuple[str, str | None]:
    """The actor the audit records and the signature's meaning, from the payload alone."""
    claims = signed_claims(action.assertion)
    # A token naming someone else was never verified (a worker that checks refuses it).
    if claims is None or person_key(claims.sub) != person_key(action.actor):
        return action.actor, None
    if not patched(SIGNER_PATCH):
        return action.actor, None
    return claims.sub, claims.meaning


def audit_fields(event: str, action: StaffAction) -> dict[str, Any]:
    """The audit entry's fields from the payload: the details (``data``), the signer and
    meaning, and (since ``COSIGN_PATCH``) the co-signer, their role and meaning, and the
    chain version."""
    actor, meaning = recorded_signer(action)
    fields: dict[str, Any] = {
        "actor": actor,
        "meaning": meaning,
        "data": action.model_dump(mode="json", exclude=set(UNAUDITED)),
    }
    if not patched(COSIGN_PATCH):
        return fields
    fields["chain"] = CURRENT_CHAIN
    second = signed_claims(action.cosignature)
    # The validator verified it (a worker that checks refuses a co-signature by the signer).
    if second is not None and person_key(second.sub) != person_key(actor):
        fields["cosigner"] = second.sub
        fields["cosigner_role"] = cosigned_role(event, action, second)
        fields["cosigner_meaning"] = second.meaning
    return fields
