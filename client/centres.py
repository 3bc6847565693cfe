"""Centres seen from a client: start their workflows, record evidence, read readiness.

Usage::

    await load_centres(client, settings.task_queue)          # the demo centres in centres/
    notice = await centre_notice(client, "centre-b")         # readiness per therapy
    receipt = await record_evidence(client, "centre-b", "record_icu_access", data)

Used by the CLI, the demo and tests; every function raises the refusals of
``client.errors`` (``CentreNotFound`` for a centre with no workflow).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ValidationError
from temporalio.client import (
    Client,
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

from client.errors import ActionRefused, BadInput, CentreNotFound, OperationError
from client.signing import ActionSigner, sign_action
from models.centre_actions import CENTRE_EVENTS, EvidenceReceipt, parse_centre_action
from models.centre_files import (
    CENTRE_DIR,
    POLICY_FILE,
    centre_files,
    load_centre,
    load_centre_policy,
)
from models.centre_notice import CentreNotice
from models.centre_policy import CentrePolicy
from models.centre_record import CentreInput, CentreRecord
from models.contracts import CENTRE_WORKFLOW, centre_workflow_id
from models.evidence import Centre
from models.protocol import Protocol
from models.readiness import readiness
from models.referral import Referral
from models.validation import readable
from workflows import search
from workflows.centre import CentreWorkflow

#: what ``centres record`` accepts (the update is ``record_<what>``)
RECORDABLE = [e.removeprefix("record_") for e in CENTRE_EVENTS if e.startswith("record_")]

# A centre workflow answers in milliseconds; longer means no worker is polling its queue.
CENTRE_QUERY_TIMEOUT = timedelta(seconds=10)


class CentreView(BaseModel):
    """Everything ``centres show`` prints."""

    record: CentreRecord
    policy: CentrePolicy
    notice: CentreNotice


def centre_handle(client: Client, centre: str) -> WorkflowHandle[Any, Any]:
    return client.get_workflow_handle(centre_workflow_id(centre))


def refusal_from_rpc(err: RPCError, centre: str) -> OperationError:
    if err.status == RPCStatusCode.NOT_FOUND:
        return CentreNotFound(f"No centre {centre}.", kind="UnknownCentre")
    return OperationError(err.message)


def initial_search_attributes(centre: Centre, policy: CentrePolicy) -> TypedSearchAttributes:
    now = datetime.now(UTC)
    pairs: list[SearchAttributePair[Any]] = [SearchAttributePair(search.CENTRE, centre.id)]
    for therapy in policy.requirements:
        key = search.CENTRE_READY.get(therapy.value)
        if key is not None:
            pairs.append(SearchAttributePair(key, readiness(centre, policy, therapy, now).ready))
    return TypedSearchAttributes(pairs)


async def start_centre(
    client: Client, centre: Centre, policy: CentrePolicy, *, task_queue: str
) -> bool:
    """Start the centre's workflow; False when it already runs (it is left as it is)."""
    try:
        await client.start_workflow(
            CentreWorkflow.run,
            CentreInput(policy=policy, centre=centre),
            id=centre_workflow_id(centre.id),
            task_queue=task_queue,
            id_conflict_policy=WorkflowIDConflictPolicy.FAIL,
            search_attributes=initial_search_attributes(centre, policy),
            static_summary=f"Centre {centre.id} · {centre.name}",
        )
    except WorkflowAlreadyStartedError:
        return False
    return True


def centre_policy(
    directory: Path | None = None, *, seconds_per_day: float | None = None
) -> CentrePolicy:
    """The policy next to the centre files (``policy.yaml``), compressed if asked."""
    path = (directory or CENTRE_DIR) / POLICY_FILE
    policy = load_centre_policy(path if path.exists() else None)
    return policy.compressed(seconds_per_day=seconds_per_day) if seconds_per_day else policy


async def load_centres(
    client: Client,
    task_queue: str,
    *,
    files: list[Path] | None = None,
    policy: CentrePolicy | None = None,
    seconds_per_day: float | None = None,
) -> dict[str, str]:
    """Start a workflow per centre file (default: the demo centres in ``centres/``);
    one that already runs is left as it is. Relative dates in the files follow the
    policy's clock. Returns ``{centre_id: "started" | "exists"}``."""
    policy = policy or centre_policy(seconds_per_day=seconds_per_day)
    now = datetime.now(UTC)
    results = {}
    for path in files if files is not None else centre_files():
        centre = load_centre(path, now=now, time_scale=policy.time_scale)
        started = await start_centre(client, centre, policy, task_queue=task_queue)
        results[centre.id] = "started" if started else "exists"
    return results


async def centre_view(client: Client, centre: str) -> CentreView:
    handle = centre_handle(client, centre)
    try:
        record = await handle.query(CentreWorkflow.get_record)
        policy = await handle.query(CentreWorkflow.get_policy)
    except RPCError as err:
        raise refusal_from_rpc(err, centre) from None
    notice = await centre_notice(client, centre)
    return CentreView(record=record, policy=policy, notice=notice)


def evidence_event(what: str, *, withdraw: bool = False) -> str:
    if withdraw:
        return "withdraw_evidence"
    event = what if what.startswith("record_") else f"record_{what}"
    if event not in CENTRE_EVENTS:
        raise BadInput(
            f"'{what}' is not centre evidence. Possible: {', '.join(RECORDABLE)} "
            "(or an item key with --withdraw).",
            kind="UnknownEvent",
        )
    return event


async def record_evidence(
    client: Client,
    centre: str,
    event: str,
    data: dict[str, Any],
    *,
    update_id: str | None = None,
    signer: ActionSigner | None = None,
) -> EvidenceReceipt:
    """Send one piece of evidence; ``ActionRefused`` says which rule refused it. With a
    ``signer``, it carries its actor assertion (client/signing.py)."""
    update_id, data = sign_action(
        data, signer, workflow_id=centre_workflow_id(centre), event=event, update_id=update_id
    )
    try:
        parse_centre_action(event, data)
    except KeyError:
        pass  # unknown events are refused by the workflow, with what is possible
    except ValidationError as err:
        raise BadInput(
            f"The evidence for '{event}' is not valid: {readable(err)}.",
            kind="MalformedEvidence",
        ) from None
    try:
        return await centre_handle(client, centre).execute_update(
            event, data, id=update_id, result_type=EvidenceReceipt
        )
    except WorkflowUpdateFailedError as err:
        cause = err.cause
        if isinstance(cause, ApplicationError):
            raise ActionRefused(cause.message, kind=cause.type) from None
        raise ActionRefused(str(cause or err)) from None
    except RPCError as err:
        raise refusal_from_rpc(err, centre) from None


async def list_centres(client: Client) -> list[dict[str, Any]]:
    query = f'WorkflowType = "{CENTRE_WORKFLOW}" AND ExecutionStatus = "Running"'
    rows = []
    async for wf in client.list_workflows(query):
        sa = wf.typed_search_attributes
        rows.append(
            {
                "centre": sa.get(search.CENTRE),
                "workflow_id": wf.id,
                "ready": {
                    therapy: sa.get(key)
                    for therapy, key in search.CENTRE_READY.items()
                    if sa.get(key) is not None
                },
                "next_expiry": sa.get(search.CENTRE_NEXT_EXPIRY),
            }
        )
    return sorted(rows, key=lambda r: str(r["centre"]))


async def centre_notice(client: Client, centre: str) -> CentreNotice:
    """The centre's readiness for every therapy now (``CentreNotFound`` if there is none)."""
    handle = centre_handle(client, centre)
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
