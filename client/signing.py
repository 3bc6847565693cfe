"""Signing a staff action before it is sent: the signer's assertion, bound to one workflow
(a pathway or a centre), one action and one Update ID, in the payload's ``assertion``.

Usage::

    update_id, data = sign_action(data, signer, workflow_id=pathway_id, event="infuse")
    await handle.execute_update("infuse", data, id=update_id)

A signer is anything with ``assertion_for`` (``ActionSigner``): a signed-in session of the
CLI or the web app, or a service account (signin/service_accounts.py). Without a signer the
data is sent as it is, and a worker that checks identities refuses it.
"""

from __future__ import annotations

import typing
import uuid
from typing import Any


class ActionSigner(typing.Protocol):
    """Who acts: a signed-in session that has the sign-in service issue an actor assertion
    (models/actor.py) for one action on one pathway under one Update ID."""

    def assertion_for(self, *, pathway_id: str, event: str, update_id: str) -> str: ...


def sign_action(
    data: dict[str, Any],
    signer: ActionSigner | None,
    *,
    workflow_id: str,
    event: str,
    update_id: str | None = None,
) -> tuple[str | None, dict[str, Any]]:
    """The Update ID (made here when a signer needs one) and the data to send."""
    if signer is None:
        return update_id, data
    update_id = update_id or str(uuid.uuid4())
    assertion = signer.assertion_for(pathway_id=workflow_id, event=event, update_id=update_id)
    return update_id, {**data, "assertion": assertion}
