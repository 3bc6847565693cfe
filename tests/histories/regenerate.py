"""Record the histories that the replay test keeps replaying.

Run ``make histories`` (or ``python -m tests.histories.regenerate``) after a deliberate
change to the workflow's history shape, *and* guard the change with ``workflow.patched`` so
that the old histories still replay: old files are kept beside new ones, never rewritten.

It starts a real dev server in memory, plays a full CAR-T pathway (15 years of follow-up,
one run per follow-up year), a full MSC pathway with repeated infusions and a CAR-T pathway
whose work-up is late (its deadline escalates through notification activities) on
compressed protocols, and a centre whose evidence updates carry it into a second run (on a
server that suggests continue-as-new early), and writes every run's history as JSON.
``--only NAME`` records one scenario (``cart-full``, ``msc-full``, ``cart-escalations``,
``centre-full``, ``centre-lean`` (the same on the centre's lean runs, patch
``centre-lean-runs``), ``preparation-tasks``, ``preparation-registry``, ``identity-signed``,
``cosign-cart``, ``deviations-incidents``, ``deviations-centre-gate``, ``deviations-monitoring``,
``safety-cart`` (tests/histories/safety_scenario.py), ``eligibility-full``, ``store-cart``:
a CAR-T pathway writing the record store, ``lean-cart``: the full CAR-T pathway whose runs
continue lean, patch ``lean-runs``; ``lean2-cart``: the same on lean2's runs, patch
``lean2-one-marker``: one patch marker a run, the protocol claim-checked by the worker's
codec, search attributes carried) beside the others. The workers write a throwaway
record store; the protocol versions it holds afterwards are written to ``protocols/``
(``<content hash>.json``), where the replay test finds the protocols that claim-checked
payloads name (models/protocol_claim_check.py).

``identity-signed`` is played on a worker that verifies actor assertions, by a client that
signs every action (tests/support/signing.py): its history holds the assertions and the
``identity-signed-actor`` patch marker, and replays without any key (handlers read the
claims the validators verified). ``cosign-cart`` likewise, with the second person's
co-signatures and the ``cosign-verified-second-person`` patch marker.
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
import tempfile
import uuid
from datetime import timedelta
from pathlib import Path

from sqlalchemy import select
from temporalio.client import Client
from temporalio.contrib.pydantic import pydantic_data_converter

import store
from client import pathways as operations
from client.centres import load_centres, record_evidence
from devtools.demo_answers import AE_FACTS
from devtools.demo_eligibility import eligibility_for, one_treatment_only
from devtools.devserver import DevServer, free_port
from models.contracts import centre_workflow_id
from models.protocol import Protocol, Therapy, load_default_protocol, load_protocol, protocol_path
from store.schema import protocol_versions
from store.sealing import Sealer
from tests.histories.safety_scenario import play_safety
from tests.support.centre_driver import PHARMACIST, STOCK, ShortHistoryServer, play_centre, runs_of
from tests.support.pathway_driver import (
    APH,
    ARD,
    CTS,
    NURSE,
    PHARMA,
    SIGNED,
    TECH,
    Driver,
    ago,
    referral,
)
from tests.support.signing import TEST_SIGNERS, SigningInterceptor
from tests.support.waiting import at_rest, eventually, once_window_opens
from worker import build_worker

HERE = Path(__file__).resolve().parent
#: the protocols that claim-checked payloads of the histories name, by content hash
PROTOCOLS = "protocols"


async def play_cart(client: Client, task_queue: str) -> str:
    real = load_default_protocol(Therapy.CAR_T)
    protocol = real.compressed(seconds_per_day=0.02, floor=timedelta(seconds=1))
    handle = await operations.refer(
        client, referral("HIS-001"), task_queue=task_queue, protocol=protocol
    )
    go = Driver(client, handle.id, protocol)
    await go.to_infusion()
    await go("record_adverse_event", NURSE, kind="CRS", grade=2, **AE_FACTS)
    await go.discharge()
    for visit in protocol.visits:
        if visit.label == "Y2":
            await go("start_long_term_follow_up", ARD)
        await go("record_visit", NURSE, visit=visit.label)
    await go("complete_follow_up", ARD)
    await handle.result()
    return handle.id


async def play_msc(client: Client, task_queue: str) -> str:
    real: Protocol = load_protocol(protocol_path("msc-lupus-repeated"))
    protocol = real.compressed(seconds_per_day=0.02, floor=timedelta(seconds=5))
    handle = await operations.refer(
        client,
        referral("HIS-002", therapy="msc"),
        task_queue=task_queue,
        protocol=protocol,
    )
    go = Driver(client, handle.id, protocol)
    coi = "COI-HIS-MSC"
    await go.to_msc_infusion(coi)
    if protocol.infusions.observation is not None:
        await go.end_observation()
    if protocol.infusions.recheck_before_dose:
        await go("clear_for_treatment", CTS, active_infection=False)
    opens = (protocol.infusions.interval - protocol.infusions.interval_tolerance).total_seconds()
    await once_window_opens(lambda: go("thaw_product", TECH, bag_coi_id=coi), timeout=opens + 10)
    await go("infuse", NURSE, bag_coi_id=coi, checked_by=["n.bernard", "dr.roux"])
    if protocol.infusions.observation is not None:
        await go.end_observation()
    for visit in protocol.visits:
        if (
            visit.long_term
            and "long_term" not in (await operations.record(client, handle.id)).configuration
        ):
            await go("start_long_term_follow_up", ARD)
        await go("record_visit", NURSE, visit=visit.label)
    await go("complete_follow_up", ARD)
    await handle.result()
    return handle.id


async def play_escalations(client: Client, task_queue: str) -> str:
    """A late work-up: the deadline escalates twice (activities) before it is recorded,
    then the patient withdraws."""
    real = load_default_protocol(Therapy.CAR_T)
    protocol = real.compressed(seconds_per_day=0.02, floor=timedelta(seconds=1))
    handle = await operations.refer(
        client, referral("HIS-003"), task_queue=task_queue, protocol=protocol
    )

    async def escalated_twice() -> bool:
        return (await operations.record(client, handle.id)).escalation_level >= 2

    await eventually(escalated_twice, timeout=30, what="two escalations")
    go = Driver(client, handle.id, protocol)
    await go("record_work_up", ARD, completed_at=ago(protocol, 1), lvef_percent=60, egfr=90)
    await go("withdraw", ARD, reason="the patient chose another treatment")
    await handle.result()
    return handle.id


async def play_eligibility(client: Client, task_queue: str) -> str:
    """Issue 16's pathway: an MDTM approval refused on refractoriness (out of history), deferred
    and approved once the work-up completes the treatment history; after infusion a grade-2
    then a grade-3 CRS observation (the binôme and ICU informed, the ICU transfer escalated
    until done); withdrawal from the study into safety follow-up, a visit, then the explicit
    refusal of the follow-up."""
    real = load_default_protocol(Therapy.CAR_T)
    protocol = real.compressed(seconds_per_day=0.02, floor=timedelta(seconds=1))
    lupus = "systemic lupus erythematosus"
    handle = await operations.refer(
        client,
        referral("HIS-006", **one_treatment_only(lupus)),
        task_queue=task_queue,
        protocol=protocol,
    )
    go = Driver(client, handle.id, protocol)
    await go.prepare()
    await go("record_work_up", ARD, completed_at=ago(protocol, 5), lvef_percent=60)
    try:
        await go("approve_at_mdtm", ARD, **SIGNED)
        raise AssertionError("the refractoriness rule must refuse the approval")
    except operations.ActionRefused as refused:
        assert refused.kind == "NotEligible", refused
    await go("defer_at_mdtm", CTS, **SIGNED, reason="treatment history incomplete")
    await go(
        "record_work_up",
        ARD,
        completed_at=ago(protocol, 1),
        prior_treatments=eligibility_for(lupus)["prior_treatments"],
    )
    await go("approve_at_mdtm", ARD, **SIGNED)
    await go("record_consent", ARD)
    await go.to_infusion(consented=True)
    await go("record_observation", NURSE, crs={"temperature_c": 38.7, "hypotension": True})
    await go("record_observation", NURSE, crs={"temperature_c": 39.1, "oxygen": "face_mask"})

    async def icu_escalated() -> bool:
        record = await operations.record(client, handle.id)
        return any("ICU expected" in d.label and d.level >= 1 for d in record.deadlines)

    await eventually(icu_escalated, timeout=30, what="the ICU transfer escalated")
    await go("transfer_to_icu", CTS)
    await go("record_observation", NURSE, crs={"temperature_c": 36.8})
    await go("return_from_icu", CTS)
    await go.discharge()
    await go("record_visit", NURSE, visit="D7")
    await go("withdraw", ARD, reason="leaves the study, agrees to safety follow-up")
    await go("record_visit", NURSE, visit="D14")
    await go("refuse_long_term_follow_up", ARD, reason="refuses any further follow-up")
    await handle.result()
    return handle.id


async def play_preparation(client: Client, task_queue: str) -> str:
    """Preparation tasks: all but two recorded up front; the patient information task
    escalates before it is recorded; lymphodepletion waits for the pregnancy test (the
    refusal leaves no trace); then infusion, discharge and withdrawal in follow-up."""
    real = load_default_protocol(Therapy.CAR_T)
    protocol = real.compressed(seconds_per_day=0.2, floor=timedelta(seconds=2))
    handle = await operations.refer(
        client, referral("HIS-004"), task_queue=task_queue, protocol=protocol
    )
    go = Driver(client, handle.id, protocol)
    await go.prepare(skip=("pregnancy_test", "patient_information"))
    await go("record_work_up", ARD, completed_at=ago(protocol, 5), lvef_percent=60)
    await go("approve_at_mdtm", ARD, **SIGNED)

    async def escalated() -> bool:
        return (await operations.record(client, handle.id)).escalation_level >= 1

    await eventually(escalated, timeout=30, what="a task escalated")
    await go(
        "record_task", ARD, task="patient_information", details={"document": "PIS", "version": "v1"}
    )
    await go("record_consent", ARD)
    coi = "COI-HIS-004"
    for event, who, data in (
        ("record_washout", CTS, {"stopped": []}),
        ("book_apheresis", CTS, {"slot_at": ago(protocol, 0)}),
        ("record_apheresis", APH, {"coi_id": coi}),
        ("ship_to_manufacturer", TECH, {}),
        ("release_product", PHARMA, {}),
        ("ship_to_centre", PHARMA, {}),
        ("receive_product", TECH, {"bag_coi_id": coi}),
        ("clear_for_treatment", CTS, {"active_infection": False, "tocilizumab_doses_on_site": 2}),
    ):
        await go(event, who, **data)
    try:
        await go("start_lymphodepletion", NURSE)
        raise AssertionError("lymphodepletion was not refused")
    except operations.ActionRefused as err:
        assert err.kind == "PreparationTaskOpen", err
    await go("record_task", NURSE, task="pregnancy_test", details={"result": "negative"})
    await go("start_lymphodepletion", NURSE)
    await go("complete_lymphodepletion", NURSE)
    await go.once_open("thaw_product", TECH, bag_coi_id=coi)
    await go("infuse", NURSE, bag_coi_id=coi, checked_by=["n.bernard", "dr.roux"])
    await go("discharge", CTS)
    await go("withdraw", ARD, reason="the patient moved abroad")
    await handle.result()
    return handle.id


async def play_registry(client: Client, task_queue: str) -> str:
    """A full CAR-T pathway (15 years, one run per follow-up year) that records its
    preparation tasks, submits each registry form as it opens (the yearly ones one after
    the other) and records visit findings."""
    real = load_default_protocol(Therapy.CAR_T)
    protocol = real.compressed(seconds_per_day=0.02, floor=timedelta(seconds=1))
    handle = await operations.refer(
        client, referral("HIS-005"), task_queue=task_queue, protocol=protocol
    )
    go = Driver(client, handle.id, protocol)
    await go.to_consent()
    await go("submit_registry_form", ARD, form="med-a", reference="EBMT-HIS-005-A")
    await go.to_infusion(consented=True)
    await go("record_adverse_event", NURSE, kind="CRS", grade=2)
    await go("discharge", CTS)
    for form in ("day-0", "day-100", "month-6"):
        await go("submit_registry_form", ARD, form=form, reference=f"EBMT-HIS-005-{form}")
    for visit in protocol.visits:
        if visit.label == "Y2":
            await go("start_long_term_follow_up", ARD)
        findings = {"blood_counts": "normal"} if visit.label in ("D7", "M3", "Y2") else {}
        await go("record_visit", NURSE, visit=visit.label, findings=findings)
        if visit.long_term or visit.label == "M12":
            year = 1 if visit.label == "M12" else int(visit.label[1:])
            await go(
                "submit_registry_form",
                ARD,
                form=f"annual-{year}",
                reference=f"EBMT-HIS-005-Y{year}",
            )
    await go("complete_follow_up", ARD)
    await handle.result()
    return handle.id


async def play_centre_runs(
    client: Client, task_queue: str, *, centre_id: str = "his-centre"
) -> str:
    """A centre's tocilizumab count recorded until the workflow continues as new, once more
    in the new run, then ended (on a server that suggests continue-as-new early)."""
    counts = await play_centre(client, task_queue, centre_id=centre_id)
    await record_evidence(
        client,
        centre_id,
        "record_tocilizumab_stock",
        {**PHARMACIST, "evidence": {**STOCK, "doses_on_site": counts[-1] + 1}},
    )
    workflow_id = centre_workflow_id(centre_id)
    await at_rest(client, workflow_id)
    await client.get_workflow_handle(workflow_id).terminate("history recorded")
    return workflow_id


async def play_centre_lean(client: Client, task_queue: str) -> str:
    """``centre-full`` on the lean runs (patch ``centre-lean-runs``): the first run writes
    its entries to the record store (``keep_centre_records``) before continuing as new, and
    the second carries only what is open and the audit head."""
    return await play_centre_runs(client, task_queue, centre_id="his-lean-centre")


async def play_store(client: Client, task_queue: str) -> str:
    """A CAR-T pathway that writes the record store (patch ``store-record-writes``): at the
    infusion, before its follow-up year's continue-as-new, and when it closes (death)."""
    real = load_default_protocol(Therapy.CAR_T)
    protocol = real.compressed(seconds_per_day=0.02, floor=timedelta(seconds=1))
    handle = await operations.refer(
        client, referral("HIS-004"), task_queue=task_queue, protocol=protocol
    )
    go = Driver(client, handle.id, protocol)
    await go.to_infusion()
    await go("record_adverse_event", NURSE, kind="CRS", grade=2, **AE_FACTS)
    await go.discharge()
    for label in ("D7", "D14", "D28", "M3", "M6", "M12"):
        await go("record_visit", NURSE, visit=label)
    await go("start_long_term_follow_up", ARD)
    await go("record_death", ARD, reason="unrelated cardiac arrest")
    await handle.result()
    return handle.id


