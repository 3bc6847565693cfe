"""The facts each accepted staff action records on the pathway record.

Each ``on_<event>`` (``before_hold`` for the one that must see the state it leaves) is a
python-statemachine action callback found by its name: it runs only once the event's guards
accepted it, and writes what the guards and deadlines read later.
"""

from __future__ import annotations

from datetime import datetime

from models import actions as a
from models.actions import StaffAction
from models.record import AdverseEventRecord, DrugStopRecord, PathwayRecord


class RecordedFacts:
    """The action callbacks every therapy chart shares (mixed into ``PathwayChart``)."""

    record: PathwayRecord

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
        self.record.visits[action.visit] = action.done_at or now

    def before_hold(self, action: StaffAction, now: datetime) -> None:
        # "before": by the time "on" callbacks run the pathway states are already exited.
        self.record.held_from = self.record.state

    def on_resume(self, action: StaffAction, now: datetime) -> None:
        self.record.held_from = None
