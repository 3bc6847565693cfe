"""An Update ID that a safety rule already refused: a repeat of that click, or another
action under the same ID.

A refusal on a safety rule is an accepted Update that failed (its incident is in the
deviation log, models/incident.py). Within a run the Temporal server answers that Update ID
with its stored failure, whatever is sent under it: so before sending, the client asks the
pathway's record whether the ID's incident was this very action. A true repeat goes on (and
gets the same refusal, without a second incident); another action or other details are
refused ``UpdateIdReused``, naming the incident.

Usage (``client.pathways.act``)::

    await refused_before(handle, update_id, event, action)
"""

from __future__ import annotations

from typing import Any

from temporalio.client import WorkflowHandle
from temporalio.service import RPCError

from client.errors import ActionRefused
from models.actions import StaffAction
from workflows.pathway import PathwayWorkflow


async def refused_before(
    handle: WorkflowHandle[Any, Any], update_id: str, event: str, action: StaffAction
) -> None:
    """Raise ``UpdateIdReused`` when ``update_id`` was refused on a safety rule (its incident
    is in the deviation log) for another action or other details: within a run the server
    would answer with that refusal, as if it were this action's. A true repeat goes on (and
    gets the same refusal, without a second incident)."""
    try:
        shown = await handle.query(PathwayWorkflow.get_record)
    except RPCError:
        return  # the send that follows reports what is wrong with the pathway
    incident = shown.incident_for_update(update_id)
    if incident is None:
        return
    sent = action.model_dump(mode="json", exclude={"actor", "role", "assertion", "cosignature"})
    if incident.event != event or incident.presented != sent:
        used = "with other details" if incident.event == event else f"for '{incident.event}'"
        raise ActionRefused(
            f"Update ID {update_id} was already used {used}, and refused ({incident.rule}, "
            f"incident #{incident.seq}); '{event}' was not done and nothing changed. Send it "
            "with a new update ID.",
            kind="UpdateIdReused",
        )
