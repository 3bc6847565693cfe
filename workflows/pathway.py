"""PathwayWorkflow: one durable workflow per patient pathway.

It owns the ``PathwayRecord``, keeps the therapy's chart live on the workflow object
(restored from the record when a run starts), takes staff actions as Updates named after
the chart events (validated before they reach history), arms the protocol's deadlines as
durable timers, escalates missed ones through activities, and keeps search attributes and
current details up to date for the Web UI.

Its centre tells it (signal ``centre_notice``) what the centre misses for the pathway's
therapy and how much tocilizumab is on site: a lapsed prerequisite is kept as an alert in the
record, shown in the details and sent to the care coordinator; a CAR-T pathway cannot be
cleared for treatment, thaw or infuse while the centre reports less tocilizumab than the
protocol requires.
"""

# No `from __future__ import annotations` here: the sandbox imports this module again for
# every run, and temporalio reads the handlers' type hints each time; as strings they are
# compiled and evaluated anew (0.2 of the 1.3 ms it takes to create a run's instance).
from collections.abc import Sequence
from datetime import timedelta
from typing import Any

from temporalio import workflow
from temporalio.common import RawValue
from temporalio.exceptions import ApplicationError

# `import workflows.search`, not `from workflows import search`: a name in a from-list is
# imported past the sandbox's hook, so the module would be loaded again for every run.
with workflow.unsafe.imports_passed_through():
    from models import contracts
    from models.actions import EVENT_PAYLOADS, StaffAction, parse_action
    from models.centre_notice import CentreNotice
    from models.notifications import Escalation
    from models.pathway import (
        ActionReceipt,
        AllowedActions,
        DeadlineView,
        PathwayInput,
        PathwayOutcome,
        Timeline,
    )
    from models.preparation import TaskView
    from models.protocol import Protocol
    from models.record import AuditEntry, PathwayRecord
    from models.registry_export import FormView, export_form, form_views
    from models.roles import Role, roles_allowed
    from states import errors
    from states.base import PathwayChart
    from states.deadlines import escalate_due, reconcile
    from states.grade_escalation import follow_grades, notified
    from states.migrations import migrate
    from states.preparation import task_views
    from states.registry import CHARTS
    from states.withdrawal import safety_follow_up_deadlines
    from workflows.centre_gate import CENTRE_GATE_PATCH, check_centre, follow_centre
    from workflows.follow_up_years import yearly_visits
    from workflows.identity import audit_fields, verify_sender, verify_two_person_signer
    from workflows.incidents import (
        PRODUCT_PATCH,
        REFUSAL_PATCH,
        earlier_refusal,
        log_product_deviation,
        log_refusal,
        product_deviation,
    )
    from workflows.lean_runs import fetch_protocol, next_run
    from workflows.notify import notify_with_fallback
    from workflows.patches import CARRIED_ATTRIBUTES, RECEIPT_AT_RUN_END, patched
    from workflows.preparation import reconcile_more, track_new_pathway
    from workflows.receipts import check_repeat, receipt
    from workflows.record_keeping import WriteCause, keep_records, keep_records_due
    from workflows.referral_record import new_record
    from workflows.rules_in_force import rules_in_force
    from workflows.updates import current_update_id, decode_frozen, rejection
    from workflows.visibility import Visibility

STARTING = (
    "The pathway is starting its next follow-up year (its protocol is being read from the "
    "record store): nothing was changed. Send the action again in a moment."
)


def _always() -> bool:
    return True


