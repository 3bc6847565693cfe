"""The pathway's guards: the rules that refuse a staff action, with a reason for people.

Each ``guard_<rule>`` is a transition validator of the therapy charts (named in their
``validators=``): it reads the record, the protocol, the action and ``now``, and raises the
``PathwayError`` of the rule it enforces, or returns. Guards never change the record.

``PathwayChart.check`` adds to every refusal the event actually sent (a guard is shared by
several events) and the state the pathway was in.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import TYPE_CHECKING, NoReturn

from models import actions as a
from models.actions import StaffAction, person_key
from models.durations import YEAR
from models.protocol import Protocol
from models.record import PathwayRecord, protocol_days
from states import errors as e

# Without an age band, a patient is at most this old: no clinical date can be older.
OLDEST_PATIENT_YEARS = 120


def days_text(delta: timedelta, protocol: Protocol) -> str:
    """A span in the protocol's days, as a refusal says it: "104 days", "90 minutes"."""
    days = protocol_days(delta, protocol.time_scale)
    if abs(days) >= 2:
        return f"{days:.0f} days"
    hours = days * 24
    # A 90-minute thaw window must not read "2 hours": short spans go in minutes.
    if abs(hours) < 3 and abs(hours - round(hours)) > 1e-6:
        minutes = round(hours * 60)
        return f"{minutes} minutes" if minutes != 1 else "1 minute"
    return f"{hours:.0f} hours" if round(hours) != 1 else "1 hour"


