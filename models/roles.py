"""The people of a cell-therapy programme, and who may do what (the role matrix).

The matrix is data: ``ROLE_MATRIX[event]`` lists the roles that may send a staff action.
Two-person rules (MDTM binôme, bedside chain-of-identity check) are enforced by the chart
guards on the *people* named in the action, not by roles.
"""

from __future__ import annotations

from enum import StrEnum


class Role(StrEnum):
    REFERRING_PHYSICIAN = "referring_physician"
    ARD_SPECIALIST = "ard_specialist"
    CELL_THERAPY_SPECIALIST = "cell_therapy_specialist"
    CARE_COORDINATOR = "care_coordinator"
    APHERESIS_NURSE = "apheresis_nurse"
    CTU_TECHNICIAN = "ctu_technician"
    PHARMACIST = "pharmacist"
    NURSE = "nurse"
    PROGRAMME_LEAD = "programme_lead"
    PHARMACOVIGILANCE_OFFICER = "pharmacovigilance_officer"
    ICU_ON_CALL = "icu_on_call"

    @property
    def label(self) -> str:
        return _LABELS[self]


_LABELS = {
    Role.REFERRING_PHYSICIAN: "referring physician",
    Role.ARD_SPECIALIST: "autoimmune-disease specialist",
    Role.CELL_THERAPY_SPECIALIST: "cell-therapy specialist",
    Role.CARE_COORDINATOR: "care coordinator",
    Role.APHERESIS_NURSE: "apheresis nurse",
    Role.CTU_TECHNICIAN: "cell-therapy unit technician",
    Role.PHARMACIST: "ATMP pharmacist",
    Role.NURSE: "nurse",
    Role.PROGRAMME_LEAD: "programme lead",
    Role.PHARMACOVIGILANCE_OFFICER: "pharmacovigilance officer",
    Role.ICU_ON_CALL: "ICU physician on call",
}

_BINOME = frozenset({Role.ARD_SPECIALIST, Role.CELL_THERAPY_SPECIALIST})
_CLINICIANS = _BINOME | {Role.CARE_COORDINATOR}
_ANYONE_CLINICAL = _CLINICIANS | {Role.NURSE, Role.PROGRAMME_LEAD}

ROLE_MATRIX: dict[str, frozenset[Role]] = {
    # selection
    "record_work_up": _CLINICIANS | {Role.REFERRING_PHYSICIAN},
    "approve_at_mdtm": _BINOME,
    "reject_at_mdtm": _BINOME,
    "defer_at_mdtm": _BINOME,
    "record_consent": _BINOME,
    # product (CAR-T)
    "record_washout": _CLINICIANS,
    "book_apheresis": _CLINICIANS | {Role.APHERESIS_NURSE},
    "record_apheresis": frozenset({Role.APHERESIS_NURSE, Role.CELL_THERAPY_SPECIALIST}),
    "ship_to_manufacturer": frozenset({Role.CTU_TECHNICIAN, Role.APHERESIS_NURSE}),
    "release_product": frozenset({Role.CELL_THERAPY_SPECIALIST, Role.PHARMACIST}),
    "report_out_of_specification": frozenset({Role.CELL_THERAPY_SPECIALIST, Role.PHARMACIST}),
    "declare_manufacturing_failure": _BINOME,
    "ship_to_centre": frozenset({Role.CELL_THERAPY_SPECIALIST, Role.PHARMACIST}),
    # product (MSC)
    "order_product": frozenset({Role.CELL_THERAPY_SPECIALIST, Role.PHARMACIST}),
    # both
    "receive_product": frozenset({Role.CTU_TECHNICIAN, Role.PHARMACIST}),
    "quarantine_product": frozenset({Role.CTU_TECHNICIAN, Role.PHARMACIST}),
    "release_from_quarantine": frozenset({Role.CTU_TECHNICIAN, Role.PHARMACIST}),
    "discard_quarantined_product": frozenset({Role.CELL_THERAPY_SPECIALIST, Role.PHARMACIST}),
    # treatment
    "clear_for_treatment": _BINOME,
    "start_lymphodepletion": frozenset({Role.CELL_THERAPY_SPECIALIST, Role.NURSE}),
    "complete_lymphodepletion": frozenset({Role.CELL_THERAPY_SPECIALIST, Role.NURSE}),
    "record_fever": _ANYONE_CLINICAL,
    "record_observation": _ANYONE_CLINICAL | {Role.ICU_ON_CALL},
    "thaw_product": frozenset({Role.CTU_TECHNICIAN, Role.NURSE, Role.CELL_THERAPY_SPECIALIST}),
    "infuse": frozenset({Role.CELL_THERAPY_SPECIALIST, Role.NURSE}),
    "record_adverse_event": _ANYONE_CLINICAL | {Role.PHARMACOVIGILANCE_OFFICER},
    "report_adverse_event": _BINOME | {Role.PHARMACOVIGILANCE_OFFICER},
    "repeat_lymphodepletion": _BINOME,
    "discard_thawed_product": frozenset({Role.CTU_TECHNICIAN, Role.CELL_THERAPY_SPECIALIST}),
    "transfer_to_icu": frozenset({Role.CELL_THERAPY_SPECIALIST}),
    "return_from_icu": frozenset({Role.CELL_THERAPY_SPECIALIST}),
    "discharge": _BINOME,
    "end_observation": frozenset({Role.CELL_THERAPY_SPECIALIST, Role.NURSE}),
    # follow-up
    "record_visit": _ANYONE_CLINICAL,
    "start_long_term_follow_up": _CLINICIANS,
    "complete_follow_up": _BINOME,
    # pauses and exits
    "hold": _CLINICIANS,
    "resume": _CLINICIANS,
    "withdraw": _CLINICIANS,
    "record_death": _CLINICIANS,
    "declare_lost_to_follow_up": _CLINICIANS,
    "refuse_long_term_follow_up": _CLINICIANS,
    # preparation tasks and registry reporting (models/preparation.py, registry_forms.py)
    "record_task": _ANYONE_CLINICAL,
    "submit_registry_form": _CLINICIANS | {Role.PROGRAMME_LEAD},
}


def roles_allowed(event: str) -> frozenset[Role]:
    return ROLE_MATRIX.get(event, frozenset())
