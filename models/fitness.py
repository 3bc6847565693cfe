"""A protocol's fitness and eligibility rules: which answers it requires, and their limits.

Part of a protocol file (``fitness:``), every rule with its source::

    fitness:
      lvef_min_percent: {value: 45, source: "assumption: CD19 CAR-T trial inclusion"}
      egfr_min: {value: 30, source: "label: fludarabine SmPC"}
      pregnancy_test: {value: true, source: "label: EU SmPC of licensed CAR-T"}
      consent_elements: {value: [trial_inclusion, registry_consent], source: "..."}

The organ-function values (LVEF, eGFR) are required in the work-up and at the pre-infusion
check and must reach the limits; the pregnancy test is required at the pre-infusion check
when the protocol asks for it ("not_applicable" is an answer, a blank is not); the consent
elements listed must each be answered yes before the step after consent.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from models.sources import Sourced, source

ConsentElement = Literal["trial_inclusion", "registry_consent"]

CONSENT_WORDS: dict[str, str] = {
    "trial_inclusion": "consent to inclusion in the trial",
    "registry_consent": "consent to registry reporting",
}

_ORGANS = "assumption: typical CAR-T trial thresholds (LVEF >= 45-55 %, eGFR >= 30)"


class Fitness(Sourced):
    """The answers a pathway must give before MDTM approval and before treatment."""

    NUMBERS = ("lvef_min_percent", "egfr_min", "pregnancy_test", "consent_elements")
    ROW_SOURCE = False
    DEFAULT_SOURCES = {
        "lvef_min_percent": source(_ORGANS),
        "egfr_min": source("label: fludarabine SmPC (contraindicated below 30 mL/min)"),
        "pregnancy_test": source("label: EU SmPC of licensed CAR-T (pregnancy test before)"),
        "consent_elements": source("regulation: EU CTR 536/2014 art. 28-29 (informed consent)"),
    }

    lvef_min_percent: float = Field(default=45, ge=5, le=90)
    egfr_min: float = Field(default=30, ge=0, le=200)
    pregnancy_test: bool = True
    consent_elements: list[ConsentElement] = ["trial_inclusion", "registry_consent"]
