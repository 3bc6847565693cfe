"""Grading in a protocol: which grading tables grade its CRS and ICANS, and what each grade
sets off (who is informed at once, what is expected within how long), every rule sourced.

Usage (in a protocol file)::

    grading:
      tables: astct-2019                 # protocols/grading/astct-2019.yaml, carried whole
      escalation:
        - {key: grade_2, label: "{syndrome} grade {grade}: binôme and ICU informed",
           at_least: 2, within: 1h, notify: [ard_specialist, cell_therapy_specialist,
           icu_on_call], waiting_on: cell_therapy_specialist, source: "…"}
        - {key: grade_3, label: "{syndrome} grade {grade}: transfer to ICU expected",
           at_least: 3, within: 2h, notify: [cell_therapy_specialist, icu_on_call],
           met_in: icu, waiting_on: cell_therapy_specialist, source: "…"}

The tables are read from their file when the protocol file is loaded and then travel with the
protocol (workflow input), so a pathway grades with the version it started with and the
workflow never reads a file. An escalation rule arms a deadline when an observation first
reaches its grade in an episode (``states/grade_escalation.py``): met when the notification is
delivered, or, with ``met_in``, when the pathway is in that state (e.g. ``icu``).
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from models.durations import Duration
from models.grading_tables import GRADING_DIR, GradingTables, load_grading
from models.roles import Role
from models.sources import Sourced

Syndrome = Literal["CRS", "ICANS"]


class GradeRule(Sourced):
    """What an observation graded ``at_least`` sets off for its syndrome."""

    NUMBERS = ("at_least", "within")

    key: str = Field(pattern=r"^[a-z][a-z0-9_]{2,40}$")
    label: str = Field(
        min_length=5, max_length=120, description="'{syndrome}' and '{grade}' are filled in"
    )
    at_least: int = Field(ge=1, le=4)
    syndromes: list[Syndrome] = ["CRS", "ICANS"]
    within: Duration
    notify: list[Role] = Field(min_length=1, description="informed at once")
    waiting_on: Role
    met_in: str | None = Field(default=None, description="state in which it is met")
    ladder: str = "default"

    def label_for(self, syndrome: str, grade: int) -> str:
        return self.label.replace("{syndrome}", syndrome).replace("{grade}", str(grade))


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class GradingRules(_Strict):
    tables: GradingTables
    escalation: list[GradeRule] = []

    @field_validator("tables", mode="before")
    @classmethod
    def _from_file(cls, value: Any) -> Any:
        # A protocol file names the tables' file; a workflow input carries them whole.
        if isinstance(value, str):
            if not value.replace("-", "").replace(".", "").isalnum():
                raise ValueError(f"'{value}' is not a grading file name (e.g. astct-2019)")
            return load_grading(GRADING_DIR / f"{value}.yaml")
        return value

    def ladders(self) -> list[tuple[str, str]]:
        """(rule key, escalation ladder) of each rule: the protocol checks the ladders exist."""
        return [(r.key, r.ladder) for r in self.escalation]

    @model_validator(mode="after")
    def _unique(self) -> GradingRules:
        keys = [r.key for r in self.escalation]
        if len(keys) != len(set(keys)):
            raise ValueError("grading escalation keys must be unique")
        return self
