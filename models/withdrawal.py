"""Withdrawal from the study, and the safety follow-up that outlives it.

Usage (in a protocol file)::

    withdrawal:
      safety_follow_up: {value: true, source: "EBMT-ISCT: Greco 2024 (…)"}

A patient who withdraws from the study after receiving gene-modified cells stays in
long-term safety follow-up (as the regulation and the EBMT statement require) unless they
refuse it explicitly; ``safety_follow_up`` says whether this protocol's product calls for it.
The record keeps who recorded the withdrawal and the refusal, when and why
(``WithdrawalNote``).
"""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel

from models.roles import Role
from models.sources import Sourced, source


class WithdrawalRules(Sourced):
    NUMBERS = ("safety_follow_up",)
    DEFAULT_SOURCES = {
        "safety_follow_up": source("assumption: no safety follow-up after withdrawal unless set")
    }

    safety_follow_up: bool = False


class WithdrawalNote(BaseModel):
    """Who recorded it, in which role, when, and why (the patient's words, as staff noted)."""

    at: datetime
    by: str
    role: Role
    reason: str | None = None
