"""What a lean run carries into the next (workflows/lean_runs.py): only what the record
store lacks, the audit chain's head, the last click and the open deadlines; the chain goes on
from the head as if the trail were whole; the input packs the record and names the protocol."""

from __future__ import annotations

from datetime import timedelta

import pytest
from temporalio.contrib.pydantic import pydantic_data_converter

from models.audit import verify_chain
from models.carried import (
    ProtocolAltered,
    ProtocolRef,
    content_hash,
    packed_body,
    protocol_body,
    unpacked_body,
)
from models.incident import Incident, IncidentKind
from models.pathway import PathwayInput
from models.record import AuditEntry, Deadline, DeadlineStatus, PathwayRecord, StoredMark
from models.record_writes import WriteCause
from models.roles import Role
from tests.support.pathway_driver import referral
from tests.unit.test_record_writes import PROTOCOL, T0, record_with
from workflows.lean_runs import lean_record
from workflows.record_keeping import pending_write


def entry(record: PathwayRecord, event: str) -> AuditEntry:
    return AuditEntry(
        seq=record.audit_seq + 1,
        at=T0 + timedelta(days=record.audit_seq + 1),
        event=event,
        actor="n.bernard",
        role=Role.NURSE,
        from_state="a",
        to_state="b",
    )


def incident(seq: int) -> Incident:
    return Incident(
        seq=seq,
        at=T0,
        kind=IncidentKind.REFUSED,
        event="thaw_product",
        actor="t.moreau",
        role=Role.CTU_TECHNICIAN,
        rule="ChainOfIdentity",
        message="wrong bag",
        state="cleared",
    )


def deadline(key: str, status: DeadlineStatus) -> Deadline:
    return Deadline(
        key=key,
        label=key,
        state="follow_up",
        waiting_on=Role.CARE_COORDINATOR,
        ladder="default",
        armed_at=T0,
        due_at=T0 + timedelta(days=7),
        status=status,
    )


def stored_record() -> PathwayRecord:
    record = record_with("record_work_up", "approve_at_mdtm", "infuse", "record_visit")
    record.incidents = [incident(1), incident(2)]
    record.deadlines = [
        deadline("visit:M3", DeadlineStatus.MET),
        deadline("visit:M6", DeadlineStatus.ARMED),
        deadline("grade:icu:CRS:1", DeadlineStatus.MET),
    ]
    record.stored = StoredMark(audit_seq=4, incidents=2)
    return record


def test_a_lean_record_carries_the_head_the_last_clicks_and_what_is_open() -> None:
    record = stored_record()
    lean = lean_record(record)
    assert [e.seq for e in lean.audit] == [2, 3, 4]
    assert lean.earlier is not None
    assert (lean.earlier.audit_seq, lean.earlier.audit_hash) == (4, record.audit[-1].hash)
    # The deviation log keeps its last incident (the details show it) and counts the rest.
    assert [i.seq for i in lean.incidents] == [2] and lean.incident_count == 2
    # Open deadlines, and CRS/ICANS escalations (one per episode: their rule reads met ones).
    assert [d.key for d in lean.deadlines] == ["visit:M6", "grade:icu:CRS:1"]
    assert lean.entry_for_update(None) is None and lean.audit_seq == 4


def test_entries_the_store_lacks_are_carried() -> None:
    record = stored_record()
    record.stored = StoredMark(audit_seq=1, incidents=1)
    lean = lean_record(record)
    assert [e.seq for e in lean.audit] == [1, 2, 3, 4]
    assert [i.seq for i in lean.incidents] == [2]
    write = pending_write(lean, PROTOCOL, WriteCause.RUN_END)
    assert write is not None
    assert [e.seq for e in write.audit] == [2, 3, 4] and [i.seq for i in write.incidents] == [2]


def test_the_chain_goes_on_from_the_head_as_if_the_trail_were_whole() -> None:
    whole = stored_record()
    lean = lean_record(whole)
    for record in (whole, lean):
        record.append_audit(entry(record, "record_visit"))
    assert lean.audit[-1] == whole.audit[-1]
    assert verify_chain(whole.audit, whole.pathway_id) == []
    # Twice lean: the head moves with the store's mark.
    lean.stored = StoredMark(audit_seq=5, incidents=2)
    again = lean_record(lean)
    assert again.earlier is not None and again.earlier.audit_seq == 5
    assert [e.seq for e in again.audit] == [3, 4, 5] and again.incident_count == 2


def test_a_lean_input_packs_the_record_and_names_the_protocol() -> None:
    record = lean_record(stored_record())
    data = PathwayInput(protocol_ref=ProtocolRef.of(PROTOCOL), record=record)
    payload = pydantic_data_converter.payload_converter.to_payloads([data])[0]
    assert b'"record":"' in payload.data, "the record travels packed"
    assert len(payload.data) < len(record.model_dump_json()) / 2
    back = pydantic_data_converter.payload_converter.from_payloads([payload], [PathwayInput])[0]
    assert back == data
    # Inputs that carry the protocol are unchanged (committed histories hold them).
    whole = PathwayInput(protocol=PROTOCOL, record=stored_record())
    payload = pydantic_data_converter.payload_converter.to_payloads([whole])[0]
    assert b'"record":{' in payload.data


def test_an_input_names_its_protocol() -> None:
    with pytest.raises(ValueError, match="give a protocol or a protocol reference"):
        PathwayInput(record=stored_record())
    with pytest.raises(ValueError, match="continues a carried record"):
        PathwayInput(protocol_ref=ProtocolRef.of(PROTOCOL), referral=referral("LUP-001"))


def test_a_fetched_protocol_must_hash_to_its_reference() -> None:
    body = protocol_body(PROTOCOL)
    ref = ProtocolRef.of(PROTOCOL)
    assert ref.content_hash == content_hash(body)
    assert unpacked_body(packed_body(body), ref.content_hash) == body
    edited = {**body, "name": body.get("name", "") + " (edited)"}
    with pytest.raises(ProtocolAltered):
        unpacked_body(packed_body(edited), ref.content_hash)


def test_a_packed_record_reads_back_in_its_own_order() -> None:
    record = stored_record()
    record.audit[-1].data = {"visit": "M12", "blood_counts_done": True}
    data = PathwayInput(protocol_ref=ProtocolRef.of(PROTOCOL), record=lean_record(record))
    payload = pydantic_data_converter.payload_converter.to_payloads([data])[0]
    back = pydantic_data_converter.payload_converter.from_payloads([payload], [PathwayInput])[0]
    assert back.record is not None
    assert list(back.record.audit[-1].data) == ["visit", "blood_counts_done"]
