"""The centre notice: a centre's readiness as its open pathways hear of it.

The centre workflow builds a ``CentreNotice`` (its readiness for every therapy at one
moment) whenever what a therapy is missing changes; the ``notify_centre_pathways`` activity
(input ``CentreBroadcast``) sends it to the open pathways of the therapies concerned as the
signal ``contracts.CENTRE_NOTICE_SIGNAL``. A pathway keeps the newest notice for its therapy
as a ``CentreView`` and turns each newly missing prerequisite into a ``CentreAlert``, shown
until it is restored (``follow_notice``).

Usage::

    told = notice(centre, policy, version=3, now=now)
    raised, cleared = follow_notice(record.centre_alerts, told.for_therapy(therapy), now)

Later notices supersede earlier ones: order by ``(as_of, version)``. Pure.
"""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, Field

from models.centre_policy import CentrePolicy
from models.evidence import Centre
from models.protocol import Therapy
from models.readiness import MissingItem, TherapyReadiness, no_requirements, readiness


class CentreNotice(BaseModel):
    """A centre's readiness at one moment: the readiness query's answer, and what open
    pathways are told (signal ``centre_notice``). Later notices supersede earlier ones:
    order by ``(as_of, version)``."""

    centre: str
    version: int
    as_of: datetime
    readiness: list[TherapyReadiness]
    tocilizumab_doses: int | None = None

    def for_therapy(self, therapy: Therapy) -> TherapyReadiness:
        found = next((r for r in self.readiness if r.therapy == therapy), None)
        return no_requirements(therapy) if found is None else found

    @property
    def order(self) -> tuple[datetime, int]:
        return (self.as_of, self.version)


def notice(centre: Centre, policy: CentrePolicy, version: int, now: datetime) -> CentreNotice:
    return CentreNotice(
        centre=centre.id,
        version=version,
        as_of=now,
        readiness=[readiness(centre, policy, t, now) for t in policy.requirements],
        tocilizumab_doses=centre.tocilizumab.doses_on_site if centre.tocilizumab else None,
    )


class CentreView(BaseModel):
    """The last notice a pathway heard from its centre, for its therapy."""

    version: int
    as_of: datetime
    ready: bool
    missing: list[MissingItem] = []
    tocilizumab_doses: int | None = None

    @property
    def order(self) -> tuple[datetime, int]:
        return (self.as_of, self.version)


class CentreAlert(BaseModel):
    """A prerequisite of the pathway's centre that lapsed, shown until it is restored."""

    key: str
    label: str
    reason: str
    raised_at: datetime
    cleared_at: datetime | None = None

    @property
    def open(self) -> bool:
        return self.cleared_at is None


def follow_notice(
    alerts: list[CentreAlert], seen: TherapyReadiness, now: datetime
) -> tuple[list[CentreAlert], list[CentreAlert]]:
    """Raise an alert per newly missing item, clear those restored; return both lists."""
    missing = {m.key: m for m in seen.missing}
    open_keys = {a.key for a in alerts if a.open}
    cleared = [a for a in alerts if a.open and a.key not in missing]
    for alert in cleared:
        alert.cleared_at = now
    raised = [
        CentreAlert(key=m.key, label=m.label, reason=m.reason, raised_at=now)
        for key, m in missing.items()
        if key not in open_keys
    ]
    alerts.extend(raised)
    return raised, cleared


class CentreBroadcast(BaseModel):
    """What the centre asks the broadcast activity to tell its open pathways."""

    notice: CentreNotice
    therapies: list[Therapy] = Field(min_length=1)


class BroadcastReceipt(BaseModel):
    """The pathways the broadcast activity told."""

    pathways: list[str]
