"""A centre policy: which prerequisites each therapy needs, and when to warn of an expiry.

Data, like a protocol (``centres/policy.yaml``, loaded by ``models.centre_files``): per
therapy the prerequisites, the staff roles that must hold current training and the
tocilizumab minimum (from the therapy's protocol); for every centre how long before an
expiry to warn, whom to notify and how notifications are retried.

Usage::

    policy = load_centre_policy().compressed(seconds_per_day=6)   # the demo's clock
    policy.concerns(item)    # [Therapy.CAR_T]: the therapies whose readiness it affects
"""

from __future__ import annotations

from datetime import timedelta

from pydantic import BaseModel, ConfigDict, Field, model_validator

from models.durations import Duration
from models.evidence import EvidenceItem, Prerequisite
from models.protocol import NotificationRetry, Therapy
from models.roles import Role


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class TherapyRequirements(_Strict):
    prerequisites: list[Prerequisite] = Field(min_length=1)
    staff_roles: list[Role] = Field(default=[], description="each needs a currently trained person")
    tocilizumab_min_doses: int = Field(default=0, ge=0, le=100)

    @model_validator(mode="after")
    def _staff(self) -> TherapyRequirements:
        if Prerequisite.TRAINED_STAFF in self.prerequisites and not self.staff_roles:
            raise ValueError("trained_staff needs staff_roles")
        return self


class CentrePolicy(_Strict):
    """Which prerequisites each therapy needs, and when to warn of an expiry."""

    requirements: dict[Therapy, TherapyRequirements]
    warn_before: Duration = Field(
        default=timedelta(days=30), description="warn this long before an expiry"
    )
    notify: list[Role] = Field(default=[Role.PROGRAMME_LEAD], min_length=1)
    notification_retry: NotificationRetry = NotificationRetry()
    time_scale: float = Field(default=1.0, gt=0, description="1.0 = real time")

    def compressed(self, *, seconds_per_day: float) -> CentrePolicy:
        """The same policy on a clock where one day lasts ``seconds_per_day`` seconds."""
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
