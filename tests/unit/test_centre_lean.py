"""A centre record's lean runs: the audit is a hash chain whose head the record keeps,
alerts are numbered, and what the next run carries once the store holds the rest is only
what is open (models/centre_record.py). Pure: no Temporal, milliseconds."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

from models.centre_audit import centre_genesis, verify_centre_chain
from models.centre_files import load_centre, load_centre_policy
from models.centre_record import RECENT_ENTRIES, AlertKind, CentreAuditEntry, CentreRecord
from models.roles import Role

NOW = datetime(2026, 11, 26, 12, 0, tzinfo=UTC)
POLICY = load_centre_policy()


def centre_b_record() -> CentreRecord:
    centre = load_centre(Path("centres") / "centre-b.yaml", now=NOW)
    return CentreRecord(centre=centre, opened_at=NOW)


def entry(n: int) -> CentreAuditEntry:
    return CentreAuditEntry(
        seq=0,
        at=NOW + timedelta(minutes=n),
        event="record_tocilizumab_stock",
        actor="p.laurent",
        role=Role.PHARMACIST,
        update_id=f"click-{n}",
        item="tocilizumab",
        data={"doses_on_site": n},
    )


def test_entries_chain_from_the_centre_genesis_to_the_head() -> None:
    record = centre_b_record()
    for n in range(1, 4):
        record.append_audit(entry(n))
    assert [e.seq for e in record.audit] == [1, 2, 3]
    assert record.audit[0].prev_hash == centre_genesis("centre-b")
    assert (record.audit_head_seq, record.audit_head_hash) == (3, record.audit[-1].hash)
    assert verify_centre_chain(record.audit, "centre-b") == []
    record.audit[1].data = {"doses_on_site": 99}
    assert [p.kind for p in verify_centre_chain(record.audit, "centre-b")] == ["edited"]


def test_the_next_run_carries_open_alerts_recent_entries_and_the_head() -> None:
    record = centre_b_record()
    record.sync_watches(POLICY, NOW)
    lapse = record.centre.item("accreditation")
    assert lapse is not None
    # Warned (already within the window), then lapsed on the day: one open alert, the lapse.
    record.due_alerts(POLICY, NOW)
    record.due_alerts(POLICY, lapse.valid_until)
    kinds = [(a.seq, a.kind) for a in record.alerts]
    assert kinds == [(1, AlertKind.EXPIRING), (2, AlertKind.LAPSED)]
    for n in range(1, RECENT_ENTRIES + 6):
        record.append_audit(entry(n))
    # The store holds all but the last two entries and the first alert.
    record.stored_audit_seq, record.stored_alert_seq = record.audit_head_seq - 2, 1

    lean = record.lean()
    assert [a.seq for a in lean.alerts] == [2]  # the lapse is open; the warning is not
    carried = [e.seq for e in lean.audit]
    assert carried == list(range(record.audit_head_seq - RECENT_ENTRIES + 1, 26))
    assert lean.entry_for_update("click-25") is not None
    assert lean.entry_for_update("click-1") is None  # long ago: in the store only
    assert (lean.audit_head_seq, lean.audit_head_hash) == (25, record.audit_head_hash)
    assert lean.watches == record.watches and lean.centre == record.centre
    # Carried through continue-as-new (JSON) it goes on numbering after the head.
    again = CentreRecord.model_validate_json(lean.model_dump_json())
    assert again.append_audit(entry(26)).seq == 26
    assert again.audit[-1].prev_hash == record.audit_head_hash


def test_a_renewed_or_recorded_again_item_closes_its_alert() -> None:
    record = centre_b_record()
    record.sync_watches(POLICY, NOW)
    record.due_alerts(POLICY, NOW)
    assert [a.kind for a in record.open_alerts()] == [AlertKind.EXPIRING]
    item = record.centre.item("accreditation")
    assert item is not None
    record.centre.accreditation = record.centre.accreditation.model_copy(  # type: ignore[union-attr]
        update={"valid_until": item.valid_until + timedelta(days=365)}
    )
    renewed = record.sync_watches(POLICY, NOW)
    assert [a.kind for a in renewed] == [AlertKind.RENEWED] and renewed[0].seq == 2
    assert record.open_alerts() == []


def test_a_record_carried_from_before_the_chain_is_chained_and_numbered() -> None:
    old = centre_b_record()
    old.sync_watches(POLICY, NOW)
    old.due_alerts(POLICY, NOW)
    for n in (1, 2):
        e = entry(n)
        e.seq = n
        old.audit.append(e)  # as the code before the chain appended them
    body = old.model_dump(mode="json")
    for e in body["audit"]:
        e.pop("prev_hash"), e.pop("hash")
    for a in body["alerts"]:
        a.pop("seq")
    for name in ("audit_head_seq", "audit_head_hash", "alert_seq"):
        body.pop(name)
    carried = CentreRecord.model_validate(body)
    assert verify_centre_chain(carried.audit, "centre-b") == []
    assert carried.audit_head_seq == 2 and [a.seq for a in carried.alerts] == [1]
    assert carried.append_audit(entry(3)).seq == 3
