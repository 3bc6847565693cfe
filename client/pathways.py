"""Pathways seen from a client: refer, act, read and list. Used by the CLI, the demo, the
tests and the bench alike.

Usage::

    handle = await refer(client, referral, task_queue=settings.task_queue)
    receipt = await act(client, handle.id, "record_consent", {"actor": "dr.martin", ...})
    shown = await record(client, handle.id)                  # the PathwayRecord

Every function takes a connected ``Client`` and raises the refusals of ``client.errors``.
A referral is checked against its centre first (the ``centre-<id>`` workflow's readiness
query): an unknown centre, or one not ready for the therapy, is refused with what is missing.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import structlog
from pydantic import ValidationError
from temporalio.client import (
    Client,
    WorkflowExecutionStatus,
    WorkflowHandle,
    WorkflowUpdateFailedError,
)
from temporalio.common import (
    SearchAttributePair,
    TypedSearchAttributes,
    WorkflowIDConflictPolicy,
)
from temporalio.exceptions import ApplicationError, WorkflowAlreadyStartedError
from temporalio.service import RPCError, RPCStatusCode

from client.centres import centre_ready_for
from client.errors import ActionRefused, BadInput, OperationError, PathwayNotFound
from client.refused_updates import refused_before
from client.run_starting import once_started
from client.signing import ActionSigner, CoSigner, sign_action
from models.actions import StaffAction, parse_action
from models.contracts import PATHWAY_WORKFLOW
from models.pathway import ActionReceipt, AllowedActions, DeadlineView, PathwayInput
from models.preparation import TaskView
from models.protocol import Protocol
from models.protocol_choice import check_protocol, choose_protocol
from models.record import PathwayRecord
from models.referral import Referral
from models.refusals import Outcome, Refusal
from models.roles import Role
from models.validation import readable
from workflows import search
from workflows.pathway import PathwayWorkflow
from workflows.receipts import reuse_refusal, same_action

log = structlog.get_logger("cellpath.pathways")


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


def pathway_handle(client: Client, pathway_id: str) -> WorkflowHandle[Any, Any]:
    return client.get_workflow_handle(pathway_id)


async def act(
    client: Client,
    pathway_id: str,
    event: str,
    data: dict[str, Any],
    *,
    update_id: str | None = None,
    signer: ActionSigner | None = None,
    cosigner: CoSigner | None = None,
) -> ActionReceipt:
    """Send one staff action; raise ``ActionRefused`` with the rule and the reason.

    With a ``signer``, the action carries its actor assertion (``data["assertion"]``), bound
    to this pathway, event and Update ID (one is made here when none is given); with a
    ``cosigner``, the second person's co-signature of a two-person action
    (``data["cosignature"]``), bound to the same.
    An ``update_id`` already used on this pathway (workflows/receipts.py) gives the original
    receipt marked ``duplicate`` when the action and its details are the same, and the
    refusal ``UpdateIdReused`` naming the action it recorded when they are not."""
    update_id, data = sign_action(
        data, signer, workflow_id=pathway_id, event=event, update_id=update_id, cosigner=cosigner
    )
    action: StaffAction | None = None
    try:
        action = parse_action(event, data)
    except KeyError:
        pass  # unknown events are refused by the workflow, with what is allowed now
    except ValidationError as err:
        raise BadInput(
            f"The details of '{event}' are not valid: {readable(err)}.", kind="MalformedAction"
        ) from None
    handle = pathway_handle(client, pathway_id)
    # Refused before anything changed while a new run reads its protocol: sent again.
    return await once_started(lambda: _send(handle, pathway_id, event, data, action, update_id))


async def _send(
    handle: WorkflowHandle[Any, Any],
    pathway_id: str,
    event: str,
    data: dict[str, Any],
    action: StaffAction | None,
    update_id: str | None,
) -> ActionReceipt:
    try:
        if update_id and (prior := await earlier_receipt(handle, update_id)) is not None:
            if isinstance(prior, WorkflowUpdateFailedError):
                if action is not None:
                    await refused_before(handle, update_id, event, action)
            else:
                return await repeated(handle, prior, event, action, update_id)
        receipt = await handle.execute_update(event, data, id=update_id, result_type=ActionReceipt)
        if update_id and receipt.event != event:
            # Used by another click between our look and our send: its receipt, not ours.
            await repeated(handle, receipt, event, action, update_id)
        return receipt
    except WorkflowUpdateFailedError as err:
        cause = err.cause
        if isinstance(cause, ApplicationError):
            raise ActionRefused(cause.message, kind=cause.type) from None
        raise ActionRefused(str(cause or err)) from None
    except RPCError as err:
        raise refusal_from_rpc(err, pathway_id) from None


async def earlier_receipt(
    handle: WorkflowHandle[Any, Any], update_id: str
) -> ActionReceipt | WorkflowUpdateFailedError | None:
    """The receipt of the Update ``update_id`` this run already completed, its failure (a
    refusal that left an incident), or ``None``.

    Within a run the server answers a completed Update ID with its stored result and never
    asks the workflow, so the client looks first; an Update the server has not seen is sent
    as usual, and so is one that failed (once checked by ``refused_before``)."""
    update = handle.get_update_handle(update_id, result_type=ActionReceipt)
    try:
        return await update.result()
    except RPCError as err:
        if err.status == RPCStatusCode.NOT_FOUND:
            return None
        raise
    except WorkflowUpdateFailedError as failed:
        return failed


async def repeated(
    handle: WorkflowHandle[Any, Any],
    prior: ActionReceipt,
    event: str,
    action: StaffAction | None,
    update_id: str,
) -> ActionReceipt:
    """``prior`` marked ``duplicate`` if ``event``/``action`` is what it recorded; else the
    ``UpdateIdReused`` refusal naming the action the ID was used for."""
    entry = None
    if prior.event == event and action is not None:
        shown = await handle.query(PathwayWorkflow.get_record)
        entry = shown.entry_for_update(update_id)
        if entry is not None and same_action(entry, event, action):
            return prior.model_copy(update={"duplicate": True})
    raise refused(
        reuse_refusal(
            update_id,
            event,
            used_for=prior.event,
            seq=prior.seq,
            at=prior.at,
            state=prior.state,
        )
    )


def refusal_from_rpc(err: RPCError, pathway_id: str) -> OperationError:
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
        return await pathway_handle(client, pathway_id).query(PathwayWorkflow.get_record)
    except RPCError as err:
        raise refusal_from_rpc(err, pathway_id) from None


async def deadlines(client: Client, pathway_id: str) -> list[DeadlineView]:
    try:
        return await pathway_handle(client, pathway_id).query(PathwayWorkflow.deadlines)
    except RPCError as err:
        raise refusal_from_rpc(err, pathway_id) from None


async def preparation(client: Client, pathway_id: str) -> list[TaskView]:
    """The pathway's preparation tasks (open, due later, done); empty before they existed."""
    try:
        return await once_started(
            lambda: pathway_handle(client, pathway_id).query(PathwayWorkflow.preparation)
        )
    except RPCError as err:
        raise refusal_from_rpc(err, pathway_id) from None