class PathwayGuards:
    """The guards every therapy chart may name as validators (mixed into ``PathwayChart``)."""

    record: PathwayRecord
    protocol: Protocol

    def refuse(self, cls: type[e.PathwayError], message: str) -> NoReturn:
        """Refuse with ``cls``; ``PathwayChart.check`` adds the event sent and the state."""
        raise cls(message)

    def days(self, delta: timedelta) -> str:
        return days_text(delta, self.protocol)

    if TYPE_CHECKING:

        def beyond_usual_window(self, action: a.Thaw, since: timedelta) -> bool: ...

        def meeting_time(self, action: a.MdtmDecision, now: datetime) -> datetime: ...

    def _not_in_future(self, when: datetime, what: str, now: datetime) -> None:
        if when > now:
            self.refuse(e.DateInFuture, f"The {what} date is in the future; check the date.")

    def _not_before_birth(self, when: datetime, what: str) -> None:
        """A date before the patient could have been born is a typo (1900 for 2026): refuse
        it rather than let it pass a washout or a window. Calendar years (not protocol
        time): ``YEAR`` whatever the clock's scale."""
        band = self.record.age_band
        years = max(int(n) for n in band.split("-")) + 1 if band else OLDEST_PATIENT_YEARS
        if when < self.record.referred_at - YEAR * years:
            born = (
                f"the patient was born (age band {band})" if band else "any living patient was born"
            )
            self.refuse(
                e.DateBeforeBirth,
                f"The {what} date ({when:%Y-%m-%d}) is before {born}; check the date.",
            )

    def guard_work_up_valid(self, action: a.WorkUp, now: datetime) -> None:
        self._not_in_future(action.completed_at, "work-up", now)
        self._not_before_birth(action.completed_at, "work-up")

    def guard_work_up_fresh(self, action: a.MdtmDecision, now: datetime) -> None:
        done = self.record.work_up_completed_at
        window = self.protocol.windows.work_up_validity
        if done is None:
            self.refuse(e.WorkUpIncomplete, "No work-up is recorded yet.")
            return
        # Measured at the meeting's date under the explicit rules (states/mdtm_record.py).
        age = self.meeting_time(action, now) - done
        if age < timedelta(0):
            self.refuse(
                e.WorkUpIncomplete,
                "The work-up is dated after the meeting: check the meeting date, or defer and "
                "present the new work-up at the next MDTM.",
            )
        # "less than 3 months old": a work-up exactly at the window is too old.
        if age >= window:
            self.refuse(
                e.StaleWorkUp,
                f"The work-up is {days_text(age, self.protocol)} old; at the MDTM it must be less "
                f"than {days_text(window, self.protocol)} old. Defer the case at the MDTM, record a "
                "new work-up, then present it again.",
            )
        if self.record.work_up_missing:
            self.refuse(
                e.WorkUpIncomplete,
                "The work-up is incomplete (missing: "
                f"{', '.join(self.record.work_up_missing)}); defer and re-present it.",
            )

    def guard_binome_signed(self, action: a.MdtmDecision, now: datetime) -> None:
        if person_key(action.ard_specialist) == person_key(action.cell_therapy_specialist):
            self.refuse(
                e.BinomeIncomplete,
                "The MDTM decision needs two different people: the autoimmune-disease "
                "specialist and the cell-therapy specialist.",
            )
        if person_key(action.actor) not in {
            person_key(action.ard_specialist),
            person_key(action.cell_therapy_specialist),
        }:
            self.refuse(
                e.BinomeIncomplete,
                f"{action.actor} is not one of the two signatories of this MDTM decision.",
            )

    def guard_washout_known(self, action: a.Washout, now: datetime) -> None:
        for stop in action.stopped:
            self._not_in_future(stop.stopped_at, f"{stop.drug} stop", now)
            self._not_before_birth(stop.stopped_at, f"{stop.drug} stop")
            if self.protocol.washout_rule(stop.drug) is None:
                known = ", ".join(r.drug for r in self.protocol.washout)
                self.refuse(
                    e.WashoutIncomplete,
                    f"'{stop.drug}' is not in this protocol's washout table ({known}). "
                    "Ask the cell-therapy specialist how long it must be stopped.",
                )

    def _washout_shortfalls(self, at: datetime) -> list[str]:
        late = []
        for stop in self.record.washout:
            rule = self.protocol.washout_rule(stop.drug)
            if rule is None:
                continue
            stopped_for = at - stop.stopped_at
            if stopped_for < rule.stop_before:
                late.append(
                    f"{stop.drug} stopped {days_text(stopped_for, self.protocol)} before, "
                    f"needs {days_text(rule.stop_before, self.protocol)}"
                )
        if self.record.prednisone_mg_per_day > self.protocol.prednisone_max_mg_per_day:
            late.append(
                f"prednisone {self.record.prednisone_mg_per_day:g} mg/day, "
                f"at most {self.protocol.prednisone_max_mg_per_day:g} mg/day"
            )
        return late

    def guard_washout_by_slot(self, action: a.ApheresisBooking, now: datetime) -> None:
        if not self.record.washout_recorded:
            self.refuse(
                e.WashoutIncomplete,
                "Record the washout (drugs stopped and their dates, or none) before booking.",
            )
        self._not_before_birth(action.slot_at, "leukapheresis slot")
        late = self._washout_shortfalls(action.slot_at)
        if late:
            self.refuse(
                e.WashoutIncomplete,
                "Washout will not be complete at this slot: " + "; ".join(late) + ".",
            )

    def guard_washout_complete(self, action: a.Apheresis, now: datetime) -> None:
        late = self._washout_shortfalls(now)
        if late:
            self.refuse(
                e.WashoutIncomplete,
                "Washout is not complete, leukapheresis must wait: " + "; ".join(late) + ".",
            )

    def guard_coi_matches(self, action: a.ProductReceipt | a.Thaw, now: datetime) -> None:
        expected = self.record.product.coi_id
        if expected is None or action.bag_coi_id.strip().upper() != expected.strip().upper():
            self.refuse(
                e.IdentityMismatch,
                f"The bag identifier {action.bag_coi_id} does not match this patient's "
                "chain-of-identity identifier. Do not use the bag: quarantine it and call "
                "the cell-therapy unit.",
            )

    def guard_fit_for_treatment(self, action: a.PreInfusionCheck, now: datetime) -> None:
        if action.active_infection:
            self.refuse(
                e.ActiveInfection,
                "An active infection postpones treatment: record the check again once it is "
                "resolved.",
            )
        # None: not answered, which pathways under the legacy rules took for "fine".
        if action.cardiac_check_ok is False:
            self.refuse(
                e.NotClearedForTreatment,
                "The cardiac re-check is not satisfactory; the binôme must review it.",
            )
        minimum = self.protocol.tocilizumab_min_doses
        if action.tocilizumab_doses_on_site < minimum:
            self.refuse(
                e.NotClearedForTreatment,
                f"Only {action.tocilizumab_doses_on_site} dose(s) of tocilizumab on site; the "
                f"protocol requires at least {minimum} before a CAR-T infusion.",
            )

    def guard_product_on_site(self, action: StaffAction, now: datetime) -> None:
        product = self.record.product
        if product.received_at is None or product.quarantined:
            self.refuse(
                e.ProductNotOnSite,
                "The product is not on site (received and out of quarantine); "
                "treatment starts only once it is.",
            )

    def guard_not_febrile(self, action: StaffAction, now: datetime) -> None:
        fever = self.record.last_fever_at
        window = self.protocol.windows.afebrile_before_infusion
        if fever is not None and now - fever < window:
            self.refuse(
                e.NotAfebrile,
                f"Last fever {days_text(now - fever, self.protocol)} ago; thawing and infusion wait until the "
                f"patient has been afebrile for {days_text(window, self.protocol)} "
                f"({days_text(window - (now - fever), self.protocol)} to go).",
            )

    def guard_two_person_check(self, action: a.Infusion, now: datetime) -> None:
        people = {person_key(p) for p in action.checked_by}
        if len(people) < 2:
            self.refuse(
                e.TwoPersonCheckMissing,
                "The bedside chain-of-identity check needs two different people.",
            )

    def guard_thaw_window(self, action: a.Infusion, now: datetime) -> None:
        if action.thawed_at is not None:
            self._not_in_future(action.thawed_at, "thaw", now)
            self._not_before_birth(action.thawed_at, "thaw")
        # The earliest known thaw time counts: a payload cannot make a bag younger.
        known = [t for t in (action.thawed_at, self.record.product.thawed_at) if t is not None]
        if not known:
            return
        thawed = min(known)
        window = self.protocol.windows.thaw_to_infusion
        if now - thawed > window:
            self.refuse(
                e.OutsideWindow,
                f"The product was thawed {days_text(now - thawed, self.protocol)} ago; it must be "
                f"infused within {days_text(window, self.protocol)} of thawing.",
            )

    def guard_lymphodepletion_window(self, action: a.Thaw, now: datetime) -> None:
        ended = self.record.lymphodepletion_ended_at
        w = self.protocol.windows
        if ended is None:
            return
        since = now - ended
        if since < w.infusion_after_lymphodepletion_min:
            self.refuse(
                e.OutsideWindow,
                f"Lymphodepletion ended {days_text(since, self.protocol)} ago; thawing and infusion "
                f"are possible from {days_text(w.infusion_after_lymphodepletion_min, self.protocol)}"
                f" after it ({days_text(w.infusion_after_lymphodepletion_min - since, self.protocol)}"
                " to go).",
            )
        if since > w.infusion_after_lymphodepletion_max and not self.beyond_usual_window(
            action, since
        ):
            self.refuse(
                e.OutsideWindow,
                f"Lymphodepletion ended {days_text(since, self.protocol)} ago, beyond the "
                f"{days_text(w.infusion_after_lymphodepletion_max, self.protocol)} window: the "
                "binôme decides whether to repeat it (repeat_lymphodepletion).",
            )

    def guard_report_due(self, action: a.SafetyReport, now: datetime) -> None:
        events = self.record.adverse_events
        if not 1 <= action.adverse_event <= len(events):
            self.refuse(
                e.MalformedAction,
                f"There is no adverse event #{action.adverse_event} on this pathway "
                f"({len(events)} recorded).",
            )
            return
        ae = events[action.adverse_event - 1]
        due = ae.reports_due()
        if action.report not in due:
            self.refuse(
                e.ActionNotAllowedNow,
                f"Adverse event #{ae.seq} needs no {action.report} report"
                + (f" (due: {', '.join(due)})." if due else " (no report is due)."),
            )
        if action.report in ae.reports:
            self.refuse(
                e.ActionNotAllowedNow,
                f"The {action.report} report of adverse event #{ae.seq} is already recorded.",
            )

    def guard_visit_known(self, action: a.VisitRecord, now: datetime) -> None:
        labels = [v.label for v in self.protocol.visits]
        if action.visit not in labels:
            self.refuse(
                e.MalformedAction,
                f"'{action.visit}' is not a visit of this protocol ({', '.join(labels)}).",
            )
        if action.visit in self.record.visits:
            self.refuse(
                e.ActionNotAllowedNow,
                f"Visit {action.visit} is already recorded.",
            )

    def _outstanding(self, *, long_term: bool | None) -> list[str]:
        return [
            v.label
            for v in self.protocol.visits
            if (long_term is None or v.long_term == long_term) and v.label not in self.record.visits
        ]

    def guard_short_term_visits_done(self, action: StaffAction, now: datetime) -> None:
        missing = self._outstanding(long_term=False)
        if missing:
            self.refuse(
                e.VisitsOutstanding,
                f"Short-term visits not yet recorded: {', '.join(missing)}.",
            )

    def guard_all_visits_done(self, action: StaffAction, now: datetime) -> None:
        missing = self._outstanding(long_term=None)
        if missing:
            self.refuse(
                e.VisitsOutstanding,
                f"Follow-up visits not yet recorded: {', '.join(missing)}.",
            )
