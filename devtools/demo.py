"""The demo programme: twenty synthetic patients (``demo_cases.csv``) in different phases.

Each case plays a short script of staff actions on a compressed protocol (one protocol day
lasts ``Settings.demo_seconds_per_day`` seconds), so deadlines fall due and escalate within
minutes while someone watches the Web UI. Seeding is idempotent: a pathway that already
exists (open or closed) is left as it is.

The two demo centres (``centres/``) are loaded first, on the same clock: centre-a is ready
for CAR-T and MSC; centre-b has no ICU access agreement (so LUP-005's CAR-T referral there is
refused and re-referred to centre-a) and an accreditation that lapses a few minutes in:
SSC-005, cleared for its MSC infusion there, is then blocked (thaw and infusion refused,
each refusal an incident) until the accreditation is renewed.

On the dev stack the demo staff act as service accounts (``signers``: one local account per
role, signin/dev_stack.py): every action carries a verified identity like anyone else's, and
a two-person action the co-signature of the other person it names.
"""

from __future__ import annotations

import asyncio
import csv
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta
from importlib import resources
from typing import Any

import structlog
from temporalio.client import Client

from client import pathways
from client.centres import load_centres
from client.errors import ActionRefused, OperationError
from client.signing import ActionSigner, cosigner_among
from devtools.demo_answers import CONSENTED, FIT, HOSPITALISED, SIGNED, Ago, resolve
from devtools.demo_eligibility import GRADE_2_CRS, HISTORY, TREATED, answered, referral_facts
from devtools.demo_preparation import recorded_tasks
from models.protocol import Protocol, Therapy
from models.referral import Binome, Referral

log = structlog.get_logger("cellpath.demo")

# Hour-long clinical windows (thaw to infusion) stay long enough to play out on screen.
DEMO_FLOOR = timedelta(seconds=5)
# The MSC observation after infusion (2 h, raised to DEMO_FLOOR on a compressed clock) is
# over after two protocol days on any demo clock of 3 s a day or more.
OBSERVATION_DAYS = 2.0

PEOPLE = {
    "ard": {"actor": "dr.martin", "role": "ard_specialist"},
    "cts": {"actor": "dr.roux", "role": "cell_therapy_specialist"},
    "nurse": {"actor": "n.bernard", "role": "nurse"},
    "aph": {"actor": "n.petit", "role": "apheresis_nurse"},
    "tech": {"actor": "t.moreau", "role": "ctu_technician"},
    "pharma": {"actor": "p.laurent", "role": "pharmacist"},
}


@dataclass(frozen=True)
class Step:
    event: str
    who: str
    data: dict[str, Any] = field(default_factory=dict)
    refused: bool = False  # the demo shows a refusal: the pathway must not move
    wait_days: float = 0.0  # protocol days to wait before the step


def S(event: str, who: str, refused: bool = False, wait_days: float = 0.0, **data: Any) -> Step:
    return Step(event, who, data, refused, wait_days)


def selection(work_up_days: float) -> list[Step]:
    return [
        S("record_work_up", "ard", completed_at=Ago(work_up_days), lvef_percent=60, egfr=90),
        S("approve_at_mdtm", "ard", **SIGNED),
        S("record_consent", "ard", **CONSENTED),
    ]


def prepared(therapy: Therapy, *, skip: tuple[str, ...] = ()) -> list[Step]:
    """The preparation tasks recorded by the care coordinator's side (devtools/demo_preparation.py)."""
    return [
        S("record_task", "nurse", task=key, details=details)
        for key, details in recorded_tasks(therapy, skip=skip)
    ]


def cart_product(coi: str) -> list[Step]:
    return [
        S("record_washout", "cts", stopped=[], treatments=["none"]),
        S("book_apheresis", "cts", slot_at=Ago(0)),
        S("record_apheresis", "aph", coi_id=coi),
        S("ship_to_manufacturer", "tech"),
        S("release_product", "pharma", lot=f"LOT-{coi}"),
        S("ship_to_centre", "pharma"),
        S(
            "receive_product",
            "tech",
            bag_coi_id=coi,
            temperature_log_ok=True,
            storage_location="LN2-TANK-2",
        ),
    ]


