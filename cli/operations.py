"""Client-side operations on pathways: refer, act, read. Used by the CLI, the demo and tests.

Every function takes a connected ``Client`` and raises ``OperationError`` subclasses whose
message is for people and whose ``code`` is the CLI exit code.
"""

from __future__ import annotations

from typing import Any

from pydantic import ValidationError
from temporalio.client import (
    Client,
    WorkflowExecutionStatus,
    WorkflowHandle,
    WorkflowUpdateFailedError,
)
from temporalio.common import SearchAttributePair, TypedSearchAttributes, WorkflowIDConflictPolicy
from temporalio.exceptions import ApplicationError, WorkflowAlreadyStartedError
from temporalio.service import RPCError, RPCStatusCode

from models.actions import parse_action
from models.pathway import ActionReceipt, AllowedActions, DeadlineView, PathwayInput
from models.protocol import Protocol, load_default_protocol, load_protocol, protocol_path
from models.record import PathwayRecord
from models.referral import Referral
from models.roles import Role
from models.validation import readable
from workflows import search
from workflows.pathway import PathwayWorkflow


class OperationError(Exception):
    code = 1

    def __init__(self, message: str, *, kind: str | None = None):
        super().__init__(message)
        self.message = message
        self.kind = kind or type(self).__name__


class BadInput(OperationError):
    code = 2


class ActionRefused(OperationError):
    code = 3


class PathwayNotFound(OperationError):
    code = 4


def protocol_for(referral: Referral) -> Protocol:
    if referral.protocol_id:
        return load_protocol(protocol_path(referral.protocol_id))
    return load_default_protocol(referral.therapy)


def initial_search_attributes(referral: Referral) -> TypedSearchAttributes:
    return TypedSearchAttributes(
        [
            SearchAttributePair(search.PATHWAY_STATE, "referred"),
            SearchAttributePair(search.THERAPY, referral.therapy.value),
            SearchAttributePair(search.DISEASE, referral.disease),
            SearchAttributePair(search.CENTRE, referral.centre),
            SearchAttributePair(search.ESCALATION_LEVEL, 0),
            SearchAttributePair(search.OVERDUE, False),
        ]
    )


async def refer(
    client: Client,
    referral: Referral,
    *,
    task_queue: str,
    protocol: Protocol | None = None,
) -> WorkflowHandle[PathwayWorkflow, Any]:
    """Start the pathway of a referral; refuse a second open pathway for the same patient."""
    protocol = protocol or protocol_for(referral)
    if protocol.therapy != referral.therapy:
        raise BadInput(
            f"Protocol {protocol.id} is for {protocol.therapy.value}, "
            f"the referral is for {referral.therapy.value}."
        )
    try:
        return await client.start_workflow(
            PathwayWorkflow.run,
            PathwayInput(protocol=protocol, referral=referral),
            id=referral.pathway_id,
            task_queue=task_queue,
            id_conflict_policy=WorkflowIDConflictPolicy.FAIL,
            search_attributes=initial_search_attributes(referral),
            static_summary=f"{referral.therapy.value} pathway · {referral.disease} · {referral.centre}",
            static_details=(
                f"Patient {referral.pseudonym} (pseudonym), age band {referral.age_band or 'n/a'}; "
                f"protocol {protocol.id}."
            ),
        )
    except WorkflowAlreadyStartedError:
        raise ActionRefused(
            f"{referral.pseudonym} already has an open pathway at {referral.centre} "
            f"({referral.pathway_id}); a second referral is not started.",
            kind="DuplicateReferral",
        ) from None


def _handle(client: Client, pathway_id: str) -> WorkflowHandle[Any, Any]:
    return client.get_workflow_handle(pathway_id)


async def act(
    client: Client,
    pathway_id: str,
    event: str,
    data: dict[str, Any],
    *,
    update_id: str | None = None,
) -> ActionReceipt:
    """Send one staff action; raise ``ActionRefused`` with the rule and the reason."""
    try:
        parse_action(event, data)
    except KeyError:
        pass  # unknown events are refused by the workflow, with what is allowed now
    except ValidationError as err:
        raise BadInput(
            f"The details of '{event}' are not valid: {readable(err)}.", kind="MalformedAction"
        ) from None
    handle = _handle(client, pathway_id)
    try:
        return await handle.execute_update(event, data, id=update_id, result_type=ActionReceipt)
    except WorkflowUpdateFailedError as err:
        cause = err.cause
        if isinstance(cause, ApplicationError):
            raise ActionRefused(cause.message, kind=cause.type) from None
        raise ActionRefused(str(cause or err)) from None
    except RPCError as err:
        raise _rpc_error(err, pathway_id) from None


def _rpc_error(err: RPCError, pathway_id: str) -> OperationError:
    if err.status == RPCStatusCode.NOT_FOUND:
        return PathwayNotFound(f"No pathway {pathway_id}.")
    if err.status == RPCStatusCode.FAILED_PRECONDITION or "completed" in err.message:
        return ActionRefused(f"Pathway {pathway_id} has ended; it accepts no more actions.")
    return OperationError(err.message)


async def record(client: Client, pathway_id: str) -> PathwayRecord:
    try:
        return await _handle(client, pathway_id).query(PathwayWorkflow.get_record)
    except RPCError as err:
        raise _rpc_error(err, pathway_id) from None


async def deadlines(client: Client, pathway_id: str) -> list[DeadlineView]:
    try:
        return await _handle(client, pathway_id).query(PathwayWorkflow.deadlines)
    except RPCError as err:
        raise _rpc_error(err, pathway_id) from None


async def allowed_actions(client: Client, pathway_id: str, role: Role | None) -> AllowedActions:
    try:
        return await _handle(client, pathway_id).query(PathwayWorkflow.allowed_actions, role)
    except RPCError as err:
        raise _rpc_error(err, pathway_id) from None


async def status(client: Client, pathway_id: str) -> WorkflowExecutionStatus | None:
    try:
        desc = await _handle(client, pathway_id).describe()
    except RPCError as err:
        raise _rpc_error(err, pathway_id) from None
    return desc.status