async def play_signed(client: Client, task_queue: str) -> str:
    """A CAR-T pathway whose actions are signed (the MDTM decision is a signature, with its
    meaning), then withdrawn."""
    real = load_default_protocol(Therapy.CAR_T)
    protocol = real.compressed(seconds_per_day=0.02, floor=timedelta(seconds=1))
    handle = await operations.refer(
        client, referral("HIS-014"), task_queue=task_queue, protocol=protocol
    )
    go = Driver(client, handle.id, protocol)
    await go("record_work_up", ARD, completed_at=ago(protocol, 1), lvef_percent=60)
    await go("approve_at_mdtm", ARD, **SIGNED)
    await go("record_consent", ARD)
    await go("withdraw", ARD, reason="the patient chose another treatment")
    await handle.result()
    return handle.id


async def play_cosigned(client: Client, task_queue: str) -> str:
    """A CAR-T pathway whose two-person actions are co-signed by the second person (the MDTM
    decision by the binôme, the bedside check at infusion: models/cosignature.py), its audit
    entries sealed by chain version 2; recorded once infused (then terminated: withdrawn
    after infusion, the pathway would stay open for its safety follow-up)."""
    real = load_default_protocol(Therapy.CAR_T)
    protocol = real.compressed(seconds_per_day=0.02, floor=timedelta(seconds=1))
    handle = await operations.refer(
        client, referral("HIS-015"), task_queue=task_queue, protocol=protocol
    )
    go = Driver(client, handle.id, protocol)
    await go.to_infusion()
    await at_rest(client, handle.id)
    await handle.terminate("history recorded")
    return handle.id