def cart_treatment(coi: str) -> list[Step]:
    return [
        S("clear_for_treatment", "cts", **FIT, tocilizumab_doses_on_site=2),
        S("start_lymphodepletion", "nurse"),
        S("complete_lymphodepletion", "nurse"),
        S("thaw_product", "tech", wait_days=2.2, bag_coi_id=coi),
        S("infuse", "nurse", bag_coi_id=coi, checked_by=["n.bernard", "dr.roux"]),
    ]


def msc_to_infusion(coi: str) -> list[Step]:
    """Order, receive, clear, thaw, infuse, then the observation after the infusion (the
    protocol's 2 hours, DEMO_FLOOR on the demo's clock)."""
    return [
        S("order_product", "pharma", coi_id=coi),
        S("receive_product", "tech", bag_coi_id=coi, temperature_log_ok=True),
        S("clear_for_treatment", "cts", **FIT),
        S("thaw_product", "tech", bag_coi_id=coi),
        S("infuse", "nurse", bag_coi_id=coi, checked_by=["n.bernard", "dr.roux"]),
        S("end_observation", "nurse", wait_days=OBSERVATION_DAYS),
    ]


def stay_then_discharge() -> list[Step]:
    """The CAR-T stay: D7 recorded during it, discharge once the protocol's 10 days of
    monitoring are over."""
    return [
        S("record_visit", "nurse", wait_days=7, visit="D7"),
        S("discharge", "cts", wait_days=3.1),
    ]


def visits(*labels: str) -> list[Step]:
    return [S("record_visit", "nurse", visit=label) for label in labels]


