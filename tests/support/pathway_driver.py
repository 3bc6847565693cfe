"""Drives pathways through the real workflow in tests: referrals and staff actions."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from temporalio.client import Client

from client import pathways as operations
from devtools.demo import PEOPLE
from devtools.demo_answers import CONSENTED, FIT, SIGNED, resolve
from devtools.demo_eligibility import eligibility_for, no_exclusions
from models.pathway import ActionReceipt
from models.preparation import PreparationTask
from models.protocol import Protocol
from models.referral import Binome, Referral
from tests.support.waiting import once_window_opens

#: Hour-scale windows on a compressed clock (thaw to infusion: 90 min) last this long, so
#: that the next action arrives in time on a loaded two-core machine (at 1 s, an infusion
#: sent right after the thaw was once too late).
HOUR_SCALE = timedelta(seconds=5)


#: why a thaw comes after the usual window on a compressed clock (Driver.thaw)
LATE_ON_TEST_CLOCK = "binôme: counts recovered, no infection; proceed (compressed test clock)"


def fast(protocol: Protocol, *, seconds_per_day: float = 0.02) -> Protocol:
    """A whole pathway in seconds, hour-scale windows at ``HOUR_SCALE``."""
    return protocol.compressed(seconds_per_day=seconds_per_day, floor=HOUR_SCALE)


# The demo programme's synthetic staff (devtools/demo.py), by the role they act in.
ARD, CTS, NURSE = PEOPLE["ard"], PEOPLE["cts"], PEOPLE["nurse"]
APH, TECH, PHARMA = PEOPLE["aph"], PEOPLE["tech"], PEOPLE["pharma"]


# The ICD-10 code of each disease the tests refer for (protocols list them).
ICD10 = {"systemic lupus erythematosus": "M32.1", "systemic sclerosis": "M34.0"}


def referral(
    pseudonym: str, therapy: str = "car-t", centre: str = "centre-a", **kw: Any
) -> Referral:
    disease = kw.pop("disease", "systemic lupus erythematosus")
    kw.setdefault("icd10", ICD10.get(disease))
    # A score and treatments tried that meet the protocol's eligibility rules.
    kw = {**eligibility_for(disease), **kw}
    return Referral(
        pseudonym=pseudonym,
        centre=centre,
        therapy=therapy,  # type: ignore[arg-type]
        disease=disease,
        age_band="30-39",
        binome=Binome(ard_specialist="dr.martin", cell_therapy_specialist="dr.roux"),
        referred_by="dr.martin",
        **kw,
    )


def signed(protocol: Protocol) -> dict[str, Any]:
    """An MDTM decision's details (signatures, meeting, attendees), dated now."""
    return dict(resolve(SIGNED, protocol))


def ago(protocol: Protocol, days: float) -> str:
    """A clinical date ``days`` protocol-days ago, on the protocol's (compressed) clock."""
    seconds = days * 86400 * protocol.time_scale
    return (datetime.now(UTC) - timedelta(seconds=seconds) - timedelta(seconds=0.5)).isoformat()


def task_details(task: PreparationTask) -> dict[str, str]:
    """Details that complete ``task``: an accepted value, or a document reference."""
    return {f: (task.accept.get(f) or [f"{f}-1"])[0] for f in task.fields}


