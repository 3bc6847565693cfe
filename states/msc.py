"""The allogeneic, off-the-shelf MSC pathway: no washout, no leukapheresis; the product is
ordered, received with the chain-of-identity check, thawed and infused, possibly several
times (the count comes from the protocol), each infusion followed by an observation and each
further dose preceded by a fitness re-check (when the protocol sets them), then followed up."""

from __future__ import annotations

from datetime import datetime

from statemachine import HistoryState, State

from models.actions import StaffAction
from states import errors as e
from states.base import APPROVAL_CHECKS, DECISION_CHECKS, WORK_UP_CHECKS, PathwayChart
from states.guards import days_text


class MscChart(PathwayChart):
    """Referral → MDTM → product order → receipt → thaw → infusion(s) → follow-up → completed."""

    therapy = "msc"

    class pathway(State.Compound):
        class selection(State.Compound):
            referred = State("Referred, work-up under way", initial=True)
            awaiting_mdtm = State("Awaiting MDTM decision")
            awaiting_consent = State("Approved, awaiting consent")

            record_work_up = referred.to(awaiting_mdtm, validators=list(WORK_UP_CHECKS))
            approve_at_mdtm = awaiting_mdtm.to(awaiting_consent, validators=list(APPROVAL_CHECKS))
            defer_at_mdtm = awaiting_mdtm.to(referred, validators=list(DECISION_CHECKS))

        class product(State.Compound):
            to_order = State("Product to order", initial=True)
            ordered = State("Product ordered")
            quarantined = State("Quarantined at receipt")
            stored = State("Stored in the cell-therapy unit")

            order_product = to_order.to(ordered, validators="guard_consent_complete")
            # A temperature excursion at receipt: quarantined, never stored.
            receive_product = ordered.to(
                quarantined,
                cond="temperature_excursion",
                validators=["guard_coi_matches", "guard_receipt_answered"],
            ) | ordered.to(stored, validators=["guard_coi_matches", "guard_receipt_answered"])
            quarantine_product = ordered.to(quarantined)
            release_from_quarantine = quarantined.to(
                stored, validators=["guard_coi_matches", "guard_quarantine_assessed"]
            )
            # A discarded bag is replaced: the product is ordered again.
            discard_quarantined_product = quarantined.to(to_order)

        class treatment(State.Compound):
            cleared = State("Cleared for infusion", initial=True)
            thawed = State("Product thawed")
            observation = State("Observation after infusion")
            between_infusions = State("Between infusions")

            thaw_product = cleared.to(
                thawed, validators=["guard_product_on_site", "guard_coi_matches"]
            ) | between_infusions.to(
                thawed,
                validators=[
                    "guard_product_on_site",
                    "guard_coi_matches",
                    "guard_next_dose_due",
                    "guard_rechecked_since_infusion",
                ],
            )
            # Fitness checked again before a further dose (when the protocol asks for it).
            clear_for_treatment = between_infusions.to.itself(validators="guard_fit_for_treatment")
            # A discarded vial is replaced from stock: back to before the thaw.
            discard_thawed_product = thawed.to(
                between_infusions, cond="infused_before"
            ) | thawed.to(cleared)

        class follow_up(State.Compound):
            short_term = State("Follow-up to M12", initial=True)
            long_term = State("Long-term follow-up")

            record_visit = short_term.to.itself(
                validators=["guard_visit_known", "guard_visit_content", "guard_visit_date"]
            ) | long_term.to.itself(
                validators=["guard_visit_known", "guard_visit_content", "guard_visit_date"]
            )
            start_long_term_follow_up = short_term.to(
                long_term, validators="guard_short_term_visits_done"
            )

        h = HistoryState(type="deep")

        record_consent = selection.awaiting_consent.to(product, validators="guard_consent_answered")
        clear_for_treatment = product.stored.to(
            treatment, validators=["guard_fitness_answered", "guard_fit_for_treatment"]
        )
        # Each infusion is followed by an observation when the protocol sets one (protocols
        # recorded before it existed go straight on, as they did).
        infuse = (
            treatment.thawed.to(
                treatment.observation,
                cond="observation_required",
                validators=["guard_two_person_check", "guard_coi_matches", "guard_thaw_window"],
            )
            | treatment.thawed.to(
                treatment.between_infusions,
                cond="more_infusions_due",
                validators=["guard_two_person_check", "guard_coi_matches", "guard_thaw_window"],
            )
            | treatment.thawed.to(
                follow_up,
                validators=["guard_two_person_check", "guard_coi_matches", "guard_thaw_window"],
            )
        )
        end_observation = treatment.observation.to(
            treatment.between_infusions,
            cond="more_infusions_to_come",
            validators="guard_observation_done",
        ) | treatment.observation.to(follow_up, validators="guard_observation_done")

    held = State("On hold")
    ineligible = State("Ineligible (MDTM)", final=True)
    withdrawn = State("Withdrawn", final=True)
    deceased = State("Deceased", final=True)
    lost_to_follow_up = State("Lost to follow-up", final=True)
    completed = State("Follow-up completed", final=True)

    reject_at_mdtm = pathway.selection.awaiting_mdtm.to(
        ineligible, validators=list(DECISION_CHECKS)
    )
    complete_follow_up = pathway.follow_up.long_term.to(
        completed, validators="guard_all_visits_done"
    )
    declare_lost_to_follow_up = pathway.follow_up.to(lost_to_follow_up)
    # Safety events can happen at any point: recorded without moving the pathway.
    # Targetless transitions (to None) record without exiting or entering any state.
    record_adverse_event = pathway.to(
        None,  # type: ignore[arg-type]
        validators="guard_adverse_event_facts",
    ) | held.to(None, validators="guard_adverse_event_facts")  # type: ignore[arg-type]
    report_adverse_event = pathway.to(None, validators="guard_report_due") | held.to(  # type: ignore[arg-type]
        None, validators="guard_report_due"
    )
    # Preparation tasks and registry forms are recorded without moving the pathway.
    record_task = pathway.to(None, validators="guard_task_known") | held.to(  # type: ignore[arg-type]
        None, validators="guard_task_known"
    )
    submit_registry_form = pathway.to(None, validators="guard_form_due") | held.to(  # type: ignore[arg-type]
        None, validators="guard_form_due"
    )
    hold = pathway.to(held)
    resume = held.to(pathway.h)
    withdraw = pathway.to(withdrawn) | held.to(withdrawn)
    record_death = pathway.to(deceased) | held.to(deceased)

    def infused_before(self) -> bool:
        return bool(self.record.infusions)

    def observation_required(self) -> bool:
        return self.protocol.infusions.observation is not None

    def more_infusions_to_come(self) -> bool:
        # Evaluated after on_infuse recorded the last infusion.
        return len(self.record.infusions) < self.protocol.infusions.count

    def more_infusions_due(self) -> bool:
        # Evaluated before on_infuse records this infusion, hence the + 1.
        return len(self.record.infusions) + 1 < self.protocol.infusions.count

    def guard_next_dose_due(self, action: StaffAction, now: datetime) -> None:
        schedule = self.protocol.infusions
        last = self.record.infusions[-1]
        earliest = last + schedule.interval - schedule.interval_tolerance
        if now < earliest:
            self.refuse(
                e.OutsideWindow,
                f"The next infusion is due {days_text(schedule.interval, self.protocol)} after the "
                f"previous one; thawing is possible in {days_text(earliest - now, self.protocol)}.",
            )
