"""A centre policy: which prerequisites each therapy needs and when to warn, each rule with its source.

Data, like a protocol (``centres/policy.yaml``, loaded by ``models.centre_files``): per
therapy the prerequisites, the staff roles that must hold current training, the tocilizumab
minimum and how soon a dose must be resupplied; for every centre which accreditation bodies
count, how long before an expiry to warn, whom to notify and how notifications are retried.

Every rule the file states carries its source (``models/sources.py``): write it
``{value: …, source: "<kind>: <citation>"}``. ``load_centre_policy`` validates with
``FROM_FILE``, so a stated value without a source fails naming the field; a value the file
leaves out takes the model's default with the default's own source (``DEFAULT_SOURCES``).
A policy recorded in a centre workflow's input before source tags existed has no
``sources`` and no ``accreditation_bodies``/``tocilizumab_resupply_within``: it loads as
recorded and decides as it did (every body counts, resupply is not checked).

Usage::

    policy = load_centre_policy().compressed(seconds_per_day=6)   # the demo's clock
    policy.concerns(item)    # [Therapy.CAR_T]: the therapies whose readiness it affects
    policy.source_of("warn_before").text()   # "assumption: one month to renew …"
"""

from __future__ import annotations

from datetime import timedelta
from typing import get_args

from pydantic import Field, model_validator

from models.durations import Duration
from models.evidence import AccreditationBody, EvidenceItem, Prerequisite
from models.protocol import NotificationRetry, Therapy
from models.roles import Role
from models.sources import Sourced, source

ALL_BODIES: list[AccreditationBody] = list(get_args(AccreditationBody))


class TherapyRequirements(Sourced):
    """What a centre must hold before it treats with one therapy."""

    NUMBERS = (
        "prerequisites",
        "staff_roles",
        "tocilizumab_min_doses",
        "tocilizumab_resupply_within",
    )
    ROW_SOURCE = False
    DEFAULT_SOURCES = {
        "staff_roles": source("assumption: no trained role required unless the policy names one"),
        "tocilizumab_min_doses": source("assumption: none required unless the policy sets it"),
        "tocilizumab_resupply_within": source("assumption: not checked unless the policy sets it"),
    }

    prerequisites: list[Prerequisite] = Field(min_length=1)
    staff_roles: list[Role] = Field(default=[], description="each needs a currently trained person")
    tocilizumab_min_doses: int = Field(default=0, ge=0, le=100)
    tocilizumab_resupply_within: Duration | None = Field(
        default=None,
        description="the centre's resupply of a further dose must be at most this long; "
        "None: not checked",
    )

    @model_validator(mode="after")
    def _staff(self) -> TherapyRequirements:
        if Prerequisite.TRAINED_STAFF in self.prerequisites and not self.staff_roles:
            raise ValueError("trained_staff needs staff_roles")
        return self


class CentrePolicy(Sourced):
    """Which prerequisites each therapy needs, and when to warn of an expiry."""

    NUMBERS = ("accreditation_bodies", "warn_before", "notify")
    ROW_SOURCE = False
    DEFAULT_SOURCES = {
        "accreditation_bodies": source(
            "assumption: every body the centre file knows counts unless the policy says which"
        ),
        "warn_before": source("assumption: one month to renew"),
        "notify": source("assumption: the programme lead answers for the centre's evidence"),
    }

    requirements: dict[Therapy, TherapyRequirements]
    accreditation_bodies: list[AccreditationBody] = Field(
        default=ALL_BODIES, min_length=1, description="accreditations by these bodies count"
    )
    warn_before: Duration = Field(
        default=timedelta(days=30), description="warn this long before an expiry"
    )
    notify: list[Role] = Field(default=[Role.PROGRAMME_LEAD], min_length=1)
    # Operational, not clinical (as in a protocol): no source.
    notification_retry: NotificationRetry = NotificationRetry()
    time_scale: float = Field(default=1.0, gt=0, description="1.0 = real time")

    def compressed(self, *, seconds_per_day: float) -> CentrePolicy:
        """The same policy on a clock where one day lasts ``seconds_per_day`` seconds.

        ``tocilizumab_resupply_within`` is compared with the centre file's resupply time,
        which is not compressed either: it stays as stated."""
        if seconds_per_day <= 0:
            raise ValueError("seconds_per_day must be positive")
        factor = seconds_per_day / 86400.0
        return self.model_copy(
            update={
                "warn_before": self.warn_before * factor,
                "time_scale": self.time_scale * factor,
            }
        )

    def days(self, delta: timedelta) -> float:
        """A duration on this policy's clock, in days."""
        return delta.total_seconds() / (86400.0 * self.time_scale)

    def concerns(self, item: EvidenceItem) -> list[Therapy]:
        """The therapies whose readiness depends on ``item``."""
        out = []
        for therapy, req in self.requirements.items():
            if item.prerequisite not in req.prerequisites:
                continue
            if item.therapy is not None and item.therapy != therapy:
                continue
            if item.role is not None and item.role not in req.staff_roles:
                continue
            out.append(therapy)
        return out
