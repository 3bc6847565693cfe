"""Registry reporting for the CLI and the web app: the forms due across pathways, and one
pathway's form exported from its record.

Usage::

    rows = await forms_due(client, "cellpath-pathways", centre="centre-a", overdue_only=True)
    doc = await export(client, "pathway-centre-a-LUP-001", "day-100")

``forms_due`` lists the running pathways from Temporal visibility, then asks each (a query,
answered by a worker) for its forms, a few at a time; a pathway that does not answer is
reported in ``unanswered`` rather than failing the whole list.
"""

from __future__ import annotations

from typing import Any

from temporalio.client import Client, WorkflowQueryFailedError
from temporalio.service import RPCError

from client.errors import BadInput
from client.pathways import iso, pathway_handle, refusal_from_rpc
from client.survey import survey
from models.contracts import PATHWAY_WORKFLOW
from models.registry_export import FormView
from workflows.pathway import PathwayWorkflow

DUE = ("due", "overdue")


def running_query(task_queue: str, centre: str | None = None) -> str:
    """Running pathways served on ``task_queue`` (this deployment's workers answer them)."""
    clauses = [
        f'WorkflowType = "{PATHWAY_WORKFLOW}"',
        'ExecutionStatus = "Running"',
        f'TaskQueue = "{task_queue}"',
    ]
    if centre:
        clauses.append(f'Centre = "{centre}"')
    return " AND ".join(clauses)


async def pathway_forms(client: Client, pathway_id: str) -> list[FormView]:
    try:
        return await pathway_handle(client, pathway_id).query(PathwayWorkflow.registry_forms)
    except RPCError as err:
        raise refusal_from_rpc(err, pathway_id) from None


async def forms_due(
    client: Client, task_queue: str, *, centre: str | None = None, overdue_only: bool = False
) -> dict[str, Any]:
    """``{"forms": [rows…], "unanswered": [pathway IDs]}``, rows by due date, for the
    running pathways on ``task_queue``."""
    ids = [wf.id async for wf in client.list_workflows(running_query(task_queue, centre))]
    found = await survey(sorted(set(ids)), lambda pid: pathway_forms(client, pid))
    rows: list[dict[str, Any]] = []
    for pathway_id, views in found.answers.items():
        for view in views:
            if view.status in DUE and (view.status == "overdue" or not overdue_only):
                rows.append(
                    {
                        "pathway_id": pathway_id,
                        "registry": view.registry,
                        "form": view.key,
                        "label": view.label,
                        "status": view.status,
                        "due_at": iso(view.due_at),
                        "escalation_level": view.escalation_level,
                    }
                )
    rows.sort(key=lambda r: (r["due_at"] or "", r["pathway_id"], r["form"]))
    return {"forms": rows, "unanswered": list(found.unanswered)}


async def export(client: Client, pathway_id: str, form: str) -> dict[str, Any]:
    """The form's fields from the pathway's record (``BadInput`` for a form it does not owe)."""
    owed = [v.key for v in await pathway_forms(client, pathway_id)]
    if form not in owed:
        listed = ", ".join(owed[:8]) + ("…" if len(owed) > 8 else "") if owed else "none"
        raise BadInput(
            f"{pathway_id} owes no registry form '{form}'. Its forms: {listed}.",
            kind="UnknownRegistryForm",
        )
    try:
        return await pathway_handle(client, pathway_id).query(PathwayWorkflow.registry_export, form)
    except WorkflowQueryFailedError as err:  # the failure's text is encrypted: say what we know
        raise BadInput(f"{pathway_id} could not export '{form}': {err}") from None
    except RPCError as err:
        raise refusal_from_rpc(err, pathway_id) from None
