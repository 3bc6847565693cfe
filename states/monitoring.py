"""Monitoring after infusion: the minimum monitoring period before discharge, visits
recorded during the stay with their clinical date, and (MSC) the observation after each
infusion and the fitness re-check before a further dose.

Guards of the therapy charts (mixed into ``PathwayChart``), each reading protocol data that
protocols recorded before it existed do not have (``None``/``False``): such pathways decide
as they did, so their committed histories replay unchanged.

Pure: no temporalio, no I/O, no clock; ``now`` comes in with the event.
"""

from __future__ import annotations

from datetime import datetime
from typing import NoReturn

from models import actions as a
from models.actions import StaffAction
from models.protocol import Protocol
from models.record import PathwayRecord
from states import errors as e
from states.guards import days_text


class MonitoringGuards:
    """The monitoring guards every therapy chart may name as validators."""

    record: PathwayRecord
    protocol: Protocol

    def refuse(self, cls: type[e.PathwayError], message: str) -> NoReturn:
        raise cls(message)

    def guard_monitoring_period_done(self, action: StaffAction, now: datetime) -> None:
        """No discharge before the protocol's minimum monitoring after the (last) infusion."""
        minimum = self.protocol.windows.monitoring_before_discharge
        if minimum is None or not self.record.infusions:
            return
        since = now - self.record.infusions[-1]
        if since < minimum:
            self.refuse(
                e.MonitoringPeriodNotOver,
                f"The infusion was {days_text(since, self.protocol)} ago; the protocol requires "
                f"{days_text(minimum, self.protocol)} of monitoring after it before discharge "
                f"({days_text(minimum - since, self.protocol)} to go). Visits that fall during "
                "the stay can be recorded now.",
            )

    def guard_visit_date(self, action: a.VisitRecord, now: datetime) -> None:
        """A visit's clinical date is neither in the future nor before the infusion."""
        done = action.done_at
        if done is None:
            return
        if done > now:
            self.refuse(e.DateInFuture, "The visit date is in the future; check the date.")
        d0 = self.record.d0
        if d0 is not None and done < d0:
            self.refuse(
                e.MalformedAction,
                f"The visit date ({done:%Y-%m-%d %H:%M}) is before the infusion (D0 "
                f"{d0:%Y-%m-%d %H:%M} UTC); check the date.",
            )

    def guard_observation_done(self, action: StaffAction, now: datetime) -> None:
        """The observation after an infusion lasts at least the protocol's period."""
        period = self.protocol.infusions.observation
        if period is None or not self.record.infusions:
            return
        since = now - self.record.infusions[-1]
        if since < period:
            self.refuse(
                e.MonitoringPeriodNotOver,
                f"The infusion was {days_text(since, self.protocol)} ago; the protocol requires "
                f"{days_text(period, self.protocol)} of observation after each infusion "
                f"({days_text(period - since, self.protocol)} to go).",
            )

    def guard_rechecked_since_infusion(self, action: StaffAction, now: datetime) -> None:
        """Before a further dose, fitness is checked again after the last infusion."""
        if not self.protocol.infusions.recheck_before_dose or not self.record.infusions:
            return
        cleared = self.record.cleared_at
        if cleared is None or cleared < self.record.infusions[-1]:
            self.refuse(
                e.NotClearedForTreatment,
                "Before a further dose the patient's fitness is checked again: record "
                "clear_for_treatment (infection, cardiac check) after the last infusion.",
            )
