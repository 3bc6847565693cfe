"""The protocol sections on the patient around the backbone (issue 16): eligibility at the
MDTM, CRS/ICANS grading and what each grade sets off, safety follow-up after withdrawal.

``PatientCourse`` is a base of ``models.protocol.Protocol``: its fields are protocol fields
(``protocol.eligibility``, ``protocol.grading``, ``protocol.withdrawal``), each absent
(None) in protocols recorded in workflow inputs before it existed. It checks that the grade
rules name escalation ladders the protocol has.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, model_validator

from models.eligibility import Eligibility
from models.grading_rules import GradingRules
from models.withdrawal import WithdrawalRules


class PatientCourse(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    eligibility: Eligibility | None = None
    grading: GradingRules | None = None
    withdrawal: WithdrawalRules | None = None

    @model_validator(mode="after")
    def _grade_ladders_exist(self) -> PatientCourse:
        ladders = getattr(self, "escalation", {})
        for key, ladder in self.grading.ladders() if self.grading else []:
            if ladder not in ladders:
                raise ValueError(f"grading rule {key!r} names unknown ladder {ladder!r}")
        return self
