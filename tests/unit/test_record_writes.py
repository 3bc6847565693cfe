"""What a pathway hands the record store in one write (workflows/record_keeping.py): only
what the store lacks, the referral's facts once, and a mark that moves past what was sent."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from models.incident import Incident, IncidentKind
from models.protocol import Therapy, load_default_protocol
from models.record import AdverseEventRecord, AuditEntry, PathwayRecord, StoredMark
from models.record_writes import IncidentFact, WriteCause
from models.referral import Binome
from models.roles import Role
from workflows.record_keeping import pending_write, writes_due_now

T0 = datetime(2026, 3, 2, 9, 30, tzinfo=UTC)
PROTOCOL = load_default_protocol(Therapy.CAR_T)


def record_with(*events: str) -> PathwayRecord:
    record = PathwayRecord(
        pathway_id="pathway-centre-a-LUP-001",
        pseudonym="LUP-001",
        centre="centre-a",
        therapy=Therapy.CAR_T,
        disease="systemic lupus erythematosus",
        protocol_id=PROTOCOL.id,
        binome=Binome(ard_specialist="dr.martin", cell_therapy_specialist="dr.roux"),
        referred_at=T0,
    )
    for seq, event in enumerate(events, start=1):
        record.append_audit(
            AuditEntry(
                seq=seq,
                at=T0 + timedelta(days=seq),
                event=event,
                actor="n.bernard",
                role=Role.NURSE,
                from_state="a",
                to_state="b",
            )
        )
    return record


class TestPendingWrite:
    def test_first_write_carries_the_referral_and_the_protocol(self) -> None:
        record = record_with("record_work_up", "approve_at_mdtm")
        write = pending_write(record, PROTOCOL, WriteCause.RUN_END)
        assert write is not None and write.opening is not None
        assert write.opening.protocol == PROTOCOL and write.opening.pseudonym == "LUP-001"
        assert [e.seq for e in write.audit] == [1, 2]
        assert write.mark_after(record.stored) == StoredMark(audit_seq=2)

    def test_later_writes_carry_only_what_is_new(self) -> None:
        record = record_with("record_work_up", "approve_at_mdtm", "infuse")
        record.adverse_events = [
            AdverseEventRecord(seq=1, at=T0, kind="CRS", grade=2, serious=False)
        ]
        record.stored = StoredMark(audit_seq=2)
        incidents = [IncidentFact(seq=1, at=T0, kind="quarantine", summary="bag held")]
        write = pending_write(record, PROTOCOL, WriteCause.INCIDENT, incidents=incidents)
        assert write is not None and write.opening is None
        assert [e.seq for e in write.audit] == [3]
        assert len(write.adverse_events) == 1 and write.incidents == incidents
        after = write.mark_after(record.stored)
        assert after == StoredMark(audit_seq=3, adverse_events=1, incidents=1)
        record.stored = after
        assert pending_write(record, PROTOCOL, WriteCause.RUN_END, incidents=incidents) is None

    def test_an_unstored_infusion_is_due_at_once(self) -> None:
        record = record_with("thaw_product", "infuse")
        assert writes_due_now(record)
        record.stored = StoredMark(audit_seq=2)
        assert not writes_due_now(record)
        assert not writes_due_now(record_with("record_work_up"))


class TestIncidents:
    def test_an_unstored_incident_is_due_at_once_and_written_from_the_record(self) -> None:
        record = record_with("record_work_up")
        record.stored = StoredMark(audit_seq=1)
        assert writes_due_now(record) is None
        record.incidents.append(
            Incident(
                seq=1,
                at=T0,
                kind=IncidentKind.REFUSED,
                event="thaw_product",
                actor="t.moreau",
                role=Role.CTU_TECHNICIAN,
                rule="IdentityMismatch",
                message="The bag is not this patient's.",
                state="stored",
            )
        )
        assert writes_due_now(record) is WriteCause.INCIDENT
        write = pending_write(record, PROTOCOL, WriteCause.INCIDENT)
        assert write is not None and [i.seq for i in write.incidents] == [1]
        assert write.incidents[0].kind == "refused"
        assert "IdentityMismatch" in write.incidents[0].summary
        assert write.incidents[0].data["presented"] == {}
        record.stored = write.mark_after(record.stored)
        assert writes_due_now(record) is None