async def play_incidents(client: Client, task_queue: str) -> str:
    """The deviation log: a bag refused at receipt (an incident, nothing else changes), the
    same Update ID sent again, a quarantine, a release, then the patient withdraws."""
    protocol = load_protocol(protocol_path("msc-systemic-sclerosis")).compressed(
        seconds_per_day=0.02, floor=timedelta(seconds=5)
    )
    handle = await operations.refer(
        client,
        referral("HIS-004", therapy="msc", disease="systemic sclerosis"),
        task_queue=task_queue,
        protocol=protocol,
    )
    go = Driver(client, handle.id, protocol)
    await go.to_consent()
    await go("order_product", PHARMA, coi_id="COI-HIS-004")
    for _ in range(2):
        try:
            await operations.act(
                client,
                handle.id,
                "receive_product",
                {**TECH, "bag_coi_id": "COI-HIS-040"},
                update_id="his-004-wrong-bag",
            )
        except operations.ActionRefused:
            pass
    await go("quarantine_product", TECH, finding="shipper log gap of 20 minutes")
    await go("release_from_quarantine", TECH, bag_coi_id="COI-HIS-004")
    await go("withdraw", ARD, reason="the patient chose another treatment")
    await handle.result()
    return handle.id


async def play_centre_gate(client: Client, task_queue: str) -> str:
    """A lapse at the centre after referral: clearing is refused (an incident), the
    prerequisite is restored, clearing goes through, then the patient withdraws."""
    protocol = load_protocol(protocol_path("msc-systemic-sclerosis")).compressed(
        seconds_per_day=0.02, floor=timedelta(seconds=5)
    )
    handle = await operations.refer(
        client,
        referral("HIS-005", therapy="msc", disease="systemic sclerosis"),
        task_queue=task_queue,
        protocol=protocol,
    )
    go = Driver(client, handle.id, protocol)
    await go.to_consent()
    await go("order_product", PHARMA, coi_id="COI-HIS-005")
    await go("receive_product", TECH, bag_coi_id="COI-HIS-005")
    lead = {"actor": "dr.lead", "role": "programme_lead"}
    centre = "centre-a"

    async def ready(expected: bool) -> bool:
        status = (await operations.record(client, handle.id)).centre_status
        return status is not None and status.ready is expected

    await record_evidence(
        client,
        centre,
        "withdraw_evidence",
        {**lead, "item": "pharmacovigilance", "reason": "contact left the centre"},
    )
    await eventually(lambda: ready(False), timeout=30, what="the lapse heard")
    try:
        await go("clear_for_treatment", CTS, active_infection=False)
    except operations.ActionRefused:
        pass
    contact = {"contact": "dr.vigil", "valid_until": "2099-01-01T00:00:00Z"}
    await record_evidence(client, centre, "record_pharmacovigilance", {**lead, "evidence": contact})
    await eventually(lambda: ready(True), timeout=30, what="the renewal heard")
    await go("clear_for_treatment", CTS, active_infection=False)
    await go("withdraw", ARD, reason="the patient chose another treatment")
    await handle.result()
    return handle.id