@workflow.defn(name=contracts.PATHWAY_WORKFLOW)
class PathwayWorkflow:
    @workflow.init
    def __init__(self, data: PathwayInput) -> None:
        # None in a lean run until run() has fetched it (workflows/lean_runs.py).
        self._protocol: Protocol | None = data.protocol
        self.record: PathwayRecord = data.record or new_record(workflow.info().workflow_id, data)
        # Rules added since the first recorded histories, as this run reached them.
        self._rules = rules_in_force()
        self._chart: PathwayChart | None = None
        self._unreadable: ApplicationError | None = None
        if self._protocol is not None:
            self._chart, self._unreadable = self._open_chart()
        self._changed = False
        # The run is continuing as new: actions that ended it get their receipts.
        self._continuing = False
        self._visibility = Visibility(
            carried=data.record is not None and patched(CARRIED_ATTRIBUTES)
        )
        # Centre lapses heard by signal, to be sent to the care coordinator by the run loop.
        self._centre_news: list[Escalation] = []
        # What an observation's CRS/ICANS grade sets off, to be sent at once by the run loop.
        self._grade_alerts: list[Escalation] = []
        # Follow-up years recorded when this run started: a new one ends the run.
        self._yearly_visits: frozenset[str] = frozenset()
        self._years_at_start = 0
        if self._protocol is not None:
            self._count_years()
        if data.record is None:
            # Arm the first deadlines here, not in run(): an Update can be handled in the
            # first activation, before run() starts, and must find them armed.
            track_new_pathway(self.record)
            reconcile(self.record, self.protocol, [], workflow.now())
            reconcile_more(self.record, self.protocol, [], workflow.now())

    @workflow.run
    async def run(self, data: PathwayInput) -> PathwayOutcome:
        if self._protocol is None:
            # A lean run: its protocol version from the store (actions wait: RunStarting).
            assert data.protocol_ref is not None
            self._protocol = await fetch_protocol(data.protocol_ref)
            self._chart, self._unreadable = self._open_chart()
            self._count_years()
        if self._unreadable is not None:
            # Fails the run for good: a workflow task retried would fail the same way.
            raise self._unreadable
        self._publish()
        # Safety reports due when the pathway ends keep it open, escalating, until recorded.
        while not self.chart.finished or self.chart.reports_outstanding():
            await self._wait_for_change_or_deadline()
            for escalation in escalate_due(self.record, self.protocol, workflow.now()):
                await self._notify(escalation)
                self._changed = True
            while self._centre_news:
                await self._notify(self._centre_news.pop(0), action="notify")
            while self._grade_alerts:
                alert = self._grade_alerts.pop(0)
                await self._notify(alert, action="inform")
                notified(self.record, self.protocol, alert.deadline_key, workflow.now())
                self._changed = True
            if self._changed:
                self._changed = False
                self._publish()
            await keep_records_due(self.record, self.protocol, self._should_continue_as_new())
            if self._should_continue_as_new():
                self._continuing = True
                await workflow.wait_condition(workflow.all_handlers_finished)
                self.record.run += 1
                workflow.continue_as_new(next_run(self.record, self.protocol, data.protocol_ref))
        await workflow.wait_condition(workflow.all_handlers_finished)
        await keep_records(self.record, self.protocol, WriteCause.CLOSED)
        self._publish()
        return PathwayOutcome(
            pathway_id=self.record.pathway_id,
            outcome=self.record.outcome or "ended",
            state=self.record.state,
            finished_at=workflow.now(),
        )

    @property
    def protocol(self) -> Protocol:
        if self._protocol is None:
            raise rejection(errors.RunStarting(STARTING))
        return self._protocol

    @property
    def chart(self) -> PathwayChart:
        if self._chart is None:
            raise self._unreadable or rejection(errors.RunStarting(STARTING))
        return self._chart

    def _open_chart(self) -> tuple[PathwayChart | None, ApplicationError | None]:
        """The therapy's chart on the record, brought to the chart's version; or, when the
        record names a state the chart cannot map, why this pathway cannot go on."""
        chart = CHARTS[self.record.therapy]
        try:
            migrate(self.record, chart)
        except errors.UnknownChartState as err:
            return None, rejection(err, non_retryable=True)
        return chart(self.record, self.protocol, rules=self._rules), None

    # ----- staff actions -----------------------------------------------------------------
    @workflow.update(dynamic=True)
    async def act(self, event: str, args: Sequence[RawValue]) -> ActionReceipt:
        update_id = current_update_id()
        if (applied := self.record.entry_for_update(update_id)) is not None:
            # The same update ID delivered again (e.g. after continue-as-new): applied once.
            return self._receipt(applied, duplicate=True)
        # Decoded by the validator already (a lookup here); in a replay validators do not
        # run and the handler decodes the payload itself.
        action = self._decode(event, args)
        if earlier := earlier_refusal(self.record, update_id, event, action, self.chart.leaf):
            raise earlier
        now = workflow.now()
        before = list(self.record.configuration)
        from_state = self.chart.leaf
        try:
            self._check_centre(event, replayable=True)
            self.chart.apply(event, action, now)
        except errors.PathwayError as err:
            # A refusal on a safety rule (let through by the validator) leaves an incident;
            # any other means the record changed between validation and handling.
            if isinstance(err, errors.SafetyRefusal) and patched(REFUSAL_PATCH):
                log_refusal(self.record, event, action, err, now=now, update_id=update_id)
                self._changed = True
            raise rejection(err) from err
        entry = AuditEntry(
            seq=self.record.audit_seq + 1,
            at=now,
            event=event,
            role=action.role,
            reason=action.reason,
            update_id=update_id,
            from_state=from_state,
            to_state=self.chart.leaf,
            **audit_fields(event, action),
        )
        self.record.append_audit(entry)
        if product_deviation(entry) is not None and patched(PRODUCT_PATCH):
            log_product_deviation(self.record, entry)
        reconcile(self.record, self.protocol, before, now)
        safety_follow_up_deadlines(self.record, self.protocol, before, now)
        observed = self.record.grading.observations[-1] if event == "record_observation" else None
        self._grade_alerts += follow_grades(self.record, self.protocol, observed, now)
        reconcile_more(self.record, self.protocol, before, now)
        self._changed = True
        done = self._receipt(entry)
        if self._should_continue_as_new() and patched(RECEIPT_AT_RUN_END):
            # It ends the run: answered in the workflow task that continues as new, after
            # the run-end write, so that the client's next action reaches the next run
            # (one sent to a run as it continues is retried a second later).
            await workflow.wait_condition(lambda: self._continuing)
        return done

    @act.validator
    def validate_act(self, event: str, args: Sequence[RawValue]) -> None:
        update_id = current_update_id()
        action = self._decode(event, args)
        if update_id and (applied := self.record.entry_for_update(update_id)) is not None:
            # A repeat reaching a later run (the server answers one within a run itself):
            # the handler returns the original receipt; another action under it is refused.
            try:
                check_repeat(applied, event, action, update_id=update_id, state=self.chart.leaf)
            except errors.PathwayError as err:
                raise rejection(err) from err
            return
        # The typed actor and role are the signer's (or the worker checks no identities).
        verified = verify_sender(event, action)
        if earlier := earlier_refusal(self.record, update_id, event, action, self.chart.leaf):
            raise earlier
        allowed = roles_allowed(event)
        if action.role not in allowed:
            raise rejection(
                errors.RoleNotAllowed(
                    f"The {action.role.label} role cannot do '{event}'. It needs: "
                    f"{' or '.join(sorted(r.label for r in allowed))}."
                )
            )
        try:
            self.chart.check(event, action, workflow.now())
            self._check_centre(event)
        except errors.SafetyRefusal:
            # Through to the handler, which keeps the incident and then refuses.
            return
        except errors.PathwayError as err:
            raise rejection(err) from err
        verify_two_person_signer(action, verified)

    def _check_centre(self, event: str, *, replayable: bool = False) -> None:
        """Refuse a gated step on what the centre signalled (workflows/centre_gate.py); in
        the handler (``replayable``) the gate on lapses is asked for its patch."""
        check_centre(
            self.record,
            self.protocol,
            event,
            self.chart.leaf,
            gate_lapses=(lambda: patched(CENTRE_GATE_PATCH)) if replayable else _always,
        )

    def _decode(self, event: str, args: Sequence[RawValue]) -> StaffAction:
        if event not in EVENT_PAYLOADS:
            raise rejection(
                errors.UnknownEvent(
                    f"'{event}' is not a pathway action. Possible now: "
                    f"{', '.join(self.chart.allowed_now()) or 'nothing'}."
                )
            )
        return decode_frozen(
            event, args, parse_action, what="details", malformed=errors.MalformedAction
        )

    def _receipt(self, entry: AuditEntry, *, duplicate: bool = False) -> ActionReceipt:
        now = self.chart.leaf, self.chart.allowed_now()
        return receipt(self.record.pathway_id, entry, *now, duplicate=duplicate)

    # ----- centre --------------------------------------------------------------------------
    @workflow.signal(name=contracts.CENTRE_NOTICE_SIGNAL)
    def centre_notice(self, notice: CentreNotice) -> None:
        """The centre's readiness changed (or was handed over at referral)."""
        news, changed = follow_centre(self.record, notice, workflow.now())
        self._centre_news.extend(news)
        if changed:
            self._changed = True

    # ----- queries -----------------------------------------------------------------------
    @workflow.query
    def get_record(self) -> PathwayRecord:
        return self.record

    @workflow.query
    def timeline(self) -> Timeline:
        return Timeline(entries=self.record.audit)

    @workflow.query
    def deadlines(self) -> list[DeadlineView]:
        now = workflow.now()
        return [DeadlineView.of(d, now) for d in self.record.open_deadlines()]

    @workflow.query
    def preparation(self) -> list[TaskView]:
        """The protocol's preparation tasks on this pathway: open, due later or done."""
        return task_views(self.record, self.protocol)

    @workflow.query
    def registry_forms(self) -> list[FormView]:
        """The registry forms of this pathway: due, overdue, submitted or later."""
        return form_views(self.record, self.protocol)

    @workflow.query
    def registry_export(self, form: str) -> dict[str, Any]:
        """One registry form's fields from the record (the day-100 CRS/ICANS fields…)."""
        return export_form(self.record, self.protocol, form)

    @workflow.query
    def allowed_actions(self, role: Role | None = None) -> AllowedActions:
        events = self.chart.allowed_now()
        if role is not None:
            events = [e for e in events if role in roles_allowed(e)]
        return AllowedActions(role=role, state=self.chart.leaf, events=events)

    # ----- deadlines and escalation ------------------------------------------------------
    async def _wait_for_change_or_deadline(self) -> None:
        wake = self.record.next_wake()
        if wake is None:
            await workflow.wait_condition(lambda: self._changed)
            return
        timeout = wake - workflow.now()
        if timeout <= timedelta(0):
            return
        due = min(self.record.open_deadlines(), key=lambda d: d.wakes_at() or wake)
        summary = due.label if due.level == 0 else f"{due.label}: next escalation"
        try:
            await workflow.wait_condition(
                lambda: self._changed, timeout=timeout, timeout_summary=summary
            )
        except TimeoutError:
            pass

    async def _notify(self, escalation: Escalation, *, action: str = "escalate to") -> None:
        await notify_with_fallback(
            escalation,
            self.protocol.notification_retry,
            action=action,
            log_extra={"pathway_id": escalation.pathway_id, "deadline": escalation.deadline_key},
        )

    def _count_years(self) -> None:
        self._yearly_visits = yearly_visits(self.protocol)
        self._years_at_start = self._follow_up_years()

    def _follow_up_years(self) -> int:
        return sum(1 for label in self.record.visits if label in self._yearly_visits)

    def _should_continue_as_new(self) -> bool:
        """Each follow-up year starts a fresh run (small histories over 15 years, and a
        safe point to pick up new workflow code); so does Temporal's own suggestion."""
        if self.chart.finished:
            return False
        if workflow.info().is_continue_as_new_suggested():
            return True
        return self._follow_up_years() > self._years_at_start

    # ----- visibility --------------------------------------------------------------------
    def _publish(self) -> None:
        self._visibility.publish(self.record, self.protocol)
