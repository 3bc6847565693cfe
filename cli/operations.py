"""Client-side operations on pathways: refer, act, read. Used by the CLI, the demo and tests.

Every function takes a connected ``Client`` and raises ``OperationError`` subclasses whose
message is for people and whose ``code`` is the CLI exit code.

A referral is checked against its centre first (the ``centre-<id>`` workflow's readiness
query): an unknown centre, or one not ready for the therapy, is refused with what is missing.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import structlog
from pydantic import ValidationError
from temporalio.client import (
    Client,
    WorkflowExecutionStatus,
    WorkflowHandle,
    WorkflowQueryRejectedError,
    WorkflowUpdateFailedError,
)
from temporalio.common import (
    QueryRejectCondition,
    SearchAttributePair,
    TypedSearchAttributes,
    WorkflowIDConflictPolicy,
)
from temporalio.exceptions import ApplicationError, WorkflowAlreadyStartedError
from temporalio.service import RPCError, RPCStatusCode

from models.actions import parse_action
from models.centre_notice import CentreNotice
from models.contracts import centre_workflow_id
from models.pathway import ActionReceipt, AllowedActions, DeadlineView, PathwayInput
from models.protocol import Protocol
from models.protocol_choice import check_protocol, choose_protocol
from models.record import PathwayRecord
from models.referral import Referral
from models.refusals import Outcome, Refusal
from models.roles import Role
from models.validation import readable
from workflows import search
from workflows.centre import CentreWorkflow
from workflows.pathway import PathwayWorkflow

log = structlog.get_logger("cellpath.operations")

# A centre workflow answers in milliseconds; longer means no worker is polling its queue.
CENTRE_QUERY_TIMEOUT = timedelta(seconds=10)


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


class CentreNotFound(OperationError):
    code = 4


def refused(err: Refusal) -> OperationError:
    """The operation error (and so the exit code) of a ``Refusal`` from the models."""
    kind = {Outcome.BAD_INPUT: BadInput, Outcome.REFUSED: ActionRefused}.get(
        err.outcome, OperationError
    )
    return kind(err.message, kind=err.rule)


def protocol_for(referral: Referral) -> Protocol:
    """The protocol the referral names, or the one its therapy and disease codes match."""
    try:
        return choose_protocol(referral)
    except Refusal as err:
        raise refused(err) from None


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


async def centre_notice(client: Client, centre: str) -> CentreNotice:
    """The centre's readiness for every therapy now (``CentreNotFound`` if there is none)."""
    handle = client.get_workflow_handle(centre_workflow_id(centre))
    try:
        return await handle.query(
            CentreWorkflow.current_notice,
            reject_condition=QueryRejectCondition.NOT_OPEN,
            rpc_timeout=CENTRE_QUERY_TIMEOUT,
        )
    except WorkflowQueryRejectedError:
        raise CentreNotFound(
            f"Centre {centre} is closed; it takes no referrals.", kind="CentreClosed"
        ) from None
    except RPCError as err:
        if err.status == RPCStatusCode.NOT_FOUND:
            raise CentreNotFound(
                f"No centre {centre}: its prerequisites are not on file "
                "(`cellpath centres list` shows the known centres).",
                kind="UnknownCentre",
            ) from None
        if err.status == RPCStatusCode.DEADLINE_EXCEEDED:
            raise OperationError(
                f"Centre {centre} did not answer within {CENTRE_QUERY_TIMEOUT.seconds} s: "
                "is a cellpath worker running?",
                kind="CentreUnavailable",
            ) from None
        raise OperationError(err.message) from None


async def centre_ready_for(client: Client, referral: Referral, protocol: Protocol) -> CentreNotice:
    """Refuse a referral to a centre that is unknown or not ready for its therapy."""
    try:
        notice = await centre_notice(client, referral.centre)
    except CentreNotFound as err:
        raise BadInput(err.message, kind=err.kind) from None
    seen = notice.for_therapy(referral.therapy)
    missing = [m.text() for m in seen.missing]
    doses = notice.tocilizumab_doses or 0
    if protocol.tocilizumab_min_doses > doses and not any(
        m.key == "tocilizumab" for m in seen.missing
    ):
        missing.append(
            f"tocilizumab on site: {doses} dose(s); protocol {protocol.id} requires "
            f"at least {protocol.tocilizumab_min_doses}"
        )
    if missing:
        raise ActionRefused(
            f"{referral.centre} is not ready for {referral.therapy.value}: "
            + "; ".join(missing)
            + ". Refer to a centre that is ready (`cellpath centres list`).",
            kind="CentreNotReady",
        )
    return notice


async def refer(
    client: Client,
    referral: Referral,
    *,
    task_queue: str,
    protocol: Protocol | None = None,
    check_centre: bool = True,
) -> WorkflowHandle[PathwayWorkflow, Any]:
    """Start the pathway of a referral; refuse a second open pathway for the same patient,
    a referral without a disease code, a protocol that is not for its therapy and disease
    (``models/protocol_choice.py``), and a referral to a centre that is unknown or not
    ready for the therapy.

    The centre's readiness at referral is handed to the new pathway (signal
    ``centre_notice``); later changes reach it from the centre. ``check_centre=False``
    is for pathways run without centre workflows (tests of the pathway alone).
    """
    protocol = protocol or protocol_for(referral)
    try:
        check_protocol(referral, protocol)
    except Refusal as err:
        raise refused(err) from None
    notice = await centre_ready_for(client, referral, protocol) if check_centre else None
    handle = await _start(client, referral, task_queue, protocol)
    if notice is not None:
        try:
            await handle.signal(PathwayWorkflow.centre_notice, notice)
        except RPCError as err:
            # The pathway is started; it hears of its centre at the centre's next change.
            log.warning(
                "centre readiness not handed to the new pathway",
                pathway_id=handle.id,
                error=err.message,
            )
    return handle


async def _start(
    client: Client, referral: Referral, task_queue: str, protocol: Protocol
) -> WorkflowHandle[PathwayWorkflow, Any]:
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
    # An update to a closed pathway comes back NOT_FOUND "workflow execution already
    # completed": it exists, it has ended.
    if "already completed" in err.message:
        return ActionRefused(
            f"Pathway {pathway_id} has ended; it accepts no more actions.", kind="PathwayEnded"
        )
    if err.status == RPCStatusCode.NOT_FOUND and "namespace" in err.message.lower():
        return OperationError(err.message, kind="NamespaceNotFound")
    if err.status == RPCStatusCode.NOT_FOUND:
        return PathwayNotFound(f"No pathway {pathway_id}.")
    if err.status == RPCStatusCode.FAILED_PRECONDITION and "failed state" in err.message:
        return OperationError(
            f"Pathway {pathway_id} cannot answer: its workflow task is failing (a worker "
            f"problem, see the worker log). Temporal says: {err.message}",
            kind="WorkflowTaskFailing",
        )
    if err.status == RPCStatusCode.FAILED_PRECONDITION or "completed" in err.message:
        return ActionRefused(
            f"Pathway {pathway_id} has ended; it accepts no more actions.", kind="PathwayEnded"
        )
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


async def exists(client: Client, pathway_id: str) -> bool:
    """Whether a pathway with this ID was ever started (open or ended)."""
    try:
        await _handle(client, pathway_id).describe()
    except RPCError as err:
        if err.status == RPCStatusCode.NOT_FOUND:
            return False
        raise
    return True


async def status(client: Client, pathway_id: str) -> WorkflowExecutionStatus | None:
    try:
        desc = await _handle(client, pathway_id).describe()
    except RPCError as err:
        raise _rpc_error(err, pathway_id) from None
    return desc.status
