"""CentreWorkflow: one long-running workflow per centre (ID ``centre-<id>``).

It owns the ``CentreRecord`` (the centre's evidence, expiry watches, alerts, audit), takes
evidence as Updates named after what is recorded (``record_icu_access``,
``record_tocilizumab_stock``, ``withdraw_evidence``…) validated before they reach history,
warns ``warn_before`` ahead of each expiry and flags the lapse on the day with a durable
timer, answers readiness queries per therapy, and keeps search attributes
(``CentreReadyCarT``, ``CentreReadyMsc``, ``CentreNextExpiry``, ``Centre``) and current
details up to date for the Web UI.

Whenever what a therapy is missing changes (a lapse, a renewal, a withdrawal) or the
tocilizumab stock changes, the open pathways at the centre are told through the
``notify_centre_pathways`` activity (signal ``centre_notice``); the programme lead hears of
each warning and lapse through ``notify_escalation``.

Lean runs (patch ``centre-lean-runs``): when Temporal suggests continue-as-new, the entries
and alerts of the run go to the record store first (``keep_centre_records``, keyed by centre
and seq), and the next run carries only what is open (``CentreRecord.lean``): the evidence and
its watches, the open alerts, the last entries for their update IDs, and the audit chain's
head seq and hash. If the store cannot be written, the run goes on and tries again
``KEEP_RETRY`` later (real time).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

from temporalio import workflow
from temporalio.common import RawValue, RetryPolicy, SearchAttributeUpdate
from temporalio.exceptions import ActivityError, ApplicationError

# `import workflows.search`, not `from workflows import search`: a name in a from-list is
# imported past the sandbox's hook, so the module would be loaded again for every run.
with workflow.unsafe.imports_passed_through():
    import workflows.search as search
    from models import contracts
    from models.centre_actions import (
        CENTRE_EVENTS,
        CENTRE_ROLE_MATRIX,
        CentreAction,
        CentreRefusal,
        EvidenceReceipt,
        RecordEvidence,
        WithdrawEvidence,
        check_evidence,
        parse_centre_action,
    )
    from models.centre_notice import CentreBroadcast, CentreNotice, notice
    from models.centre_policy import CentrePolicy
    from models.centre_record import (
        AlertKind,
        CentreAlertEntry,
        CentreAuditEntry,
        CentreInput,
        CentreRecord,
    )
    from models.centre_writes import CentreRecordWrite
    from models.notifications import Escalation
    from models.protocol import Therapy
    from models.readiness import TherapyReadiness, readiness
    from models.refusals import Refusal
    from models.roles import Role
    from states.errors import RoleNotAllowed, UnknownEvent
    from workflows.centre_text import broadcast_summary, centre_details
    from workflows.identity import recorded_signer, verify_sender
    from workflows.notify import notify_with_fallback
    from workflows.updates import current_update_id, decode, rejection

# A broadcast that failed every retry is tried again this long after (real time).
BROADCAST_RETRY = timedelta(minutes=5)
# A store write that failed every retry is tried again this long after (real time).
KEEP_RETRY = timedelta(minutes=5)
#: the patch that made the centre's runs lean (docs/records.md)
CENTRE_LEAN_PATCH = "centre-lean-runs"


@workflow.defn(name=contracts.CENTRE_WORKFLOW)
class CentreWorkflow:
    @workflow.init
    def __init__(self, data: CentreInput) -> None:
        self.policy: CentrePolicy = data.policy
        if data.record is not None:
            self.record: CentreRecord = data.record
        else:
            assert data.centre is not None  # CentreInput guarantees one source
            self.record = CentreRecord(centre=data.centre, opened_at=workflow.now())
        self._changed = False
        self._retry_broadcast_at: datetime | None = None
        self._retry_keep_at: datetime | None = None
        self._published: dict[str, object] = {}

    @workflow.run
    async def run(self, data: CentreInput) -> None:
        while True:
            self._changed = False
            now = workflow.now()
            self.record.sync_watches(self.policy, now)
            for alert in self.record.due_alerts(self.policy, now):
                await self._notify(alert)
            await self._tell_pathways()
            self._publish()
            if workflow.info().is_continue_as_new_suggested() and self._may_keep(now):
                await workflow.wait_condition(workflow.all_handlers_finished)
                if not workflow.patched(CENTRE_LEAN_PATCH):
                    self.record.run += 1
                    workflow.continue_as_new(CentreInput(policy=self.policy, record=self.record))
                if await self._keep_records():
                    await workflow.wait_condition(workflow.all_handlers_finished)
                    self.record.run += 1
                    lean = self.record.lean()
                    workflow.continue_as_new(CentreInput(policy=self.policy, record=lean))
            await self._wait_for_change_or_expiry()

    # ----- the record store ----------------------------------------------------------------
    def _may_keep(self, now: datetime) -> bool:
        return self._retry_keep_at is None or now >= self._retry_keep_at

    async def _keep_records(self) -> bool:
        """Write what the store does not hold yet; False (tried again later) if it failed."""
        write = CentreRecordWrite(
            centre=self.record.centre.id,
            run=self.record.run,
            audit=self.record.unstored_audit(),
            alerts=self.record.unstored_alerts(),
        )
        try:
            await workflow.execute_activity(
                contracts.KEEP_CENTRE_RECORDS,
                write,
                start_to_close_timeout=timedelta(minutes=1),
                # A few seconds of tries; then the run goes on and tries KEEP_RETRY later.
                retry_policy=RetryPolicy(maximum_attempts=3),
                summary=write.summary()[:200],
            )
        except ActivityError:
            workflow.logger.warning(
                "keeping centre records failed", extra={"centre": self.record.centre.id}
            )
            self._retry_keep_at = workflow.now() + KEEP_RETRY
            return False
        self._retry_keep_at = None
        if write.audit:
            self.record.stored_audit_seq = write.audit[-1].seq
        if write.alerts:
            self.record.stored_alert_seq = write.alerts[-1].seq
        return True

    # ----- evidence ----------------------------------------------------------------------
    @workflow.update(dynamic=True)
    def record_evidence(self, event: str, args: Sequence[RawValue]) -> EvidenceReceipt:
        update_id = current_update_id()
        if (applied := self.record.entry_for_update(update_id)) is not None:
            # The same update ID delivered again (e.g. after continue-as-new): applied once.
            return self._receipt(applied, duplicate=True)
        action = self._decode(event, args)
        now = workflow.now()
        self._check(event, action, now)
        centre = self.record.centre
        if isinstance(action, WithdrawEvidence):
            item = centre.item(action.item)
            if item is None:  # refused by _check already; never fail the workflow task
                raise rejection(Refusal(f"No evidence '{action.item}'.", rule="UnknownEvidence"))
            centre.withdraw(action.item)
            key = item.key
            self.record.raise_alerts(
                [
                    CentreAlertEntry(
                        at=now,
                        kind=AlertKind.WITHDRAWN,
                        key=key,
                        label=item.label,
                        therapies=self.policy.concerns(item),
                    )
                ]
            )
            data: dict[str, Any] = {"item": key}
        elif isinstance(action, RecordEvidence):
            key = centre.record(event, action.evidence)
            data = action.evidence.model_dump(mode="json")
        else:
            raise rejection(malformed_evidence(f"'{event}' records nothing."))
        actor, _ = recorded_signer(action)
        entry = CentreAuditEntry(
            seq=0,  # numbered after the chain's head by append_audit
            at=now,
            event=event,
            actor=actor,
            role=action.role,
            reason=action.reason,
            update_id=update_id,
            item=key,
            data=data,
        )
        self.record.append_audit(entry)
        self._changed = True
        return self._receipt(entry)

    @record_evidence.validator
    def validate_record_evidence(self, event: str, args: Sequence[RawValue]) -> None:
        if self.record.entry_for_update(current_update_id()) is not None:
            return
        action = self._decode(event, args)
        verify_sender(event, action)
        self._check(event, action, workflow.now())

    def _check(self, event: str, action: CentreAction, now: datetime) -> None:
        allowed = CENTRE_ROLE_MATRIX[event]
        if action.role not in allowed:
            raise rejection(
                RoleNotAllowed(
                    f"A {action.role.label} cannot do '{event}'. It needs: "
                    f"{' or '.join(sorted(r.label for r in allowed))}."
                )
            )
        try:
            check_evidence(self.record.centre, event, action, now)
        except CentreRefusal as err:
            raise ApplicationError(err.message, {"event": event}, type=err.rule) from None

    def _decode(self, event: str, args: Sequence[RawValue]) -> CentreAction:
        if event not in CENTRE_EVENTS:
            raise rejection(
                UnknownEvent(
                    f"'{event}' is not a centre action. Possible: {', '.join(CENTRE_EVENTS)}."
                )
            )
        return decode(
            event, args, parse_centre_action, what="evidence", malformed=malformed_evidence
        )

    def _receipt(self, entry: CentreAuditEntry, *, duplicate: bool = False) -> EvidenceReceipt:
        now = workflow.now()
        return EvidenceReceipt(
            centre=self.record.centre.id,
            event=entry.event,
            item=entry.item,
            seq=entry.seq,
            at=entry.at,
            duplicate=duplicate,
            ready={
                t: readiness(self.record.centre, self.policy, t, now).ready
                for t in self.policy.requirements
            },
        )

    # ----- queries -----------------------------------------------------------------------
    @workflow.query
    def get_record(self) -> CentreRecord:
        return self.record

    @workflow.query
    def get_policy(self) -> CentrePolicy:
        return self.policy

    @workflow.query
    def current_notice(self) -> CentreNotice:
        """Readiness for every therapy now (what ``refer`` checks and hands the pathway)."""
        return notice(self.record.centre, self.policy, self.record.version, workflow.now())

    @workflow.query
    def therapy_readiness(self, therapy: Therapy) -> TherapyReadiness:
        return readiness(self.record.centre, self.policy, therapy, workflow.now())

    # ----- expiries and notifications ----------------------------------------------------
    async def _wait_for_change_or_expiry(self) -> None:
        now = workflow.now()
        watch = self.record.next_wake(self.policy)
        wakes: list[tuple[datetime, str]] = []
        if watch is not None:
            at = watch.wakes_at(self.policy)
            assert at is not None  # next_wake returns pending watches only
            label = (
                f"{watch.label}: expiry warning"
                if watch.warned_at is None
                else f"{watch.label} expires"
            )
            wakes.append((at, label))
        if self._retry_broadcast_at is not None:
            wakes.append((self._retry_broadcast_at, "Retry telling open pathways"))
        if self._retry_keep_at is not None:
            wakes.append((self._retry_keep_at, "Retry keeping the centre's records"))
        if not wakes:
            await workflow.wait_condition(lambda: self._changed)
            return
        at, summary = min(wakes)
        timeout = at - now
        if timeout <= timedelta(0):
            return
        try:
            await workflow.wait_condition(
                lambda: self._changed, timeout=timeout, timeout_summary=summary[:200]
            )
        except TimeoutError:
            pass

    async def _notify(self, alert: CentreAlertEntry) -> None:
        centre = self.record.centre
        escalation = Escalation(
            pathway_id=workflow.info().workflow_id,
            centre=centre.id,
            therapy=",".join(t.value for t in alert.therapies) or "none",
            state=alert.kind.value,
            deadline_key=alert.key,
            label=alert.text(self.policy),
            due_at=alert.valid_until or alert.at,
            level=2 if alert.kind is AlertKind.LAPSED else 1,
            notify=list(self.policy.notify),
            waiting_on=Role.PROGRAMME_LEAD,
        )
        await notify_with_fallback(
            escalation,
            self.policy.notification_retry,
            action="notify",
            log_extra={"centre": centre.id, "item": alert.key},
        )

    async def _tell_pathways(self) -> None:
        """Tell the open pathways when what a therapy misses, or the tocilizumab stock,
        changed since they were last told."""
        now = workflow.now()
        if self._retry_broadcast_at is not None and now < self._retry_broadcast_at:
            return
        current = notice(self.record.centre, self.policy, self.record.version, now)
        told = {r.therapy.value: sorted(m.key for m in r.missing) for r in current.readiness}
        doses = current.tocilizumab_doses
        before = self.record.told
        if before == told and self.record.told_doses == doses:
            return
        therapies = [
            r.therapy
            for r in current.readiness
            if before is None
            or before.get(r.therapy.value) != told[r.therapy.value]
            or (doses != self.record.told_doses and r.tocilizumab_min_doses > 0)
        ]
        if not therapies:
            self.record.told, self.record.told_doses = told, doses
            return
        self.record.version += 1
        current = current.model_copy(update={"version": self.record.version})
        try:
            await workflow.execute_activity(
                contracts.NOTIFY_CENTRE_PATHWAYS,
                CentreBroadcast(notice=current, therapies=therapies),
                start_to_close_timeout=timedelta(minutes=2),
                heartbeat_timeout=timedelta(seconds=30),
                retry_policy=RetryPolicy(
                    maximum_interval=timedelta(minutes=1), maximum_attempts=10
                ),
                summary=broadcast_summary(current, before, therapies),
            )
        except ActivityError:
            # Not marked as told: tried again at the next change, or after a pause.
            workflow.logger.warning(
                "telling open pathways failed", extra={"centre": self.record.centre.id}
            )
            self._retry_broadcast_at = now + BROADCAST_RETRY
            return
        self._retry_broadcast_at = None
        self.record.told, self.record.told_doses = told, doses

    # ----- visibility --------------------------------------------------------------------
    def _publish(self) -> None:
        now = workflow.now()
        centre = self.record.centre
        ready = {t: readiness(centre, self.policy, t, now) for t in self.policy.requirements}
        nxt = self.record.next_expiry(now)
        values: dict[str, object] = {t.value: r.ready for t, r in ready.items()}
        values["next"] = nxt
        if values != self._published:
            updates: list[SearchAttributeUpdate[Any]] = [search.CENTRE.value_set(centre.id)]
            for therapy, r in ready.items():
                key = search.CENTRE_READY.get(therapy.value)
                if key is not None:
                    updates.append(key.value_set(r.ready))
            updates.append(
                search.CENTRE_NEXT_EXPIRY.value_set(nxt)
                if nxt
                else search.CENTRE_NEXT_EXPIRY.value_unset()
            )
            workflow.upsert_search_attributes(updates)
            self._published = values
        workflow.set_current_details(centre_details(self.record, self.policy, ready))


def malformed_evidence(message: str) -> Refusal:
    """Evidence whose payload cannot be read or is not valid."""
    return Refusal(message, rule="MalformedEvidence")
