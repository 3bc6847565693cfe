"""Lean runs: what a pathway's run carries into the next, and how the next finds its protocol.

Usage (in PathwayWorkflow)::

    workflow.continue_as_new(next_run(record, protocol))    # at a follow-up year
    protocol = await fetch_protocol(data.protocol_ref)       # first thing in a lean run

Since ``workflow.patched("lean-runs")`` a run whose facts are in the record store (its
first write went through: the referral's facts and the protocol version) continues as new
with only what the next run needs (issue 13, docs/records.md):

- the protocol by ID and content hash (``models.carried.ProtocolRef``): the next run fetches
  that version from the store's ``protocol_versions`` through an activity (compressed,
  ``models.carried.packed_body``), so neither a worker restart nor an edited protocol file changes a
  running pathway; until it has, actions are refused with ``RunStarting`` (nothing
  changed) and the client sends them again;
- the record without what the store holds: the audit trail is replaced by its head
  (``EarlierRuns``: seq and hash, which the next entry links to) and keeps only entries the
  store lacks (a write that gave up) and the last three (``REPEAT_WINDOW``: a click
  repeated with its Update ID just after the run changed still gets its receipt; an older
  one is checked against the record like any new action); the deviation log keeps
  only incidents the store lacks and the last one (the details show it); deadlines keep the
  open ones and the CRS/ICANS escalations (their rule reads closed ones: one per episode).

Since ``lean2-protocol-claim-check`` (docs/performance.md, "History bytes") the next run is
handed the protocol itself again, in a payload marked for the worker's claim-check codec
(models/protocol_claim_check.py), which keeps the protocol in ``protocol_versions`` and
leaves only its hash in history: the next run needs no fetch, and refuses nothing while it
starts. Runs started from an input without the protocol still fetch it.

Kept whole because the chart and the rules decide on them, and bounded by the protocol:
visits (one per protocol visit), adverse events (their reports are numbered by position),
grading observations, infusions, washout, preparation tasks and registry forms.

Readers join the two halves: client/records.py reads the store's entries of earlier runs
and the workflow's, and the store's closing record rebuilds a closed pathway's whole log.
"""

from __future__ import annotations

from datetime import timedelta

from temporalio import workflow
from temporalio.common import RawValue, RetryPolicy
from temporalio.exceptions import ApplicationError

with workflow.unsafe.imports_passed_through():
    from models import contracts
    from models.audit import genesis_hash
    from models.carried import EarlierRuns, ProtocolAltered, ProtocolRef, unpacked_body
    from models.pathway import PathwayInput
    from models.protocol import Protocol, protocol_from_input
    from models.protocol_claim_check import claim_checked
    from models.record import PathwayRecord
    from states.grade_escalation import PREFIX as GRADE_PREFIX
    from workflows.patches import PROTOCOL_CLAIM_CHECK, patched

LEAN_PATCH = "lean-runs"
#: audit entries carried past the store's mark: the last clicks, so that an Update ID
#: repeated just after the run changed still gets its receipt (~1 KB packed)
REPEAT_WINDOW = 3


def lean_record(record: PathwayRecord) -> PathwayRecord:
    """``record`` without what the store holds (its mark, ``record.stored``)."""
    mark = record.stored
    assert mark is not None, "a lean run needs the store's mark"
    stored = [e for e in record.audit if e.seq <= mark.audit_seq]
    before = record.earlier
    if stored:
        head = EarlierRuns(audit_seq=stored[-1].seq, audit_hash=stored[-1].hash)
    elif before is not None:
        head = before
    else:
        head = EarlierRuns(audit_seq=0, audit_hash=genesis_hash(record.pathway_id))
    repeat_window = {e.seq for e in stored[-REPEAT_WINDOW:]}
    audit = [e for e in record.audit if e.seq > mark.audit_seq or e.seq in repeat_window]
    unstored = mark.incidents - (before.incidents if before else 0)
    incidents = record.incidents[max(0, min(unstored, len(record.incidents) - 1)) :]
    return record.model_copy(
        update={
            "audit": audit,
            "incidents": incidents,
            "earlier": EarlierRuns(
                audit_seq=head.audit_seq,
                audit_hash=head.audit_hash,
                incidents=record.incident_count - len(incidents),
            ),
            "deadlines": [d for d in record.deadlines if d.open or d.key.startswith(GRADE_PREFIX)],
        }
    )


def next_run(
    record: PathwayRecord, protocol: Protocol, ref: ProtocolRef | None = None
) -> PathwayInput | RawValue:
    """The input of the run that continues this one (``ref``: the protocol reference this
    run was started with, passed on as it is)."""
    if record.stored is None or not patched(LEAN_PATCH):
        # Not stored yet (its first write gave up): carried whole, as before lean runs.
        return PathwayInput(protocol=protocol, record=record)
    ref = ref or ProtocolRef.of(protocol)
    if patched(PROTOCOL_CLAIM_CHECK):
        # The protocol itself, which the worker's codec keeps in the store by its hash: the
        # next run has it from its first activation (no fetch, no RunStarting refusals).
        carried = PathwayInput(protocol=protocol, protocol_ref=ref, record=lean_record(record))
        return claim_checked(carried, workflow.payload_converter(), "protocol")
    return PathwayInput(protocol_ref=ref, record=lean_record(record))


async def fetch_protocol(ref: ProtocolRef) -> Protocol:
    """The protocol version ``ref`` names, from the record store (retried while the store
    is down; a version missing or altered fails the run: it never takes another)."""
    packed = await workflow.execute_activity(
        contracts.FETCH_PROTOCOL,
        ref,
        result_type=bytes,
        start_to_close_timeout=timedelta(seconds=30),
        retry_policy=RetryPolicy(
            initial_interval=timedelta(seconds=1), maximum_interval=timedelta(minutes=1)
        ),
        summary=f"Protocol {ref.protocol_id} ({ref.content_hash[:12]}…) from the record store",
    )
    try:
        body = unpacked_body(packed, ref.content_hash)
    except ProtocolAltered as err:
        raise ApplicationError(str(err), type="ProtocolVersionAltered", non_retryable=True) from err
    return protocol_from_input(body, Protocol.model_validate)
