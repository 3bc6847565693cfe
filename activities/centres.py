"""Centre activities: tell the open pathways at a centre that its readiness changed.

Usage (worker)::

    centres = CentreActivities(client)
    Worker(..., activities=[centres.notify_centre_pathways, ...])

The pathways are found through visibility (``Centre = "…" AND ExecutionStatus = "Running"``,
pathway workflows of the therapies concerned) and each is sent the signal ``centre_notice``.
Idempotent: a pathway keeps only the newest notice (by ``as_of`` then ``version``), so a
retried activity that signals a pathway twice changes nothing.

Limitations: visibility is eventually consistent, so a pathway started in the last moments
before a broadcast may be missed; ``refer`` hands each new pathway the centre's readiness
at referral, and the next change reaches it.
"""

from __future__ import annotations

import asyncio

import structlog
from temporalio import activity
from temporalio.client import Client
from temporalio.service import RPCError, RPCStatusCode

from models import contracts
from models.centre_notice import BroadcastReceipt, CentreBroadcast
from models.protocol import Therapy

log = structlog.get_logger("cellpath.centres")


def open_pathways_query(centre: str, therapies: list[Therapy]) -> str:
    # Centre IDs and therapies are validated identifiers (no quotes), safe to interpolate.
    listed = ", ".join(f'"{t.value}"' for t in therapies)
    return (
        f'WorkflowType = "{contracts.PATHWAY_WORKFLOW}" AND ExecutionStatus = "Running" '
        f'AND Centre = "{centre}" AND Therapy IN ({listed})'
    )


class CentreActivities:
    """Activities that need a Temporal client (visibility and signals)."""

    def __init__(self, client: Client, *, concurrency: int = 16):
        if concurrency < 1:
            raise ValueError(f"concurrency must be at least 1, got {concurrency}")
        self.client = client
        self.concurrency = concurrency

    @activity.defn(name=contracts.NOTIFY_CENTRE_PATHWAYS)
    async def notify_centre_pathways(self, broadcast: CentreBroadcast) -> BroadcastReceipt:
        notice = broadcast.notice
        query = open_pathways_query(notice.centre, broadcast.therapies)
        ids = [wf.id async for wf in self.client.list_workflows(query)]
        gate = asyncio.Semaphore(self.concurrency)
        told: list[str] = []

        async def tell(pathway_id: str) -> None:
            async with gate:
                try:
                    await self.client.get_workflow_handle(pathway_id).signal(
                        contracts.CENTRE_NOTICE_SIGNAL, notice
                    )
                except RPCError as err:
                    # Closed since it was listed: nothing left to tell.
                    if err.status == RPCStatusCode.NOT_FOUND:
                        return
                    raise
                told.append(pathway_id)
                activity.heartbeat(len(told))

        await asyncio.gather(*(tell(p) for p in ids))
        log.info(
            "centre notice sent",
            centre=notice.centre,
            version=notice.version,
            therapies=[t.value for t in broadcast.therapies],
            pathways=len(told),
        )
        return BroadcastReceipt(pathways=sorted(told))
