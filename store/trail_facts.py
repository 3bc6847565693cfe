"""The facts an audit trail records, as the store keeps them: chain-of-identity steps
(product events) and follow-up visits, read from the accepted staff actions.

Usage::

    events = product_events(entries, coi_id="COI-LUP-010")   # ProductEvent, seq = audit seq
    done = visits(entries)                                    # VisitRecord, seq = audit seq

Each fact takes its entry's seq, so deriving it again from the same entries gives the same
keys, and writing it again writes nothing (store/records.py). An event that names no COI
(a shipment, a release) is given the pathway's COI known at that point of the trail
(``coi_id``: the record's, for entries before any collection or order in this batch).
"""

from __future__ import annotations

from collections.abc import Iterable

from models.record import AuditEntry
from store.facts import ProductEvent, ProductEventKind, VisitRecord

#: the staff action that records each step of the product's chain of identity
PRODUCT_STEPS: dict[str, ProductEventKind] = {
    "record_apheresis": ProductEventKind.COLLECTED,
    "ship_to_manufacturer": ProductEventKind.SHIPPED,
    "release_product": ProductEventKind.RELEASED,
    "ship_to_centre": ProductEventKind.SHIPPED,
    "order_product": ProductEventKind.ORDERED,
    "receive_product": ProductEventKind.RECEIVED,
    "release_from_quarantine": ProductEventKind.RECEIVED,
    "quarantine_product": ProductEventKind.QUARANTINED,
    "thaw_product": ProductEventKind.THAWED,
    "infuse": ProductEventKind.INFUSED,
    "discard_thawed_product": ProductEventKind.DISCARDED,
}


def product_events(entries: Iterable[AuditEntry], *, coi_id: str | None) -> list[ProductEvent]:
    events = []
    for entry in entries:
        kind = PRODUCT_STEPS.get(entry.event)
        if kind is None:
            continue
        data = entry.data
        coi_id = data.get("coi_id") or coi_id
        events.append(
            ProductEvent(
                seq=entry.seq,
                at=entry.at,
                kind=kind,
                coi_id=coi_id,
                bag_id=data.get("bag_coi_id"),
                lot=data.get("lot"),
                storage_location=data.get("storage_location"),
            )
        )
    return events


def visits(entries: Iterable[AuditEntry]) -> list[VisitRecord]:
    return [
        VisitRecord(seq=e.seq, visit=str(e.data["visit"]), at=e.at)
        for e in entries
        if e.event == "record_visit" and e.data.get("visit")
    ]