async def allowed_actions(client: Client, pathway_id: str, role: Role | None) -> AllowedActions:
    try:
        return await once_started(
            lambda: pathway_handle(client, pathway_id).query(PathwayWorkflow.allowed_actions, role)
        )
    except RPCError as err:
        raise refusal_from_rpc(err, pathway_id) from None


async def exists(client: Client, pathway_id: str) -> bool:
    """Whether a pathway with this ID was ever started (open or ended)."""
    try:
        await pathway_handle(client, pathway_id).describe()
    except RPCError as err:
        if err.status == RPCStatusCode.NOT_FOUND:
            return False
        raise
    return True


async def status(client: Client, pathway_id: str) -> WorkflowExecutionStatus | None:
    try:
        desc = await pathway_handle(client, pathway_id).describe()
    except RPCError as err:
        raise refusal_from_rpc(err, pathway_id) from None
    return desc.status


# The visibility query behind ``list``: a pathway in long follow-up has one closed run per
# year, so only its current run is listed.
LIST_BASE = (f'WorkflowType = "{PATHWAY_WORKFLOW}"', 'ExecutionStatus != "ContinuedAsNew"')


def list_query(
    *,
    state: str | None = None,
    therapy: str | None = None,
    centre: str | None = None,
    overdue: bool = False,
) -> str:
    """The visibility query for pathways in ``state``, of ``therapy``, at ``centre``…
    (values already checked by the caller)."""
    clauses = list(LIST_BASE)
    for name, value in (("PathwayState", state), ("Therapy", therapy), ("Centre", centre)):
        if value:
            clauses.append(f'{name} = "{value}"')
    if overdue:
        clauses.append("Overdue = true")
    return " AND ".join(clauses)


def iso(value: datetime | None) -> str | None:
    """UTC, ISO 8601, ``Z`` suffix: the same spelling as the pydantic models' JSON."""
    if value is None:
        return None
    return value.astimezone(UTC).isoformat().replace("+00:00", "Z")


async def list_pathways(client: Client, query: str) -> list[dict[str, Any]]:
    """One row per pathway from its search attributes (no worker needed), by pathway ID."""
    rows = []
    async for wf in client.list_workflows(query):
        sa = wf.typed_search_attributes
        rows.append(
            {
                "pathway_id": wf.id,
                "status": wf.status.name if wf.status else None,
                "state": sa.get(search.PATHWAY_STATE),
                "therapy": sa.get(search.THERAPY),
                "centre": sa.get(search.CENTRE),
                "disease": sa.get(search.DISEASE),
                "next_deadline": iso(sa.get(search.NEXT_DEADLINE)),
                "escalation_level": sa.get(search.ESCALATION_LEVEL) or 0,
                "overdue": bool(sa.get(search.OVERDUE)),
            }
        )
    return sorted(rows, key=lambda r: r["pathway_id"])
