"""Registry reporting: the forms a protocol owes its registry, and when each falls due.

Usage (in a protocol file)::

    registry:
      name: EBMT
      forms:
        - {key: med-a, label: MED-A registration, anchor: decision, at: 0d, within: 30d,
           source: "EBMT-ISCT: Greco 2024 (registry reporting)"}
        - {key: annual, label: Annual follow-up, anchor: d0, at: 1y, within: 60d,
           repeat: {every: 1y, until: 15y, source: …}, source: "EBMT-ISCT: Greco 2024"}

A form is due ``at`` after its anchor (the MDTM decision or D0) and must be submitted within
``within`` of that; a form with a ``repeat`` is owed ``every`` so long up to ``until`` after the anchor (yearly
to 15 years), each instance keyed ``<key>-<n>``. Each due form is a deadline with the
protocol's escalation (states/registry_deadlines.py); a staff member records it as submitted
with the registry's reference (``submit_registry_form``). ``alternative`` names the other
registry a centre may report to instead (CIBMTR for EBMT), for the documentation.

Visits carry their content the same way: ``visit_content`` lists what visits record (blood
counts, immunoglobulins…), each with the visits it is recorded at and its source;
``record_visit`` gives a finding for each (``findings``).
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from models.durations import Duration
from models.roles import Role
from models.sources import Source, Sourced

FORM_KEY = r"^[a-z0-9][a-z0-9_-]{1,39}$"
FORMS = "registry"  # form deadlines belong to no state: leaving one does not meet them


def form_key(key: str) -> str:
    """The key of a form's deadline in the record (``registry:day-100``)."""
    return f"{FORMS}:{key}"


# Repeating forms stop here whatever ``until`` says: a record stays small over 15 years.
MAX_REPEATS = 30


class Repeat(Sourced):
    """A form owed again ``every`` so long, up to ``until`` after its anchor."""

    NUMBERS = ("every", "until")

    every: Duration
    until: Duration


class RegistryForm(Sourced):
    """One form of the registry: its anchor, due time, grace and repetition."""

    NUMBERS = ("at", "within")

    key: str = Field(pattern=FORM_KEY)
    label: str = Field(min_length=3, max_length=120)
    anchor: Literal["decision", "d0"]
    at: Duration
    within: Duration
    repeat: Repeat | None = None
    crs_icans: bool = Field(default=False, description="carries the CRS/ICANS fields")

    @model_validator(mode="after")
    def _repeats(self) -> RegistryForm:
        if self.repeat is not None and self.repeat.every <= timedelta(0):
            raise ValueError(f"form {self.key!r}: 'every' must be positive")
        return self

    def instances(self) -> list[tuple[str, str, timedelta]]:
        """(key, label, time after the anchor) of each form owed."""
        if self.repeat is None:
            return [(self.key, self.label, self.at)]
        out: list[tuple[str, str, timedelta]] = []
        at, n = self.at, 1
        while at <= self.repeat.until and n <= MAX_REPEATS:
            out.append((f"{self.key}-{n}", f"{self.label} {n}", at))
            at, n = at + self.repeat.every, n + 1
        return out


class VisitItem(BaseModel):
    """One thing follow-up visits record (``blood_counts``), at which visits, with its source."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    key: str = Field(pattern=r"^[a-z][a-z0-9_]{1,31}$")
    label: str = Field(min_length=3, max_length=120)
    visits: list[str] = Field(min_length=1, description="labels of the visits that record it")
    source: Source


def visit_items(items: list[VisitItem], label: str) -> list[VisitItem]:
    """The items the visit ``label`` records."""
    return [i for i in items if label in i.visits]


class RegistryPlan(BaseModel):
    """The registry a protocol reports to, and its forms."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field(min_length=2, max_length=40)
    alternative: str | None = Field(default=None, max_length=80)
    waiting_on: Role = Role.CARE_COORDINATOR
    ladder: str = "default"
    forms: list[RegistryForm] = Field(min_length=1)

    @model_validator(mode="after")
    def _unique(self) -> RegistryPlan:
        keys = [k for f in self.forms for k, _, _ in f.instances()]
        if len(keys) != len(set(keys)):
            raise ValueError("registry form keys must be unique")
        return self

    def form(self, key: str) -> tuple[RegistryForm, str, timedelta] | None:
        """The form (and its instance's label and offset) a submitted key names."""
        for form in self.forms:
            for k, label, at in form.instances():
                if k == key:
                    return form, label, at
        return None


class FormSubmitted(BaseModel):
    at: datetime
    actor: str
    reference: str


class RegistryRecord(BaseModel):
    """The registry forms submitted on a pathway, and the findings of each visit."""

    submitted: dict[str, FormSubmitted] = {}
    visit_findings: dict[str, dict[str, str]] = {}
