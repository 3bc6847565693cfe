"""Staff actions on a centre: what each evidence Update carries, who may send it, and
which evidence the centre refuses.

Every centre Update is named after what is recorded (``record_icu_access``,
``record_training``…, ``withdraw_evidence``) and carries a ``CentreAction``: who acts, in
which role, why, and the evidence. ``CENTRE_ROLE_MATRIX`` says which roles may send each
event; ``check_evidence`` refuses evidence already out of date, dated in the future, or
naming nothing on file with a ``CentreRefusal`` whose ``rule`` (``EvidenceExpired``,
``EvidenceInconsistent``, ``UnknownEvidence``) is the ApplicationError type callers see.

Usage::

    action = parse_centre_action("record_icu_access", {"actor": …, "role": …, "evidence": {…}})
    check_evidence(centre, "record_icu_access", action, now)   # raises CentreRefusal
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from pydantic import BaseModel, StringConstraints

from models.actions import StaffAction, Text
from models.evidence import (
    Accreditation,
    CellTherapyUnit,
    Centre,
    Evidence,
    Facility,
    Pharmacovigilance,
    Registry,
    StaffTraining,
    TocilizumabStock,
    TrialQualification,
    when_text,
)
from models.protocol import Therapy
from models.refusals import Refusal
from models.roles import Role

#: an evidence item's key, as ``Centre.items()`` names it (``icu_access``, ``trial:T-1``…)
ItemKey = Annotated[
    str,
    StringConstraints(strip_whitespace=True, max_length=140, pattern=r"^[a-z_]+(:[\w.@' /-]+)*$"),
]


class CentreAction(StaffAction):
    """Who records evidence, in which role, and why. Every centre update extends this."""


class RecordEvidence(CentreAction):
    evidence: Evidence


class RecordAccreditation(RecordEvidence):
    evidence: Accreditation


class RecordTrial(RecordEvidence):
    evidence: TrialQualification


class RecordFacility(RecordEvidence):
    evidence: Facility


class RecordCellTherapyUnit(RecordEvidence):
    evidence: CellTherapyUnit


class RecordTocilizumab(RecordEvidence):
    evidence: TocilizumabStock


class RecordTraining(RecordEvidence):
    evidence: StaffTraining


class RecordPharmacovigilance(RecordEvidence):
    evidence: Pharmacovigilance


class RecordRegistry(RecordEvidence):
    evidence: Registry


class WithdrawEvidence(CentreAction):
    item: ItemKey
    reason: Text


CENTRE_EVENTS: dict[str, type[CentreAction]] = {
    "record_accreditation": RecordAccreditation,
    "record_trial": RecordTrial,
    "record_apheresis_unit": RecordFacility,
    "record_cell_therapy_unit": RecordCellTherapyUnit,
    "record_atmp_pharmacy": RecordFacility,
    "record_icu_access": RecordFacility,
    "record_neurology": RecordFacility,
    "record_tocilizumab_stock": RecordTocilizumab,
    "record_training": RecordTraining,
    "record_pharmacovigilance": RecordPharmacovigilance,
    "record_registry": RecordRegistry,
    "withdraw_evidence": WithdrawEvidence,
}

_LEAD = frozenset({Role.PROGRAMME_LEAD})
CENTRE_ROLE_MATRIX: dict[str, frozenset[Role]] = {
    "record_accreditation": _LEAD,
    "record_trial": _LEAD | {Role.CELL_THERAPY_SPECIALIST},
    "record_apheresis_unit": _LEAD | {Role.CELL_THERAPY_SPECIALIST},
    "record_cell_therapy_unit": _LEAD | {Role.CELL_THERAPY_SPECIALIST, Role.CTU_TECHNICIAN},
    "record_atmp_pharmacy": _LEAD | {Role.PHARMACIST},
    "record_icu_access": _LEAD,
    "record_neurology": _LEAD,
    "record_tocilizumab_stock": _LEAD | {Role.PHARMACIST},
    "record_training": _LEAD | {Role.CELL_THERAPY_SPECIALIST},
    "record_pharmacovigilance": _LEAD | {Role.PHARMACOVIGILANCE_OFFICER},
    "record_registry": _LEAD | {Role.PHARMACOVIGILANCE_OFFICER},
    "withdraw_evidence": _LEAD,
}


def parse_centre_action(event: str, data: Any) -> CentreAction:
    """Validate ``data`` as the payload of ``event`` (raises KeyError / ValidationError)."""
    model = CENTRE_EVENTS[event]
    if isinstance(data, model):
        return data
    if isinstance(data, BaseModel):
        data = data.model_dump()
    return model.model_validate(data)


class CentreRefusal(Refusal):
    """Evidence the centre does not accept; ``rule`` is the ApplicationError type."""


def check_evidence(centre: Centre, event: str, action: CentreAction, now: datetime) -> None:
    """Refuse evidence that is already out of date or contradicts itself (pure)."""
    if isinstance(action, WithdrawEvidence):
        if centre.item(action.item) is None:
            keys = ", ".join(i.key for i in centre.items()) or "none"
            raise CentreRefusal(
                f"{centre.id} has no evidence '{action.item}' to withdraw (on file: {keys}).",
                rule="UnknownEvidence",
            )
        return
    if not isinstance(action, RecordEvidence):
        return
    evidence = action.evidence
    if evidence.valid_until <= now:
        raise CentreRefusal(
            f"This evidence was valid until {when_text(evidence.valid_until)}, which is past: "
            "record current evidence with its new expiry or review date.",
            rule="EvidenceExpired",
        )
    started = None
    if isinstance(evidence, TrialQualification):
        started = ("site initiation", evidence.site_initiated_on)
    elif isinstance(evidence, StaffTraining):
        started = ("training", evidence.trained_on)
    if started is not None:
        what, moment = started
        if moment > now:
            raise CentreRefusal(
                f"The {what} date {when_text(moment)} is in the future.",
                rule="EvidenceInconsistent",
            )
        if moment >= evidence.valid_until:
            raise CentreRefusal(
                f"The {what} date {when_text(moment)} is not before its expiry "
                f"{when_text(evidence.valid_until)}.",
                rule="EvidenceInconsistent",
            )


class EvidenceReceipt(BaseModel):
    """What an evidence Update answers: the item it filled and the readiness it left."""

    centre: str
    event: str
    item: str
    seq: int
    at: datetime
    duplicate: bool = False
    ready: dict[Therapy, bool] = {}
