"""The history scenario of the explicit safety rules (models/safety_rules.py): ``safety-cart``.

A CAR-T pathway referred under the rules answers every safety question: the MDTM as a
record, consent elements, the current treatments, the release lot; its bag arrives with a
temperature excursion, is quarantined and released on a recorded assessment; the fitness
check is explicit; a fatal adverse event is recorded with its awareness date (serious by its
facts, its sponsor report due from awareness, escalated, then reported). The pathway is then
discharged and the workflow terminated (the history covers the new behaviour, not 15 years).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from temporalio.client import Client

from client import pathways as operations
from devtools.demo_answers import AE_FACTS, CONSENTED, FIT, ORGANS, SIGNED, Ago
from models.protocol import Therapy, load_default_protocol
from tests.support.pathway_driver import (
    APH,
    ARD,
    CTS,
    NURSE,
    PHARMA,
    TECH,
    Driver,
    ago,
    referral,
)
from tests.support.waiting import at_rest


async def play_safety(client: Client, task_queue: str) -> str:
    real = load_default_protocol(Therapy.CAR_T)
    protocol = real.compressed(seconds_per_day=0.5, floor=timedelta(seconds=5))
    handle = await operations.refer(
        client, referral("HIS-004"), task_queue=task_queue, protocol=protocol
    )
    go = Driver(client, handle.id, protocol)
    coi = "COI-HIS-004"
    await go.prepare()  # the preparation tasks that gate leukapheresis and lymphodepletion
    await go("record_work_up", ARD, completed_at=ago(protocol, 3), **ORGANS)
    await go("approve_at_mdtm", ARD, **SIGNED)
    await go("record_consent", ARD, **CONSENTED)
    await go(
        "record_washout",
        CTS,
        stopped=[{"drug": "mycophenolate mofetil", "stopped_at": ago(protocol, 30)}],
        treatments=["mycophenolate mofetil", "hydroxychloroquine"],
    )
    await go("book_apheresis", CTS, slot_at=datetime.now(UTC).isoformat())
    await go("record_apheresis", APH, coi_id=coi)
    await go("ship_to_manufacturer", TECH)
    await go("release_product", PHARMA, lot="LOT-HIS-004")
    await go("ship_to_centre", PHARMA)
    await go("receive_product", TECH, bag_coi_id=coi, temperature_log_ok=False)
    await go(
        "release_from_quarantine",
        TECH,
        bag_coi_id=coi,
        reason="manufacturer's assessment: excursion within the product's stability data",
    )
    await go("clear_for_treatment", CTS, **FIT, tocilizumab_doses_on_site=2)
    await go("start_lymphodepletion", NURSE)
    await go("complete_lymphodepletion", NURSE)
    await go.once_open("thaw_product", TECH, bag_coi_id=coi)
    await go("infuse", NURSE, bag_coi_id=coi, checked_by=["n.bernard", "dr.roux"])
    await go(
        "record_adverse_event",
        NURSE,
        kind="ICANS",
        grade=4,
        **{**AE_FACTS, "hospitalised": True, "aware_at": Ago(0.2)},
    )
    await go("report_adverse_event", CTS, adverse_event=1, report="sponsor")
    await go("discharge", CTS)
    await at_rest(client, handle.id)
    await handle.terminate("history recorded")
    return handle.id