def script(pseudonym: str, therapy: Therapy, work_up_days: float) -> list[Step]:
    """The staff actions that bring a case to the point its scenario shows."""
    coi = f"COI-{pseudonym}"
    sel = selection(work_up_days)
    if therapy is Therapy.MSC:
        scripts_msc: dict[str, list[Step]] = {
            "SSC-002": [*sel, *prepared(therapy), *msc_to_infusion(coi)],
            "SSC-003": [*sel, S("order_product", "pharma", coi_id=coi)],
            "LUP-004": [*sel, *prepared(therapy), *msc_to_infusion(coi)],
            "MYO-003": [S("hold", "ard", reason="intercurrent infection during work-up")],
            # Cleared for infusion at centre-b, whose accreditation lapses a few minutes in:
            # from then on thaw and infusion are refused until it is renewed.
            "SSC-005": [*sel, *prepared(therapy), *msc_to_infusion(coi)[:3]],
            "VAS-004": [
                *sel,
                *prepared(therapy),
                *msc_to_infusion(coi),
                *visits("M3"),
                S("record_death", "ard", reason="unrelated cause"),
            ],
        }
        return scripts_msc.get(pseudonym, sel[:1])
    prep = prepared(therapy)
    full = [*sel, *prep, *cart_product(coi), *cart_treatment(coi)]
    scripts: dict[str, list[Step]] = {
        # D7 falls during the protocol's 10 days of monitoring: recorded during the stay.
        "LUP-001": [
            *full,
            # MED-A submitted; its day-0 form and the others are left to fall due (overdue).
            S("submit_registry_form", "ard", form="med-a", reference="EBMT-DEMO-0001"),
            *stay_then_discharge(),
            *visits("D14"),
        ],
        "LUP-002": [sel[0], S("approve_at_mdtm", "ard", refused=True, **SIGNED)],
        "LUP-003": [
            sel[0],
            S("approve_at_mdtm", "ard", refused=True, **SIGNED),  # one immunosuppressant tried
            S("defer_at_mdtm", "cts", reason="echocardiography missing", **SIGNED),
            S("record_work_up", "ard", completed_at=Ago(2), lvef_percent=58, egfr=85, **HISTORY),
            *sel[1:],
        ],
        "SSC-001": [
            *full,
            S("record_observation", "nurse", crs=GRADE_2_CRS),  # binôme and ICU informed
            S("record_observation", "nurse", wait_days=0.5, crs=TREATED),
        ],
        "MYO-001": [
            *sel,
            *prep,
            *cart_product(coi)[:4],
            S("report_out_of_specification", "pharma", finding="viability below spec"),
            S("book_apheresis", "cts", slot_at=Ago(0)),
        ],
        "MYO-002": [
            *sel,
            *prepared(therapy, skip=("pregnancy_test",)),
            *cart_product(coi),
            cart_treatment(coi)[0],
            # The pregnancy test is not recorded: lymphodepletion waits for it.
            S("start_lymphodepletion", "nurse", refused=True),
            S("record_task", "nurse", task="pregnancy_test", details={"result": "negative"}),
            *cart_treatment(coi)[1:3],
            S("record_fever", "nurse", temperature_c=38.6),
            # Fever after lymphodepletion: thawing (then infusion) waits 48 h afebrile.
            S("thaw_product", "tech", refused=True, wait_days=0.5, bag_coi_id=coi),
        ],
        "VAS-001": [
            *full,
            S("record_observation", "nurse", icans={"ice_score": 2}),  # ICANS 3: to ICU
            S("transfer_to_icu", "cts"),
        ],
        "VAS-002": [*sel, S("withdraw", "ard", reason="consent withdrawn by the patient")],
        "LUP-005": [
            *sel,
            *prep,
            S(
                "record_washout",
                "cts",
                stopped=[{"drug": "mycophenolate mofetil", "stopped_at": Ago(9)}],
                treatments=["mycophenolate mofetil", "hydroxychloroquine"],
            ),
            S("book_apheresis", "cts", refused=True, slot_at=Ago(0)),
        ],
        "SSC-004": [
            *sel,
            *prep,
            *cart_product(coi)[:6],
            S(
                "receive_product",
                "tech",
                refused=True,
                bag_coi_id="COI-XXX-000",
                temperature_log_ok=True,
            ),
            S("quarantine_product", "tech", finding="bag identifier mismatch"),
        ],
        "VAS-003": [*full, *stay_then_discharge(), *visits("D14", "D28")],
        "LUP-006": [
            *full,
            *stay_then_discharge(),
            *visits("D14"),
            S("record_adverse_event", "nurse", kind="infection", grade=3, **HOSPITALISED),
        ],
        "MYO-004": [
            sel[0],
            S("reject_at_mdtm", "cts", reason="LVEF below protocol threshold", **SIGNED),
        ],
        "LUP-007": [
            *full,
            *stay_then_discharge(),
            *visits("D14", "D28", "M3", "M6", "M12"),
            S("start_long_term_follow_up", "ard"),
            *visits("Y2", "Y3"),
        ],
    }
    return scripts.get(pseudonym, sel[:1])


# LUP-005: the CAR-T referral to centre-b (no ICU access agreement) is refused, and the
# patient re-referred to centre-a, where the pathway runs.
REREFERRED = {"LUP-005": "centre-a"}


@dataclass
class Case:
    pseudonym: str
    centre: str  # where the pathway runs
    therapy: Therapy
    disease: str
    icd10: str | None
    orpha: str | None
    age_band: str
    work_up_days: float
    scenario: str
    refused_at: str | None = None  # referred there first, and refused (centre not ready)

    def referral(self, protocol: Protocol | None, centre: str | None = None) -> Referral:
        return Referral(
            pseudonym=self.pseudonym,
            centre=centre or self.centre,
            therapy=self.therapy,
            disease=self.disease,
            icd10=self.icd10,
            orpha=self.orpha,
            age_band=self.age_band,
            **referral_facts(self.pseudonym, self.disease),
            binome=Binome(ard_specialist="dr.martin", cell_therapy_specialist="dr.roux"),
            referred_by="dr.martin",
            protocol_id=protocol.id if protocol else None,
        )


