"""Keeping a pathway's records: what the workflow writes to the record store, and when.

Usage (in PathwayWorkflow)::

    keeper = RecordKeeper()
    keeper.soon(record, protocol, WriteCause.RUN_END)   # as a continued run starts
    keeper.infusion(record, protocol)                   # if the trail has one not yet sent
    keeper.drop()                                       # before continue-as-new
    await keeper.close(record, protocol)                # the pathway closes

    # the incident log: the pathway's incidents in order, the unstored ones written at once
    await keep_records(record, protocol, WriteCause.INCIDENT, incidents=facts)

One ``keep_records`` activity per call, only when the store lacks something (3 events in
history, and the patch marker once per run). The activity input holds only what is new since
``record.stored`` (models/record_writes.py); the mark moves once the activity has written
it, so a write retried, or replayed, carries the same facts and the store keeps each once.

A write at an infusion or a run's end that keeps failing (the store down) gives up after a
few attempts and is carried by the next write; the closing write retries until it succeeds.
Guarded by ``workflow.patched("store-record-writes")``: histories recorded before stay
replayable and simply never write.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from datetime import timedelta

from temporalio import workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import ActivityError

with workflow.unsafe.imports_passed_through():
    from models import contracts
    from models.audit import head_hash
    from models.protocol import Protocol
    from models.record import PathwayRecord
    from models.record_writes import (
        Closing,
        IncidentFact,
        Opening,
        RecordsKept,
        RecordWrite,
        WriteCause,
    )

STORE_PATCH = "store-record-writes"
#: staff actions an inspector needs in the store at once, not at the end of the run
WRITE_AT_ONCE = frozenset({"infuse"})
# The store may be down for a while (a migration, a failover). A pathway that closes waits
# for it, retrying (the failing activity shows in the Web UI): nothing closes unrecorded.
RETRY_UNTIL_KEPT = RetryPolicy(
    initial_interval=timedelta(seconds=1), maximum_interval=timedelta(minutes=5)
)
# Any other write gives up after a minute or so rather than hold the run loop (and its
# deadlines) hostage; the mark has not moved, so the next write carries the same facts.
RETRY_THEN_LATER = RetryPolicy(
    initial_interval=timedelta(seconds=1),
    maximum_interval=timedelta(seconds=30),
    maximum_attempts=5,
)


def writes_due_now(record: PathwayRecord, *, sent_through: int = 0) -> bool:
    """Whether the trail holds an action the store must have at once (an infusion) that is
    neither stored nor in a write already sent (up to ``sent_through``)."""
    stored = max(record.stored.audit_seq if record.stored else 0, sent_through)
    return any(e.event in WRITE_AT_ONCE for e in record.audit if e.seq > stored)


def pending_write(
    record: PathwayRecord,
    protocol: Protocol,
    cause: WriteCause,
    *,
    incidents: Sequence[IncidentFact] = (),
) -> RecordWrite | None:
    """What the store lacks, as one write; None when it lacks nothing."""
    mark = record.stored
    audit = [e for e in record.audit if e.seq > (mark.audit_seq if mark else 0)]
    write = RecordWrite(
        pathway_id=record.pathway_id,
        run=record.run,
        cause=cause,
        opening=Opening.of(record, protocol) if mark is None else None,
        coi_id=record.product.coi_id,
        audit=audit,
        adverse_events=record.adverse_events[mark.adverse_events if mark else 0 :],
        incidents=list(incidents[mark.incidents if mark else 0 :]),
    )
    if cause is WriteCause.CLOSED:
        after = write.mark_after(mark)
        write.closing = Closing(
            closed_at=workflow.now(),
            outcome=record.outcome or "ended",
            final_state=record.state,
            head_seq=record.audit[-1].seq if record.audit else 0,
            head_hash=head_hash(record.audit, record.pathway_id),
            # The record as the closed workflow keeps it, store mark included.
            record=record.model_copy(update={"audit": [], "stored": after}),
        )
    elif not (write.opening or write.audit or write.adverse_events or write.incidents):
        return None
    return write


async def keep_records(
    record: PathwayRecord,
    protocol: Protocol,
    cause: WriteCause,
    *,
    incidents: Sequence[IncidentFact] = (),
) -> None:
    """Write what the store lacks (``cause`` says why now); the mark moves once written."""
    write = pending_write(record, protocol, cause, incidents=incidents)
    if write is None or not workflow.patched(STORE_PATCH):
        return
    closing = cause is WriteCause.CLOSED
    try:
        await workflow.execute_activity(
            contracts.KEEP_RECORDS,
            write,
            result_type=RecordsKept,
            start_to_close_timeout=timedelta(seconds=60),
            retry_policy=RETRY_UNTIL_KEPT if closing else RETRY_THEN_LATER,
            summary=f"Keep the records ({cause.value})",
        )
    except ActivityError:
        if closing:
            raise
        workflow.logger.warning(
            "record store write failed; the next write carries it",
            extra={"pathway_id": record.pathway_id, "cause": cause.value},
        )
        return
    record.stored = write.mark_after(record.stored)


class RecordKeeper:
    """The writes of one run, in the background: one in flight at a time, never holding the
    run loop (its deadlines, its continue-as-new). A write asked for while one is in flight
    follows it. Before continue-as-new the write in flight is dropped (cancelled): the mark
    has not moved, so the next run's write carries its facts again, and the store's keys
    keep them once. The closing write is awaited."""

    def __init__(self) -> None:
        self._writing: asyncio.Task[None] | None = None
        self._next: WriteCause | None = None
        # The trail's last seq when the latest write was asked for: it carries that far.
        self._sent_through = 0

    def infusion(self, record: PathwayRecord, protocol: Protocol) -> None:
        if writes_due_now(record, sent_through=self._sent_through):
            self.soon(record, protocol, WriteCause.INFUSION)

    def soon(self, record: PathwayRecord, protocol: Protocol, cause: WriteCause) -> None:
        self._sent_through = record.audit[-1].seq if record.audit else 0
        if self._writing is not None and not self._writing.done():
            self._next = cause
            return
        self._writing = asyncio.create_task(self._write(record, protocol, cause))

    async def _write(self, record: PathwayRecord, protocol: Protocol, cause: WriteCause) -> None:
        await keep_records(record, protocol, cause)
        while self._next is not None:
            cause, self._next = self._next, None
            await keep_records(record, protocol, cause)

    def drop(self) -> None:
        """Cancel the write in flight (continue-as-new is next)."""
        self._next = None
        if self._writing is not None and not self._writing.done():
            self._writing.cancel()

    async def close(self, record: PathwayRecord, protocol: Protocol) -> None:
        """The write in flight, then the closing write (retried until the store takes it)."""
        if self._writing is not None:
            try:
                await self._writing
            except asyncio.CancelledError:
                pass
        self._next = None
        await keep_records(record, protocol, WriteCause.CLOSED)
