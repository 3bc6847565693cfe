"""What every pathway chart shares: binding to the record, dry-run checks, guards, facts.

A chart is built around a ``PathwayRecord`` and a ``Protocol``: its configuration is read
from and written back to ``record.configuration`` after every transition, and the memory
of its history state to ``record.history``, so a chart rebuilt from the record (a new
workflow run) continues exactly where the last one stopped, holds included.

Events are sent with the staff action and the current time::

    chart = CarTChart(record, protocol)
    chart.check("approve_at_mdtm", action, now)   # raises PathwayError, changes nothing
    chart.apply("approve_at_mdtm", action, now)   # checks again, then transitions

Pure: no temporalio, no I/O, no clock; ``now`` always comes in with the event.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Iterable
from datetime import datetime, timedelta
from typing import Any, ClassVar

from statemachine import StateChart
from statemachine.callbacks import CallbacksRegistry, CallbackWrapper
from statemachine.orderedset import OrderedSet
from statemachine.signature import SignatureAdapter

from models import actions as a
from models.actions import EVENT_PAYLOADS, StaffAction, person_key
from models.protocol import Protocol
from models.record import AdverseEventRecord, DrugStopRecord, PathwayRecord, protocol_days
from states import errors as e

# Final states and what they mean for the record's outcome.
EXITS = {
    "ineligible": "ineligible at MDTM",
    "withdrawn": "consent withdrawn",
    "manufacturing_failed": "manufacturing failure",
    "deceased": "deceased",
    "lost_to_follow_up": "lost to follow-up",
    "completed": "follow-up completed",
}


# Safety reporting (EU CTR 536/2014) outlives the pathway: a serious adverse event recorded
# before death or withdrawal must still be reported, so this one event is accepted after the
# end while a report is due.
AFTER_END = "report_adverse_event"

# Without an age band, a patient is at most this old: no clinical date can be older.
OLDEST_PATIENT_YEARS = 120


class _RecordBinding:
    """The chart's model: its state field reads and writes ``record.configuration``.

    It hands the library the same value until the configuration changes: the library caches
    the resolved states by the identity of that value, and a new ``OrderedSet`` on every
    read made it resolve them again (several times per event).
    """

    __slots__ = ("record", "_list", "_value")

    def __init__(self, record: PathwayRecord):
        self.record = record
        self._list: list[str] | None = None
        self._value: Any = None

    @property
    def state(self) -> Any:
        cfg = self.record.configuration
        if cfg is not self._list:
            self._list = cfg
            self._value = (cfg[0] if len(cfg) == 1 else OrderedSet(cfg)) if cfg else None
        return self._value

    @state.setter
    def state(self, value: Any) -> None:
        if value is None:
            cfg = []
        elif isinstance(value, str):
            cfg = [value]
        else:
            cfg = [str(v) for v in value]
        self.record.configuration = cfg
        self._list, self._value = cfg, (value if cfg else None)


def _dispatcher(name: str, bind: Callable[..., Any]) -> Callable[..., Any]:
    """A callback shared by every chart of a class: calls ``name`` on the chart at hand."""

    def dispatch(*args: Any, **kwargs: Any) -> Any:
        bound = bind(*args, **kwargs)
        return getattr(kwargs["machine"], name)(*bound.args, **bound.kwargs)

    dispatch.__name__ = name
    return dispatch


def _shareable(chart: StateChart) -> CallbacksRegistry | None:
    """The callbacks ``chart`` resolved, as a registry any chart of its class can use; None
    when one of them is not a plain method of the chart (a model's, a listener's)."""
    shared = CallbacksRegistry()
    owner_id = str(id(chart))
    for key, executor in chart._callbacks._registry.items():
        target = shared[key]
        for wrapper in executor:
            name, _, owner = wrapper.unique_key.rpartition("@")
            method = getattr(chart, name, None)
            if owner != owner_id or not inspect.ismethod(method) or wrapper._iscoro:
                return None
            bind = SignatureAdapter.from_callable(method).bind_expected
            unique = f"{name}@{type(chart).__qualname__}"
            target.items_already_seen.add(unique)
            target.items.append(
                CallbackWrapper(_dispatcher(name, bind), wrapper.condition, wrapper.meta, unique)
            )
    return shared


def days_text(delta: timedelta, protocol: Protocol) -> str:
    days = protocol_days(delta, protocol.time_scale)
    if abs(days) >= 2:
        return f"{days:.0f} days"
    hours = days * 24
    # A 90-minute thaw window must not read "2 hours": short spans go in minutes.
    if abs(hours) < 3 and abs(hours - round(hours)) > 1e-6:
        minutes = round(hours * 60)
        return f"{minutes} minutes" if minutes != 1 else "1 minute"
    return f"{hours:.0f} hours" if round(hours) != 1 else "1 hour"


class PathwayChart(StateChart):  # type: ignore[misc]
    """Base of the therapy charts: guards (as transition validators) and recorded facts."""

    allow_event_without_transition = False
    # An exception in a guard must reach the caller, never become an internal event.
    catch_errors_as_events = False

    therapy: ClassVar[str]
    # Resolved once per chart class (see _register_callbacks), keyed by the class itself.
    _shared_callbacks: ClassVar[dict[type, CallbacksRegistry]] = {}

    def __init__(self, record: PathwayRecord, protocol: Protocol):
        self.record = record
        self.protocol = protocol
        super().__init__(model=_RecordBinding(record))
        if record.history:
            self.history_values = {
                key: [self.states_map[value] for value in values]
                for key, values in record.history.items()
            }

    def _register_callbacks(self, listeners: list[object]) -> None:
        # The library resolves every callback name of every state and transition for each
        # new chart (most of a rebuild's time, and most of a chart's memory). The callbacks
        # are this class's methods, so they are resolved once per class, into a registry
        # whose entries call the method on the chart at hand (``machine``): read-only once
        # built, shared by every chart of the class. Tests: tests/test_chart_sharing.py.
        cls = type(self)
        shared = PathwayChart._shared_callbacks.get(cls)
        if shared is not None and not listeners:
            self._callbacks = shared
            return
        super()._register_callbacks(listeners)
        if not listeners:
            registry = _shareable(self)
            if registry is not None:
                registry.async_or_sync()
                self._callbacks = PathwayChart._shared_callbacks.setdefault(cls, registry)

    def add_listener(self, *listeners: object) -> Any:
        raise TypeError("pathway charts share their callbacks: they take no listeners")

    # ----- reading the chart -------------------------------------------------------------
    @property
    def state_ids(self) -> list[str]:
        return [str(v) for v in self.configuration_values]

    @property
    def leaf(self) -> str:
        return self.state_ids[-1] if self.state_ids else "unknown"

    @property
    def finished(self) -> bool:
        return self.is_terminated or any(s in EXITS for s in self.state_ids)

    def allowed_now(self) -> list[str]:
        """Events that may be sent from the current configuration (before guards)."""
        if self.finished:
            return [AFTER_END] if self.reports_outstanding() else []
        return list(
            dict.fromkeys(
                event.id
                for state in self.configuration
                for event in state.transitions.unique_events
            )
        )

    def reports_outstanding(self) -> bool:
        """Safety reports still due for adverse events recorded on this pathway."""
        return any(
            report not in ae.reports
            for ae in self.record.adverse_events
            for report in ae.reports_due()
        )

    # ----- checking and applying ---------------------------------------------------------
    def check(self, event: str, action: StaffAction, now: datetime) -> None:
        """Raise the ``PathwayError`` that sending ``event`` would raise; change nothing."""
        if event not in EVENT_PAYLOADS:
            raise e.UnknownEvent(
                f"'{event}' is not a pathway action.", event=event, state=self.leaf
            )
        transitions = [] if self.finished else list(self._transitions_for(event))
        allowed = self.allowed_now() if not transitions else [event]
        if event not in allowed:
            raise e.ActionNotAllowedNow(
                f"'{event}' cannot be done while the pathway is at '{self.leaf}'. "
                f"Possible now: {', '.join(sorted(allowed)) or 'nothing (the pathway has ended)'}.",
                event=event,
                state=self.leaf,
            )
        if self.finished:
            # The pathway has ended; only safety reports still due are accepted.
            self.guard_report_due(action, now)  # type: ignore[arg-type]
            return
        for transition in transitions:
            try:
                self._callbacks.call(
                    transition.validators.key, action=action, now=now, machine=self
                )
            except e.PathwayError as err:
                # Guards are shared by several events: report the one actually sent.
                err.event = event
                raise

    def apply(self, event: str, action: StaffAction, now: datetime) -> None:
        self.check(event, action, now)
        if self.finished:
            self.on_report_adverse_event(action, now)  # type: ignore[arg-type]
            return
        self.send(event, action=action, now=now)
        self.record.history = {
            key: [s.id for s in states] for key, states in self.history_values.items()
        }
        for state in self.state_ids:
            if state in EXITS:
                self.record.outcome = EXITS[state]

    def _transitions_for(self, event: str) -> Iterable[Any]:
        for state in self.configuration:
            for transition in state.transitions:
                if transition.match(event):
                    yield transition

    # ----- guards (validators: they refuse with a reason) --------------------------------
    def _fail(self, cls: type[e.PathwayError], message: str, event: str) -> None:
        raise cls(message, event=event, state=self.leaf)

    def _not_in_future(self, when: datetime, what: str, now: datetime, event: str) -> None:
        if when > now:
            self._fail(e.DateInFuture, f"The {what} date is in the future; check the date.", event)

    def _not_before_birth(self, when: datetime, what: str, event: str) -> None:
        """A date before the patient could have been born is a typo (1900 for 2026): refuse
        it rather than let it pass a washout or a window. Calendar years, on any clock."""
        band = self.record.age_band
        years = max(int(n) for n in band.split("-")) + 1 if band else OLDEST_PATIENT_YEARS
        if when < self.record.referred_at - timedelta(days=366 * years):
            born = (
                f"the patient was born (age band {band})" if band else "any living patient was born"
            )
            self._fail(
                e.DateBeforeBirth,
                f"The {what} date ({when:%Y-%m-%d}) is before {born}; check the date.",
                event,
            )

    def guard_work_up_valid(self, action: a.WorkUp, now: datetime) -> None:
        self._not_in_future(action.completed_at, "work-up", now, "record_work_up")
        self._not_before_birth(action.completed_at, "work-up", "record_work_up")

    def guard_work_up_fresh(self, action: a.MdtmDecision, now: datetime) -> None:
        done = self.record.work_up_completed_at
        window = self.protocol.windows.work_up_validity
        if done is None:
            self._fail(e.WorkUpIncomplete, "No work-up is recorded yet.", "approve_at_mdtm")
            return
        age = now - done
        # "less than 3 months old": a work-up exactly at the window is too old.
        if age >= window:
            self._fail(
                e.StaleWorkUp,
                f"The work-up is {days_text(age, self.protocol)} old; at the MDTM it must be less "
                f"than {days_text(window, self.protocol)} old. Defer the case at the MDTM, record a "
                "new work-up, then present it again.",
                "approve_at_mdtm",
            )
        if self.record.work_up_missing:
            self._fail(
                e.WorkUpIncomplete,
                "The work-up is incomplete (missing: "
                f"{', '.join(self.record.work_up_missing)}); defer and re-present it.",
                "approve_at_mdtm",
            )

    def guard_binome_signed(self, action: a.MdtmDecision, now: datetime) -> None:
        if person_key(action.ard_specialist) == person_key(action.cell_therapy_specialist):
            self._fail(
                e.BinomeIncomplete,
                "The MDTM decision needs two different people: the autoimmune-disease "
                "specialist and the cell-therapy specialist.",
                "mdtm",
            )
        if person_key(action.actor) not in {
            person_key(action.ard_specialist),
            person_key(action.cell_therapy_specialist),
        }:
            self._fail(
                e.BinomeIncomplete,
                f"{action.actor} is not one of the two signatories of this MDTM decision.",
                "mdtm",
            )

    def guard_washout_known(self, action: a.Washout, now: datetime) -> None:
        for stop in action.stopped:
            self._not_in_future(stop.stopped_at, f"{stop.drug} stop", now, "record_washout")
            self._not_before_birth(stop.stopped_at, f"{stop.drug} stop", "record_washout")
            if self.protocol.washout_rule(stop.drug) is None:
                known = ", ".join(r.drug for r in self.protocol.washout)
                self._fail(
                    e.WashoutIncomplete,
                    f"'{stop.drug}' is not in this protocol's washout table ({known}). "
                    "Ask the cell-therapy specialist how long it must be stopped.",
                    "record_washout",
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
            self._fail(
                e.WashoutIncomplete,
                "Record the washout (drugs stopped and their dates, or none) before booking.",
                "book_apheresis",
            )
        self._not_before_birth(action.slot_at, "leukapheresis slot", "book_apheresis")
        late = self._washout_shortfalls(action.slot_at)
        if late:
            self._fail(
                e.WashoutIncomplete,
                "Washout will not be complete at this slot: " + "; ".join(late) + ".",
                "book_apheresis",
            )

    def guard_washout_complete(self, action: a.Apheresis, now: datetime) -> None:
        late = self._washout_shortfalls(now)
        if late:
            self._fail(
                e.WashoutIncomplete,
                "Washout is not complete, leukapheresis must wait: " + "; ".join(late) + ".",
                "record_apheresis",
            )

    def guard_coi_matches(self, action: a.ProductReceipt | a.Thaw, now: datetime) -> None:
        expected = self.record.product.coi_id
        if expected is None or action.bag_coi_id.strip().upper() != expected.strip().upper():
            self._fail(
                e.IdentityMismatch,
                f"The bag identifier {action.bag_coi_id} does not match this patient's "
                "chain-of-identity identifier. Do not use the bag: quarantine it and call "
                "the cell-therapy unit.",
                "chain_of_identity",
            )

    def guard_fit_for_treatment(self, action: a.PreInfusionCheck, now: datetime) -> None:
        if action.active_infection:
            self._fail(
                e.ActiveInfection,
                "An active infection postpones treatment: record the check again once it is "
                "resolved.",
                "clear_for_treatment",
            )
        if not action.cardiac_check_ok:
            self._fail(
                e.NotClearedForTreatment,
                "The cardiac re-check is not satisfactory; the binôme must review it.",
                "clear_for_treatment",
            )
        minimum = self.protocol.tocilizumab_min_doses
        if action.tocilizumab_doses_on_site < minimum:
            self._fail(
                e.NotClearedForTreatment,
                f"Only {action.tocilizumab_doses_on_site} dose(s) of tocilizumab on site; the "
                f"protocol requires at least {minimum} before a CAR-T infusion.",
                "clear_for_treatment",
            )

    def guard_product_on_site(self, action: StaffAction, now: datetime) -> None:
        product = self.record.product
        if product.received_at is None or product.quarantined:
            self._fail(
                e.ProductNotOnSite,
                "The product is not on site (received and out of quarantine); "
                "treatment starts only once it is.",
                "start_lymphodepletion",
            )

    def guard_not_febrile(self, action: StaffAction, now: datetime) -> None:
        fever = self.record.last_fever_at
        window = self.protocol.windows.afebrile_before_infusion
        if fever is not None and now - fever < window:
            self._fail(
                e.NotAfebrile,
                f"Last fever {days_text(now - fever, self.protocol)} ago; thawing and infusion wait until the "
                f"patient has been afebrile for {days_text(window, self.protocol)} "
                f"({days_text(window - (now - fever), self.protocol)} to go).",
                "infuse",
            )

    def guard_two_person_check(self, action: a.Infusion, now: datetime) -> None:
        people = {person_key(p) for p in action.checked_by}
        if len(people) < 2:
            self._fail(
                e.TwoPersonCheckMissing,
                "The bedside chain-of-identity check needs two different people.",
                "infuse",
            )

    def guard_thaw_window(self, action: a.Infusion, now: datetime) -> None:
        if action.thawed_at is not None:
            self._not_in_future(action.thawed_at, "thaw", now, "infuse")
            self._not_before_birth(action.thawed_at, "thaw", "infuse")
        # The earliest known thaw time counts: a payload cannot make a bag younger.
        known = [t for t in (action.thawed_at, self.record.product.thawed_at) if t is not None]
        if not known:
            return
        thawed = min(known)
        window = self.protocol.windows.thaw_to_infusion
        if now - thawed > window:
            self._fail(
                e.OutsideWindow,
                f"The product was thawed {days_text(now - thawed, self.protocol)} ago; it must be "
                f"infused within {days_text(window, self.protocol)} of thawing.",
                "infuse",
            )

    def guard_lymphodepletion_window(self, action: a.Infusion, now: datetime) -> None:
        ended = self.record.lymphodepletion_ended_at
        w = self.protocol.windows
        if ended is None:
            return
        since = now - ended
        if since < w.infusion_after_lymphodepletion_min:
            self._fail(
                e.OutsideWindow,
                f"Lymphodepletion ended {days_text(since, self.protocol)} ago; thawing and infusion "
                f"are possible from {days_text(w.infusion_after_lymphodepletion_min, self.protocol)}"
                f" after it ({days_text(w.infusion_after_lymphodepletion_min - since, self.protocol)}"
                " to go).",
                "infuse",
            )
        if since > w.infusion_after_lymphodepletion_max:
            self._fail(
                e.OutsideWindow,
                f"Lymphodepletion ended {days_text(since, self.protocol)} ago, beyond the "
                f"{days_text(w.infusion_after_lymphodepletion_max, self.protocol)} window: the "
                "binôme decides whether to repeat it (repeat_lymphodepletion).",
                "infuse",
            )

    def guard_report_due(self, action: a.SafetyReport, now: datetime) -> None:
        events = self.record.adverse_events
        if not 1 <= action.adverse_event <= len(events):
            self._fail(
                e.MalformedAction,
                f"There is no adverse event #{action.adverse_event} on this pathway "
                f"({len(events)} recorded).",
                "report_adverse_event",
            )
            return
        ae = events[action.adverse_event - 1]
        due = ae.reports_due()
        if action.report not in due:
            self._fail(
                e.ActionNotAllowedNow,
                f"Adverse event #{ae.seq} needs no {action.report} report"
                + (f" (due: {', '.join(due)})." if due else " (no report is due)."),
                "report_adverse_event",
            )
        if action.report in ae.reports:
            self._fail(
                e.ActionNotAllowedNow,
                f"The {action.report} report of adverse event #{ae.seq} is already recorded.",
                "report_adverse_event",
            )

    def guard_visit_known(self, action: a.VisitRecord, now: datetime) -> None:
        labels = [v.label for v in self.protocol.visits]
        if action.visit not in labels:
            self._fail(
                e.MalformedAction,
                f"'{action.visit}' is not a visit of this protocol ({', '.join(labels)}).",
                "record_visit",
            )
        if action.visit in self.record.visits:
            self._fail(
                e.ActionNotAllowedNow, f"Visit {action.visit} is already recorded.", "record_visit"
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
            self._fail(
                e.VisitsOutstanding,
                f"Short-term visits not yet recorded: {', '.join(missing)}.",
                "start_long_term_follow_up",
            )

    def guard_all_visits_done(self, action: StaffAction, now: datetime) -> None:
        missing = self._outstanding(long_term=None)
        if missing:
            self._fail(
                e.VisitsOutstanding,
                f"Follow-up visits not yet recorded: {', '.join(missing)}.",
                "complete_follow_up",
            )

    # ----- facts each accepted event records ---------------------------------------------
    def on_record_work_up(self, action: a.WorkUp, now: datetime) -> None:
        self.record.work_up_completed_at = action.completed_at
        self.record.work_up_missing = list(action.missing)

    def on_approve_at_mdtm(self, action: a.MdtmDecision, now: datetime) -> None:
        self.record.mdtm_approved_at = now

    def on_defer_at_mdtm(self, action: a.MdtmDecision, now: datetime) -> None:
        self.record.mdtm_deferrals += 1

    def on_record_consent(self, action: a.Consent, now: datetime) -> None:
        self.record.consent_at = now

    def on_record_washout(self, action: a.Washout, now: datetime) -> None:
        self.record.washout = [
            DrugStopRecord(drug=s.drug, stopped_at=s.stopped_at) for s in action.stopped
        ]
        self.record.prednisone_mg_per_day = action.prednisone_mg_per_day
        self.record.washout_recorded = True

    def on_book_apheresis(self, action: a.ApheresisBooking, now: datetime) -> None:
        self.record.apheresis_slot_at = action.slot_at

    def on_record_apheresis(self, action: a.Apheresis, now: datetime) -> None:
        self.record.product.coi_id = action.coi_id
        self.record.product.collections += 1

    def on_release_product(self, action: a.ProductRelease, now: datetime) -> None:
        self.record.product.released_at = now

    def on_order_product(self, action: a.ProductOrder, now: datetime) -> None:
        self.record.product.coi_id = action.coi_id
        self.record.product.doses_ordered = action.doses

    def on_receive_product(self, action: a.ProductReceipt, now: datetime) -> None:
        self.record.product.received_at = now
        self.record.product.storage_location = action.storage_location

    def on_quarantine_product(self, action: a.Quarantine, now: datetime) -> None:
        self.record.product.quarantined = True

    def on_release_from_quarantine(self, action: a.ProductReceipt, now: datetime) -> None:
        self.record.product.quarantined = False
        self.record.product.received_at = now
        self.record.product.storage_location = action.storage_location

    def on_clear_for_treatment(self, action: a.PreInfusionCheck, now: datetime) -> None:
        self.record.cleared_at = now

    def on_start_lymphodepletion(self, action: a.Lymphodepletion, now: datetime) -> None:
        self.record.lymphodepletion_started_at = now

    def on_repeat_lymphodepletion(self, action: StaffAction, now: datetime) -> None:
        self.record.lymphodepletion_started_at = now
        self.record.lymphodepletion_ended_at = None
        self.record.lymphodepletion_repeats += 1

    def on_discard_thawed_product(self, action: StaffAction, now: datetime) -> None:
        self.record.product.thawed_at = None
        self.record.product.discarded += 1

    def on_complete_lymphodepletion(self, action: a.Lymphodepletion, now: datetime) -> None:
        self.record.lymphodepletion_ended_at = now

    def on_record_fever(self, action: a.Fever, now: datetime) -> None:
        self.record.last_fever_at = now

    def on_thaw_product(self, action: a.Thaw, now: datetime) -> None:
        self.record.product.thawed_at = now

    def on_infuse(self, action: a.Infusion, now: datetime) -> None:
        self.record.infusions.append(now)
        self.record.product.thawed_at = None

    def on_record_adverse_event(self, action: a.AdverseEvent, now: datetime) -> None:
        self.record.adverse_events.append(
            AdverseEventRecord(
                seq=len(self.record.adverse_events) + 1,
                at=now,
                kind=action.kind,
                grade=action.grade,
                serious=action.serious,
                suspected_unexpected=action.suspected_unexpected,
                life_threatening_or_fatal=action.life_threatening_or_fatal,
                ice_score=action.ice_score,
            )
        )

    def on_report_adverse_event(self, action: a.SafetyReport, now: datetime) -> None:
        self.record.adverse_events[action.adverse_event - 1].reports[action.report] = now

    def on_transfer_to_icu(self, action: StaffAction, now: datetime) -> None:
        self.record.icu_transfers += 1

    def on_discharge(self, action: StaffAction, now: datetime) -> None:
        self.record.discharged_at = now

    def on_record_visit(self, action: a.VisitRecord, now: datetime) -> None:
        self.record.visits[action.visit] = now

    def before_hold(self, action: StaffAction, now: datetime) -> None:
        # "before": by the time "on" callbacks run the pathway states are already exited.
        self.record.held_from = self.leaf

    def on_resume(self, action: StaffAction, now: datetime) -> None:
        self.record.held_from = None
