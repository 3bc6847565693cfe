"""Keeping a pathway's records: what the workflow writes to the record store, and when.

Usage (in PathwayWorkflow)::

    # an incident or an infusion at once; the run's facts before continue-as-new
    await keep_records_due(record, protocol, run_ends=self._should_continue_as_new())
    await keep_records(record, protocol, WriteCause.CLOSED)    # the pathway closes

Every write carries the incidents of the deviation log (``record.incidents``) the store does
not hold; a new incident, like an infusion, is written at once (``writes_due_now``).

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

from collections.abc import Sequence
from datetime import timedelta

from temporalio import workflow
from temporalio.common import RawValue, RetryPolicy
from temporalio.exceptions import ActivityError, CancelledError

with workflow.unsafe.imports_passed_through():
    from models import contracts
    from models.protocol import Protocol
    from models.protocol_claim_check import claim_checked
    from models.record import PathwayRecord, StoredMark
    from models.record_writes import (
        Closing,
        IncidentFact,
        Opening,
        RecordsKept,
        RecordWrite,
        WriteCause,
    )
    from workflows.patches import PROTOCOL_CLAIM_CHECK, patched

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


def writes_due_now(record: PathwayRecord) -> WriteCause | None:
    """Why the store must have something at once: an incident of the deviation log, or an
    infusion, that it does not hold yet; None when nothing is urgent."""
    mark = record.stored or StoredMark()
    if record.incident_count > mark.incidents:
        return WriteCause.INCIDENT
    if any(e.event in WRITE_AT_ONCE for e in record.audit if e.seq > mark.audit_seq):
        return WriteCause.INFUSION
    return None


def incident_facts(record: PathwayRecord) -> list[IncidentFact]:
    """The deviation log as the store keeps it: kind in clear, the rest sealed."""
    return [
        IncidentFact(
            seq=i.seq,
            at=i.at,
            kind=i.kind.value,
            summary=i.describe(),
            data=i.model_dump(mode="json"),
        )
        for i in record.incidents
    ]


def carried_from(record: PathwayRecord) -> int:
    """How many incidents earlier runs left in the store that the record no longer carries."""
    return record.earlier.incidents if record.earlier else 0


def pending_write(
    record: PathwayRecord,
    protocol: Protocol,
    cause: WriteCause,
    *,
    incidents: Sequence[IncidentFact] | None = None,
) -> RecordWrite | None:
    """What the store lacks, as one write; None when it lacks nothing. ``incidents``: the
    pathway's deviation log (by default the record's)."""
    if incidents is None:
        incidents = incident_facts(record)
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
        # The carried deviation log starts after the incidents earlier runs left stored.
        incidents=list(incidents[(mark.incidents if mark else 0) - carried_from(record) :]),
    )
    if cause is WriteCause.CLOSED:
        after = write.mark_after(mark)
        write.closing = Closing(
            closed_at=workflow.now(),
            outcome=record.outcome or "ended",
            final_state=record.state,
            head_seq=record.audit_seq,
            head_hash=record.audit_head,
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
    incidents: Sequence[IncidentFact] | None = None,
) -> None:
    """Write what the store lacks (``cause`` says why now); the mark moves once written."""
    write = pending_write(record, protocol, cause, incidents=incidents)
    if write is None or not patched(STORE_PATCH):
        return
    closing = cause is WriteCause.CLOSED
    arg: RecordWrite | RawValue = write
    if patched(PROTOCOL_CLAIM_CHECK):
        # For the worker's codec: the first write's protocol kept in the store, the rest
        # compressed (models/protocol_claim_check.py).
        arg = claim_checked(write, workflow.payload_converter(), "opening.protocol")
    try:
        await workflow.execute_activity(
            contracts.KEEP_RECORDS,
            arg,
            result_type=RecordsKept,
            start_to_close_timeout=timedelta(seconds=60),
            retry_policy=RETRY_UNTIL_KEPT if closing else RETRY_THEN_LATER,
            summary=f"Keep the records ({cause.value})",
        )
    except ActivityError as err:
        if closing:
            raise
        if isinstance(err.cause, CancelledError):
            return
        workflow.logger.warning(
            "record store write failed; the next write carries it",
            extra={"pathway_id": record.pathway_id, "cause": cause.value},
        )
        return
    record.stored = write.mark_after(record.stored)


async def keep_records_due(record: PathwayRecord, protocol: Protocol, run_ends: bool) -> None:
    """What the store must have now: the run's facts when it is about to continue as new,
    else an incident or an infusion it lacks. Awaited, never left in flight: continuing as
    new while a write completes has the server refuse the workflow task, and the staff
    actions being delivered then with it (docs/performance.md)."""
    cause = WriteCause.RUN_END if run_ends else writes_due_now(record)
    if cause is not None:
        await keep_records(record, protocol, cause)