async def play_monitoring(client: Client, task_queue: str) -> str:
    """MSC monitoring: an observation after each infusion (ended early: refused), fitness
    checked again before the second dose, then the patient withdraws in follow-up."""
    real: Protocol = load_protocol(protocol_path("msc-lupus-repeated"))
    protocol = real.compressed(seconds_per_day=0.5, floor=timedelta(seconds=2))
    handle = await operations.refer(
        client, referral("HIS-006", therapy="msc"), task_queue=task_queue, protocol=protocol
    )
    go = Driver(client, handle.id, protocol)
    coi = "COI-HIS-006"
    await go.to_msc_infusion(coi)
    try:
        await go("end_observation", NURSE)
    except operations.ActionRefused:
        pass
    await go.end_observation()
    await go("clear_for_treatment", CTS, active_infection=False)
    opens = (protocol.infusions.interval - protocol.infusions.interval_tolerance).total_seconds()
    await once_window_opens(lambda: go("thaw_product", TECH, bag_coi_id=coi), timeout=opens + 10)
    await go("infuse", NURSE, bag_coi_id=coi, checked_by=["n.bernard", "dr.roux"])
    await go.end_observation()
    await go("withdraw", ARD, reason="the patient moved abroad")
    await handle.result()
    return handle.id


SCENARIOS = {
    "cart-full": play_cart,
    "msc-full": play_msc,
    "cart-escalations": play_escalations,
    "centre-full": play_centre_runs,
    "safety-cart": play_safety,
    "identity-signed": play_signed,
    "cosign-cart": play_cosigned,
    "preparation-tasks": play_preparation,
    "preparation-registry": play_registry,
    "deviations-incidents": play_incidents,
    "deviations-centre-gate": play_centre_gate,
    "deviations-monitoring": play_monitoring,
    "eligibility-full": play_eligibility,
    "store-cart": play_store,
    "lean-cart": play_cart,
    "centre-lean": play_centre_lean,
    "lean2-cart": play_cart,
}
# Scenarios that need the server to suggest continue-as-new early (tests/centre_driver.py).
SHORT_HISTORY = {"centre-full", "centre-lean"}
# Scenarios played with verified identities (a signing client, a worker with a key ring).
SIGNED_SCENARIOS = {"identity-signed", "cosign-cart"}


