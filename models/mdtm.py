"""The MDTM as a record: who attended (with their specialty) and which specialties a
protocol requires at the meeting.

Usage (a protocol file)::

    mdtm:
      required_specialties: {value: [autoimmune_disease, cell_therapy], source: "recommendations: ..."}

An MDTM decision (``approve_at_mdtm``, ``defer_at_mdtm``, ``reject_at_mdtm``) lists its
attendees as ``{"person": "dr.martin", "specialty": "autoimmune_disease"}``
(``models.actions.Attendee``).
"""

from __future__ import annotations

from typing import Literal

from models.sources import Sourced, source

Specialty = Literal[
    "autoimmune_disease",
    "cell_therapy",
    "haematology",
    "intensive_care",
    "neurology",
    "pharmacy",
    "apheresis",
    "nursing",
    "other",
]

SPECIALTY_WORDS: dict[str, str] = {
    "autoimmune_disease": "autoimmune-disease specialist",
    "cell_therapy": "cell-therapy specialist",
    "haematology": "haematologist",
    "intensive_care": "intensive-care physician",
    "neurology": "neurologist",
    "pharmacy": "ATMP pharmacist",
    "apheresis": "apheresis physician",
    "nursing": "nurse",
    "other": "other specialty",
}


class MdtmRules(Sourced):
    """Which specialties must attend an MDTM decision of this protocol."""

    NUMBERS = ("required_specialties",)
    ROW_SOURCE = False
    DEFAULT_SOURCES = {
        "required_specialties": source(
            "recommendations: Castilla-Llorente 2025 (MDTM with the binôme: autoimmune-disease "
            "and cell-therapy specialists)"
        ),
    }

    required_specialties: list[Specialty] = ["autoimmune_disease", "cell_therapy"]
