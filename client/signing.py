"""Signing a staff action before it is sent: the signer's assertion, bound to one workflow
(a pathway or a centre), one action and one Update ID, in the payload's ``assertion``; and,
for a two-person action (models/cosignature.py), the second person's co-signature, bound to
the same, in ``cosignature``.

Usage::

    update_id, data = sign_action(data, signer, workflow_id=pathway_id, event="infuse",
                                  cosigner=second_person)
    await handle.execute_update("infuse", data, id=update_id)

A signer is anything with ``assertion_for`` (``ActionSigner``): a signed-in session of the
CLI or the web app, or a service account (signin/service_accounts.py). Without a signer the
data is sent as it is, and a worker that checks identities refuses it.
"""

from __future__ import annotations

import typing
import uuid
from collections.abc import Mapping
from typing import Any

from models.cosignature import named_others


class ActionSigner(typing.Protocol):
    """Who acts: a signed-in session that has the sign-in service issue an actor assertion
    (models/actor.py) for one action on one pathway under one Update ID."""

    def assertion_for(self, *, pathway_id: str, event: str, update_id: str) -> str: ...


@typing.runtime_checkable
class CoSigner(typing.Protocol):
    """The second person of a two-person action: has the sign-in service issue their
    co-signature ("verified") for the same action on the same pathway under the same Update
    ID, after their own password (or provider login)."""

    def cosignature_for(self, *, pathway_id: str, event: str, update_id: str) -> str: ...


def sign_action(
    data: dict[str, Any],
    signer: ActionSigner | None,
    *,
    workflow_id: str,
    event: str,
    update_id: str | None = None,
    cosigner: CoSigner | None = None,
) -> tuple[str | None, dict[str, Any]]:
    """The Update ID (made here when a signer needs one) and the data to send."""
    if signer is None and cosigner is None:
        return update_id, data
    update_id = update_id or str(uuid.uuid4())
    signed = dict(data)
    if signer is not None:
        signed["assertion"] = signer.assertion_for(
            pathway_id=workflow_id, event=event, update_id=update_id
        )
    if cosigner is not None:
        signed["cosignature"] = cosigner.cosignature_for(
            pathway_id=workflow_id, event=event, update_id=update_id
        )
    return update_id, signed


def cosigner_among(
    event: str, data: dict[str, Any], signers: Mapping[str, object]
) -> CoSigner | None:
    """Among ``signers`` (by staff ID: the demo's service accounts), the one who co-signs
    ``event`` with ``data``: the other person the two-person action names; else ``None``."""
    for person in named_others(event, data, str(data.get("actor", ""))):
        signer = signers.get(person)
        if isinstance(signer, CoSigner):
            return signer
    return None