async def write_runs(client: Client, workflow_id: str, name: str, out: Path) -> list[Path]:
    written = []
    for index, run_id in enumerate(await runs_of(client, workflow_id), start=1):
        history = await client.get_workflow_handle(workflow_id, run_id=run_id).fetch_history()
        path = out / f"{name}-run{index:02d}.json"
        path.write_text(history.to_json(), encoding="utf-8")
        written.append(path)
    return written


async def main(out: Path, only: str | None = None) -> None:
    # The workers write the record store: a throwaway one, never a developer's .cellpath/.
    url = "sqlite:///" + str(Path(tempfile.mkdtemp(prefix="histories-records-")) / "records.db")
    os.environ["CELLPATH_DATABASE_URL"] = url
    store.upgrade(url)
    version = (out / "VERSION").read_text().strip() if (out / "VERSION").exists() else "v1"
    wanted = [name for name in SCENARIOS if only in (None, name)]
    for short in (False, True):
        for signed in (False, True):
            names = [
                name
                for name in wanted
                if (name in SHORT_HISTORY) == short and (name in SIGNED_SCENARIOS) == signed
            ]
            if names:
                kind = ShortHistoryServer if short else DevServer
                await record(out, version, names, kind, signed=signed)
    write_protocols(url, out / PROTOCOLS)


