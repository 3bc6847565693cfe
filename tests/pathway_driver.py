"""Drives pathways through the real workflow in tests: referrals and staff actions."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from temporalio.client import Client

from cli import operations
from models.pathway import ActionReceipt
from models.protocol import Protocol
from models.referral import Binome, Referral

ARD = {"actor": "dr.martin", "role": "ard_specialist"}
CTS = {"actor": "dr.roux", "role": "cell_therapy_specialist"}
NURSE = {"actor": "n.bernard", "role": "nurse"}
APH = {"actor": "n.petit", "role": "apheresis_nurse"}
TECH = {"actor": "t.moreau", "role": "ctu_technician"}
PHARMA = {"actor": "p.laurent", "role": "pharmacist"}
SIGNED = {"ard_specialist": "dr.martin", "cell_therapy_specialist": "dr.roux"}


def referral(
    pseudonym: str, therapy: str = "car-t", centre: str = "centre-a", **kw: Any
) -> Referral:
    return Referral(
        pseudonym=pseudonym,
        centre=centre,
        therapy=therapy,  # type: ignore[arg-type]
        disease=kw.pop("disease", "systemic lupus erythematosus"),
        age_band="30-39",
        binome=Binome(ard_specialist="dr.martin", cell_therapy_specialist="dr.roux"),
        referred_by="dr.martin",
        **kw,
    )


def ago(protocol: Protocol, days: float) -> str:
    """A clinical date ``days`` protocol-days ago, on the protocol's (compressed) clock."""
    seconds = days * 86400 * protocol.time_scale
    return (datetime.now(UTC) - timedelta(seconds=seconds) - timedelta(seconds=0.5)).isoformat()


class Driver:
    def __init__(self, client: Client, pathway_id: str, protocol: Protocol):
        self.client = client
        self.pathway_id = pathway_id
        self.protocol = protocol

    async def __call__(self, event: str, who: dict[str, str], **data: Any) -> ActionReceipt:
        return await operations.act(self.client, self.pathway_id, event, {**who, **data})

    async def to_consent(self) -> None:
        await self("record_work_up", ARD, completed_at=ago(self.protocol, 10), lvef_percent=60)
        await self("approve_at_mdtm", ARD, **SIGNED)
        await self("record_consent", ARD)
