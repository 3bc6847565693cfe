"""A pathway chart: the therapy charts' common base, checking and applying staff actions.

A chart is built around a ``PathwayRecord`` and a ``Protocol``: its configuration is read
from and written back to ``record.configuration`` after every transition, and the memory
of its history state to ``record.history``, so a chart rebuilt from the record (a new
workflow run) continues exactly where the last one stopped, holds included.

Events are sent with the staff action and the current time::

    chart = CarTChart(record, protocol)
    chart.check("approve_at_mdtm", action, now)   # raises PathwayError, changes nothing
    chart.apply("approve_at_mdtm", action, now)   # checks again, then transitions

The guards are in states/guards.py, the facts each event records in states/facts.py, the
binding to the chart library in states/binding.py.

Pure: no temporalio, no I/O, no clock; ``now`` always comes in with the event.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import ClassVar

from models.actions import EVENT_PAYLOADS, StaffAction
from models.protocol import Protocol
from models.record import PathwayRecord
from states import errors as e
from states.adverse_events import AdverseEvents
from states.binding import BoundChart
from states.eligibility import EligibilityRules
from states.facts import RecordedFacts
from states.fitness_guards import FitnessGuards
from states.guards import PathwayGuards
from states.mdtm_record import MdtmRecord
from states.monitoring import MonitoringGuards
from states.not_yet import why_not_yet
from states.observations import ObservationRules
from states.preparation import PreparationGuards
from states.product_guards import ProductGuards
from states.registry_deadlines import RegistryGuards
from states.withdrawal import WithdrawalRules

# Final states and what they mean for the record's outcome.
EXITS = {
    "ineligible": "ineligible at MDTM",
    "withdrawn": "consent withdrawn",
    "manufacturing_failed": "manufacturing failure",
    "deceased": "deceased",
    "lost_to_follow_up": "lost to follow-up",
    "completed": "follow-up completed",
}


# The selection phase's rules, the same for every therapy (the charts' work-up, approval
# and deferral/rejection at the MDTM): guard names, checked in this order.
WORK_UP_CHECKS = ("guard_work_up_valid", "guard_work_up_answered", "guard_eligibility_answers")
APPROVAL_CHECKS = (
    "guard_binome_signed",
    "guard_mdtm_recorded",
    "guard_work_up_fresh",
    "guard_organ_function_eligible",
    "guard_eligible",
)
DECISION_CHECKS = ("guard_binome_signed", "guard_mdtm_recorded")

# Safety reporting (EU CTR 536/2014) outlives the pathway: a serious adverse event recorded
# before death or withdrawal must still be reported, so this one event is accepted after the
# end while a report is due.
AFTER_END = "report_adverse_event"


class PathwayChart(
    BoundChart,
    PathwayGuards,
    FitnessGuards,
    ProductGuards,
    MdtmRecord,
    AdverseEvents,
    EligibilityRules,
    ObservationRules,
    WithdrawalRules,
    MonitoringGuards,
    PreparationGuards,
    RegistryGuards,
    RecordedFacts,
):
    """Base of the therapy charts: guards (as transition validators) and recorded facts.

    ``rules`` names the rule sets added since the first recorded histories that apply to
    this chart (e.g. ``states.eligibility.ELIGIBILITY``): the workflow passes those its run
    reached (``workflow.patched``); a chart built without them behaves as before them.
    """

    allow_event_without_transition = False
    # An exception in a guard must reach the caller, never become an internal event.
    catch_errors_as_events = False

    therapy: ClassVar[str]

    def __init__(self, record: PathwayRecord, protocol: Protocol, *, rules: Iterable[str] = ()):
        self.protocol = protocol
        self.rules = frozenset(rules)
        super().__init__(record)

    # ----- reading the chart -------------------------------------------------------------
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
        return self.events_now()

    def why_not_yet(self, event: str) -> str | None:
        """What stands in the way of ``event`` from here, when it is clearly early."""
        where = self.states_map[self.leaf].name if self.leaf in self.states_map else self.leaf
        return why_not_yet(event, self.state_ids, therapy=self.therapy, where=where)

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
        transitions = [] if self.finished else list(self.transitions_for(event))
        allowed = self.allowed_now() if not transitions else [event]
        if event not in allowed:
            possible = ", ".join(sorted(allowed)) or "nothing (the pathway has ended)"
            why = None if self.finished else self.why_not_yet(event)
            raise e.ActionNotAllowedNow(
                f"'{event}' cannot be done yet. {why} The pathway is at '{self.leaf}'. "
                f"Possible now: {possible}."
                if why
                else f"'{event}' cannot be done while the pathway is at '{self.leaf}'. "
                f"Possible now: {possible}.",
                event=event,
                state=self.leaf,
            )
        try:
            if self.finished:
                # The pathway has ended; only safety reports still due are accepted.
                self.guard_report_due(action, now)  # type: ignore[arg-type]
                return
            for transition in transitions:
                self.run_validators(transition, action=action, now=now)
            self.guard_tasks_done(event)
        except e.PathwayError as err:
            # Guards are shared by several events: the refusal names the one actually sent.
            err.event, err.state = event, self.leaf
            raise

    def apply(self, event: str, action: StaffAction, now: datetime) -> None:
        self.check(event, action, now)
        if self.finished:
            self.on_report_adverse_event(action, now)  # type: ignore[arg-type]
            return
        self.send(event, action=action, now=now)
        self.note_tasks_met(event, action, now)
        self.save_history()
        for state in self.state_ids:
            if state in EXITS:
                self.record.outcome = EXITS[state]
