"""A referral: what the ARD specialist sends to start a pathway.

Pseudonymous by construction: the patient is a pseudonym (``LUP-001``), never a name or a
birth date; the age is a band. The workflow ID is ``pathway-<centre>-<pseudonym>``.
"""

from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from models.actions import PersonId
from models.protocol import Therapy

Pseudonym = Annotated[
    str, StringConstraints(strip_whitespace=True, pattern=r"^[A-Z]{2,5}-\d{3,6}$")
]
CentreId = Annotated[
    str, StringConstraints(strip_whitespace=True, pattern=r"^[a-z][a-z0-9-]{1,39}$")
]


class Binome(BaseModel):
    """The pair who lead the pathway: two different people."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    ard_specialist: PersonId
    cell_therapy_specialist: PersonId


class Referral(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    pseudonym: Pseudonym = Field(description="pseudonymous patient ID, e.g. LUP-001")
    centre: CentreId
    therapy: Therapy
    disease: Annotated[
        str, StringConstraints(min_length=3, max_length=80, pattern=r"^[\w ,'()/-]+$")
    ]
    age_band: Annotated[str, StringConstraints(pattern=r"^\d{2}-\d{2}$")] | None = None
    binome: Binome
    referred_by: PersonId
    protocol_id: str | None = Field(default=None, description="defaults to the therapy's protocol")

    @property
    def pathway_id(self) -> str:
        return pathway_id(self.centre, self.pseudonym)


def pathway_id(centre: str, pseudonym: str) -> str:
    return f"pathway-{centre}-{pseudonym}"