def load_cases() -> list[Case]:
    text = resources.files("devtools").joinpath("demo_cases.csv").read_text(encoding="utf-8")
    return [
        Case(
            pseudonym=row["pseudonym"],
            centre=REREFERRED.get(row["pseudonym"], row["centre"]),
            therapy=Therapy(row["therapy"]),
            disease=row["disease"],
            icd10=row["icd10"] or None,
            orpha=row["orpha"] or None,
            age_band=row["age_band"],
            work_up_days=float(row["work_up_days_before_mdtm"]),
            scenario=row["scenario"],
            refused_at=row["centre"] if row["pseudonym"] in REREFERRED else None,
        )
        for row in csv.DictReader(text.splitlines())
    ]


def demo_protocol(case: Case, seconds_per_day: float) -> Protocol:
    """The protocol the case's therapy and disease codes match, on the demo's clock."""
    base = pathways.protocol_for(case.referral(None))
    return base.compressed(seconds_per_day=seconds_per_day, floor=DEMO_FLOOR)


async def seed_case(
    client: Client,
    case: Case,
    task_queue: str,
    seconds_per_day: float,
    signers: dict[str, ActionSigner] | None = None,
) -> str:
    protocol = demo_protocol(case, seconds_per_day)
    centres = ([case.refused_at] if case.refused_at else []) + [case.centre]
    for centre in centres:
        if await pathways.exists(client, case.referral(protocol, centre).pathway_id):
            return "exists"
    for centre in centres:
        referral = case.referral(protocol, centre)
        try:
            await pathways.refer(client, referral, task_queue=task_queue, protocol=protocol)
            break
        except ActionRefused as err:
            if err.kind != "CentreNotReady" or centre == centres[-1]:
                raise
            log.info(
                "demo refusal shown",
                pseudonym=case.pseudonym,
                centre=centre,
                kind=err.kind,
                reason=err.message,
            )
    for step in script(case.pseudonym, case.therapy, case.work_up_days):
        if step.wait_days:
            await asyncio.sleep(step.wait_days * 86400 * protocol.time_scale)
        data = {**PEOPLE[step.who], **resolve(step.data, protocol)}
        data = {**answered(step.event, protocol), **data}
        try:
            signer = (signers or {}).get(data["actor"])
            cosigner = cosigner_among(step.event, data, signers or {})
            await pathways.act(
                client, referral.pathway_id, step.event, data, signer=signer, cosigner=cosigner
            )
        except ActionRefused as err:
            if not step.refused:
                log.warning(
                    "demo step refused",
                    pathway_id=referral.pathway_id,
                    action=step.event,
                    reason=err.message,
                )
                return "stopped early"
            log.info(
                "demo refusal shown",
                pathway_id=referral.pathway_id,
                action=step.event,
                reason=err.message,
            )
    return "seeded"


async def seed_demo(
    client: Client,
    task_queue: str,
    seconds_per_day: float,
    progress: Callable[[Case, str], None] | None = None,
    signers: dict[str, ActionSigner] | None = None,
) -> dict[str, str]:
    cases = load_cases()
    centres = await load_centres(client, task_queue, seconds_per_day=seconds_per_day)
    log.info("demo centres", **centres)

    async def one(case: Case) -> tuple[str, str]:
        try:
            result = await seed_case(client, case, task_queue, seconds_per_day, signers)
        except OperationError as err:
            # One case that cannot be seeded must not stop the demo programme.
            log.warning("demo case not seeded", pseudonym=case.pseudonym, reason=err.message)
            result = "failed"
        if progress:
            progress(case, result)
        return case.pseudonym, result

    return dict(await asyncio.gather(*(one(c) for c in cases)))
