"""Coded diseases: the ICD-10 and ORPHA codes that say which disease a referral is for.

Usage::

    code = DiseaseCodes(icd10="M32.1", orpha="ORPHA:536")
    covers("M32", "M32.1")      # True: a protocol listing M32 is for every M32.x

A code is a classification, not a fact about a person, so it is pseudonymous data like the
therapy. ICD-10 codes are matched by category: a protocol that lists ``M32`` covers
``M32.1``; one that lists ``M32.1`` does not cover ``M32.8``. ORPHA codes match exactly
(Orphanet's hierarchy is not flat enough to match by prefix).

Limitations: the shapes are checked (``M32.1``, ``ORPHA:536``), not the codes' existence in
the classifications.
"""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import BaseModel, BeforeValidator, ConfigDict, StringConstraints, model_validator

from models.validation import pattern


def _upper(value: Any) -> Any:
    """``m32.1`` and `` M32.1 `` are M32.1: codes are compared as the classification spells them."""
    return value.strip().upper() if isinstance(value, str) else value


Icd10Code = Annotated[
    str,
    StringConstraints(
        pattern=pattern(
            r"^[A-Z][0-9]{2}(\.[0-9A-Z]{1,4})?$",
            "an ICD-10 code such as M32.1 (a letter, two digits, then optionally a dot and "
            "up to 4 characters)",
        ),
    ),
    BeforeValidator(_upper),
]
OrphaCode = Annotated[
    str,
    StringConstraints(
        pattern=pattern(r"^ORPHA:[0-9]{1,7}$", "an Orphanet code such as ORPHA:536"),
    ),
    BeforeValidator(_upper),
]


def covers(listed: str, given: str) -> bool:
    """Whether the ICD-10 code ``listed`` by a protocol covers the referral's ``given`` code."""
    return given == listed or given.startswith(listed + ".")


class DiseaseCodes(BaseModel):
    """A referral's disease as codes: ICD-10, ORPHA, or both."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    icd10: Icd10Code | None = None
    orpha: OrphaCode | None = None

    @model_validator(mode="after")
    def _at_least_one(self) -> DiseaseCodes:
        if self.icd10 is None and self.orpha is None:
            raise ValueError(
                "give the disease's ICD-10 code (icd10), its ORPHA code (orpha), or both"
            )
        return self

    def text(self) -> str:
        return " / ".join(code for code in (self.icd10, self.orpha) if code)