def write_protocols(url: str, out: Path) -> None:
    """Every protocol version of the store at ``url`` not in ``out`` yet, one JSON file each."""
    engine = store.make_engine(url)
    reader = store.RecordReader(engine, Sealer(None))
    out.mkdir(exist_ok=True)
    try:
        with engine.connect() as conn:
            rows = conn.execute(select(protocol_versions.c.content_hash)).all()
        for (digest,) in rows:
            path = out / f"{digest}.json"
            version = reader.protocol_version(digest)
            if version is not None and not path.exists():
                path.write_text(json.dumps(version.body, sort_keys=True, indent=1) + "\n")
                print(f"wrote {path}")
    finally:
        engine.dispose()


async def record(
    out: Path, version: str, names: list[str], kind: type[DevServer], *, signed: bool = False
) -> None:
    server = kind(port=free_port())
    server.start()
    try:
        await server.wait_ready()
        client = await Client.connect(
            server.address,
            data_converter=pydantic_data_converter,
            interceptors=[SigningInterceptor()] if signed else [],
        )
        task_queue = f"histories-{uuid.uuid4()}"
        async with build_worker(client, task_queue, actor_keys=TEST_SIGNERS if signed else None):
            await load_centres(client, task_queue)
            for scenario in names:
                workflow_id = await SCENARIOS[scenario](client, task_queue)
                for path in await write_runs(client, workflow_id, f"{scenario}-{version}", out):
                    print(
                        f"wrote {path.relative_to(Path.cwd()) if path.is_relative_to(Path.cwd()) else path}"
                    )
    finally:
        server.stop()


if __name__ == "__main__":
    args = sys.argv[1:]
    only = None
    if "--only" in args:
        at = args.index("--only")
        only = args[at + 1]
        del args[at : at + 2]
        if only not in SCENARIOS:
            sys.exit(f"--only takes one of {', '.join(SCENARIOS)}")
    asyncio.run(main(Path(args[0]) if args else HERE, only))
