"""Sample pathways for the record store tests: a referral's facts, a sealed audit chain
(built by ``PathwayRecord.append_audit``, as the workflow builds it) and product events."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

from models.centre_files import load_centre, load_centre_policy
from models.centre_record import CentreAuditEntry, CentreRecord
from models.centre_writes import CentreRecordWrite
from models.protocol import Therapy, load_default_protocol
from models.record import AdverseEventRecord, AuditEntry, PathwayRecord
from models.referral import Binome, pathway_id
from models.roles import Role
from store.facts import (
    Incident,
    Outcome,
    PathwayFacts,
    ProductEvent,
    ProductEventKind,
    ProtocolVersion,
    VisitRecord,
)
from store.records import RecordStore

T0 = datetime(2026, 3, 2, 9, 30, 15, 123456, tzinfo=UTC)
BINOME = Binome(ard_specialist="dr.martin", cell_therapy_specialist="dr.okafor")


CENTRE_START = datetime(2026, 11, 26, 12, 0, tzinfo=UTC)


def car_t_protocol() -> ProtocolVersion:
    return ProtocolVersion.of(load_default_protocol(Therapy.CAR_T), version="2026.1")


def facts(pseudonym: str, protocol: ProtocolVersion, *, disease: str = "lupus") -> PathwayFacts:
    return PathwayFacts(
        pathway_id=pathway_id("centre-a", pseudonym),
        pseudonym=pseudonym,
        centre="centre-a",
        therapy=Therapy.CAR_T,
        disease=disease,
        age_band="30-39",
        binome=BINOME,
        protocol_id=protocol.protocol_id,
        protocol_version=protocol.version,
        protocol_hash=protocol.content_hash,
        referred_at=T0,
        started_at=T0,
    )


def audit_chain(pathway: PathwayFacts, *, count: int = 4, secret: str = "") -> list[AuditEntry]:
    """``count`` chained entries; ``secret`` goes into each entry's reason and data. From the
    third on they are sealed by audit chain version 2, as signatures co-signed by dr.roux
    (a pathway that crossed the co-signature patch)."""
    record = PathwayRecord(
        pathway_id=pathway.pathway_id,
        pseudonym=pathway.pseudonym,
        centre=pathway.centre,
        therapy=pathway.therapy,
        disease=pathway.disease,
        protocol_id=pathway.protocol_id,
        binome=pathway.binome,
        referred_at=pathway.referred_at,
    )
    for seq in range(1, count + 1):
        record.append_audit(
            AuditEntry(
                seq=seq,
                at=T0 + timedelta(days=seq, microseconds=seq),
                event=f"step_{seq}",
                actor="dr.martin",
                role=Role.CELL_THERAPY_SPECIALIST,
                reason=f"note {seq} {secret}".strip(),
                update_id=f"upd-{seq}",
                from_state=f"s{seq - 1}",
                to_state=f"s{seq}",
                data={"note": secret, "slot_at": (T0 + timedelta(days=seq)).isoformat()},
                **(
                    {
                        "chain": 2,
                        "meaning": "approved",
                        "cosigner": f"dr.roux {secret}".strip(),
                        "cosigner_role": Role.CELL_THERAPY_SPECIALIST,
                        "cosigner_meaning": "verified",
                    }
                    if seq >= 3
                    else {}
                ),
            )
        )
    return record.audit


def product_chain(coi: str, bag: str, lot: str, *, start: datetime) -> list[ProductEvent]:
    """Collection to infusion of one bag of one lot."""
    steps = [
        (ProductEventKind.COLLECTED, {"coi_id": coi}),
        (ProductEventKind.RELEASED, {"coi_id": coi, "lot": lot, "manufacturer": "kite-eu"}),
        (ProductEventKind.RECEIVED, {"coi_id": coi, "bag_id": bag, "lot": lot}),
        (ProductEventKind.THAWED, {"coi_id": coi, "bag_id": bag, "lot": lot}),
        (ProductEventKind.INFUSED, {"coi_id": coi, "bag_id": bag, "lot": lot}),
    ]
    return [
        ProductEvent(seq=i, at=start + timedelta(days=7 * i), kind=kind, **ids)
        for i, (kind, ids) in enumerate(steps, start=1)
    ]


def store_pathway(
    records: RecordStore, pseudonym: str, *, lot: str, closed: bool = True, secret: str = ""
) -> PathwayFacts:
    """One whole pathway in ``records``: every table gets at least one row."""
    protocol = car_t_protocol()
    pathway = facts(pseudonym, protocol, disease=f"systemic lupus {secret}".strip())
    records.add_protocol(protocol)
    records.add_pathway(pathway)
    pid = pathway.pathway_id
    audit = audit_chain(pathway, secret=secret)
    records.add_audit(pid, run=1, entries=audit)
    number = pseudonym.split("-")[1]
    start = T0 + timedelta(days=int(number))
    records.add_product_events(
        pid, run=1, events=product_chain(f"COI-{pseudonym}", f"BAG-{number}", lot, start=start)
    )
    records.add_visits(pid, run=1, visits=[VisitRecord(seq=1, visit="d28", at=start)])
    records.add_adverse_events(
        pid,
        run=1,
        events=[
            AdverseEventRecord(
                seq=1, at=start, kind="CRS", grade=2, serious=True, reports={"sponsor": start}
            )
        ],
    )
    records.add_incidents(
        pid,
        run=1,
        incidents=[
            Incident(seq=1, at=start, kind="quarantine", summary=f"bag held {secret}".strip())
        ],
    )
    if closed:
        records.close_pathway(
            pid,
            Outcome(
                run=1,
                closed_at=start + timedelta(days=400),
                outcome="completed",
                final_state="closed",
                audit_head_seq=audit[-1].seq,
                audit_head_hash=audit[-1].hash,
            ),
        )
        records.add_closing_record(closing_record(pathway, audit), run=1)
    return pathway


def closing_record(pathway: PathwayFacts, audit: list[AuditEntry]) -> PathwayRecord:
    """The record a closed pathway's workflow held (its trail included, as a query gives)."""
    return PathwayRecord(
        **pathway.model_dump(
            include={"pathway_id", "pseudonym", "centre", "therapy", "disease", "age_band"}
        ),
        binome=pathway.binome,
        protocol_id=pathway.protocol_id,
        referred_at=pathway.referred_at,
        configuration=["closed"],
        outcome="completed",
        audit=audit,
    )


def centre_record(entries: int, *, at: datetime = CENTRE_START) -> CentreRecord:
    """Demo centre B with its accreditation warned and ``entries`` stock counts recorded
    (the first with a reason that must be sealed: "… s3cret")."""
    policy = load_centre_policy()
    record = CentreRecord(
        centre=load_centre(Path("centres") / "centre-b.yaml", now=at), opened_at=at
    )
    record.sync_watches(policy, at)
    record.due_alerts(policy, at)
    for n in range(1, entries + 1):
        record.append_audit(
            CentreAuditEntry(
                seq=0,
                at=at + timedelta(minutes=n),
                event="record_tocilizumab_stock",
                actor="p.laurent",
                role=Role.PHARMACIST,
                reason="count after delivery s3cret" if n == 1 else None,
                update_id=f"click-{n}",
                item="tocilizumab",
                data={"doses_on_site": n},
            )
        )
    return record


def centre_write(record: CentreRecord | None = None, run: int = 1) -> CentreRecordWrite:
    """What the centre workflow would write: the entries and alerts not stored yet."""
    record = record or centre_record(2)
    return CentreRecordWrite(
        centre=record.centre.id,
        run=run,
        audit=record.unstored_audit(),
        alerts=record.unstored_alerts(),
    )