class Driver:
    def __init__(self, client: Client, pathway_id: str, protocol: Protocol):
        self.client = client
        self.pathway_id = pathway_id
        self.protocol = protocol

    async def __call__(self, event: str, who: dict[str, str], **data: Any) -> ActionReceipt:
        # Dates written Ago(n) (devtools/demo.py) are taken on this pathway's clock, now.
        data = resolve(data, self.protocol)
        if event == "record_work_up":
            # The exclusion checklist answered "absent" unless the test answers it.
            data.setdefault("exclusions", no_exclusions(self.protocol))
        return await operations.act(self.client, self.pathway_id, event, {**who, **data})

    async def once_open(self, event: str, who: dict[str, str], **data: Any) -> ActionReceipt:
        """The action, sent again while the workflow refuses it because its window (on the
        protocol's compressed clock) has not opened yet."""
        window = self.protocol.windows.infusion_after_lymphodepletion_min.total_seconds()
        return await once_window_opens(lambda: self(event, who, **data), timeout=window + 10)

    async def thaw(self, coi: str) -> ActionReceipt:
        """Thaw the bag once the lymphodepletion-to-infusion window opens. On the
        whole-pathway clock the window's 14 days last 0.28 s, which a loaded machine can
        miss: the thaw is then sent again with the justification a binôme would give (the
        late refusal stays in the incident log), as the protocol allows."""

        async def attempt() -> ActionReceipt:
            try:
                return await self("thaw_product", TECH, bag_coi_id=coi)
            except operations.ActionRefused as refused:
                if refused.kind != "OutsideWindow" or "late_justification" not in refused.message:
                    raise
                return await self(
                    "thaw_product", TECH, bag_coi_id=coi, late_justification=LATE_ON_TEST_CLOCK
                )

        window = self.protocol.windows.infusion_after_lymphodepletion_min.total_seconds()
        return await once_window_opens(attempt, timeout=window + 10)

    async def discharge(self) -> ActionReceipt:
        """Discharge once the protocol's monitoring after infusion is over (compressed clock:
        sent again while it is refused under that rule)."""
        stay = self.protocol.windows.monitoring_before_discharge
        wait = stay.total_seconds() if stay is not None else 0.0
        return await once_window_opens(
            lambda: self("discharge", CTS), timeout=wait + 10, rule="MonitoringPeriodNotOver"
        )

    async def end_observation(self) -> ActionReceipt:
        """End the observation after an MSC infusion once the protocol's period is over."""
        period = self.protocol.infusions.observation
        wait = period.total_seconds() if period is not None else 0.0
        return await once_window_opens(
            lambda: self("end_observation", NURSE),
            timeout=wait + 10,
            rule="MonitoringPeriodNotOver",
        )

    async def prepare(self, *, skip: tuple[str, ...] = ()) -> None:
        """Record every preparation task of the protocol (but ``skip``), as a care team
        would before their milestones: no task deadline is armed, no step is gated."""
        for task in self.protocol.preparation:
            if task.met_by is None and task.key not in skip:
                await self("record_task", ARD, task=task.key, details=task_details(task))

    async def to_consent(self) -> None:
        await self.prepare()
        await self(
            "record_work_up", ARD, completed_at=ago(self.protocol, 10), lvef_percent=60, egfr=90
        )
        await self("approve_at_mdtm", ARD, **SIGNED)
        await self("record_consent", ARD, **CONSENTED)

    async def to_msc_infusion(self, coi: str) -> ActionReceipt:
        """From referral to the first infusion of a two-dose MSC product (then, when the
        protocol sets one, the observation after it)."""
        await self.to_consent()
        await self("order_product", PHARMA, coi_id=coi, doses=2)
        await self("receive_product", TECH, bag_coi_id=coi, temperature_log_ok=True)
        await self("clear_for_treatment", CTS, **FIT)
        await self("thaw_product", TECH, bag_coi_id=coi)
        return await self("infuse", NURSE, bag_coi_id=coi, checked_by=["n.bernard", "dr.roux"])

    async def to_infusion(self, *, consented: bool = False) -> None:
        """From referral (or consent) to D0 (on a compressed protocol: this waits the real
        windows)."""
        coi = f"COI-{self.pathway_id[-7:]}"
        if not consented:
            await self.to_consent()
        await self("record_washout", CTS, stopped=[], treatments=["none"])
        await self("book_apheresis", CTS, slot_at=datetime.now(UTC).isoformat())
        await self("record_apheresis", APH, coi_id=coi)
        await self("ship_to_manufacturer", TECH)
        await self("release_product", PHARMA, lot=f"LOT-{coi}")
        await self("ship_to_centre", PHARMA)
        await self("receive_product", TECH, bag_coi_id=coi, temperature_log_ok=True)
        await self("clear_for_treatment", CTS, **FIT, tocilizumab_doses_on_site=2)
        await self("start_lymphodepletion", NURSE)
        await self("complete_lymphodepletion", NURSE)
        await self.thaw(coi)
        await self("infuse", NURSE, bag_coi_id=coi, checked_by=["n.bernard", "dr.roux"])
