"""A referral: what the ARD specialist sends to start a pathway.

Pseudonymous by construction: the patient is a pseudonym (``LUP-001``), never a name or a
birth date; the age is a band. The workflow ID is ``pathway-<centre>-<pseudonym>``.
"""

from __future__ import annotations

import re
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, model_validator

from models.actions import PersonId, person_key
from models.disease_codes import DiseaseCodes, Icd10Code, OrphaCode
from models.eligibility import PriorTreatment, SeverityScore
from models.protocol import Therapy
from models.validation import pattern

# [0-9], not \d: \d also matches look-alike digits (fullwidth "１", Arabic-Indic "١"), which
# would give the same patient a second, different-looking pathway ID.
_PSEUDONYM = r"[A-Z]{2,5}-[0-9]{3,6}"
_CENTRE = r"[a-z][a-z0-9-]{1,39}"
# What ``pathway_id`` builds: anything else names no pathway.
PATHWAY_ID = re.compile(rf"pathway-{_CENTRE}-{_PSEUDONYM}")

Pseudonym = Annotated[
    str,
    StringConstraints(
        strip_whitespace=True,
        pattern=pattern(
            rf"^{_PSEUDONYM}$",
            "a pseudonym such as LUP-001 (2 to 5 capital letters, a dash, 3 to 6 digits), "
            "never a name or a birth date",
        ),
    ),
]
CentreId = Annotated[
    str,
    StringConstraints(
        strip_whitespace=True,
        pattern=pattern(rf"^{_CENTRE}$", "a centre ID such as centre-a (`cellpath centres list`)"),
    ),
]
Disease = Annotated[
    str,
    StringConstraints(
        min_length=3,
        max_length=80,
        pattern=pattern(r"^[\w ,'()/-]+$", "the disease in words (e.g. systemic sclerosis)"),
    ),
]
AgeBand = Annotated[
    str, StringConstraints(pattern=pattern(r"^[0-9]{2}-[0-9]{2}$", "an age band such as 30-39"))
]


class Binome(BaseModel):
    """The pair who lead the pathway: two different people."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    ard_specialist: PersonId
    cell_therapy_specialist: PersonId

    @model_validator(mode="after")
    def _two_people(self) -> Binome:
        if person_key(self.ard_specialist) == person_key(self.cell_therapy_specialist):
            raise ValueError(
                "the autoimmune-disease specialist and the cell-therapy specialist must be "
                "two different people"
            )
        return self


class Referral(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    pseudonym: Pseudonym = Field(description="pseudonymous patient ID, e.g. LUP-001")
    centre: CentreId
    therapy: Therapy
    disease: Disease
    # Optional here so that referrals recorded before codes existed still load from
    # history; a new referral must carry one (models/protocol_choice.py, at referral).
    icd10: Icd10Code | None = Field(default=None, description="ICD-10 code, e.g. M32.1")
    orpha: OrphaCode | None = Field(default=None, description="Orphanet code, e.g. ORPHA:536")
    age_band: AgeBand | None = None
    # Eligibility (models/eligibility.py): the activity score the protocol names for the
    # disease, and the reference treatments already tried. Optional so that referrals
    # recorded before they existed still load; the MDTM approval needs what the protocol asks.
    severity: SeverityScore | None = None
    prior_treatments: list[PriorTreatment] = Field(default=[], max_length=30)
    binome: Binome
    referred_by: PersonId
    protocol_id: str | None = Field(
        default=None,
        description="the protocol to follow; without it, the one protocol that matches the "
        "therapy and the disease codes",
    )

    @property
    def disease_codes(self) -> DiseaseCodes | None:
        """The disease as codes, or None for a referral recorded before codes existed."""
        if self.icd10 is None and self.orpha is None:
            return None
        return DiseaseCodes(icd10=self.icd10, orpha=self.orpha)

    @property
    def pathway_id(self) -> str:
        return pathway_id(self.centre, self.pseudonym)


def pathway_id(centre: str, pseudonym: str) -> str:
    return f"pathway-{centre}-{pseudonym}"
