"""The autologous CAR-T pathway of the SFGM-TC/MATHEC recommendations, as a state chart.

Phases are compound states (selection, product, treatment, follow-up) inside ``pathway``,
whose deep history lets a held pathway resume exactly where it stopped.
"""

from __future__ import annotations

from statemachine import HistoryState, State

from states.base import APPROVAL_CHECKS, DECISION_CHECKS, WORK_UP_CHECKS, PathwayChart


class CarTChart(PathwayChart):
    """Referral → MDTM → washout, leukapheresis, manufacturing → receipt → lymphodepletion →
    infusion (D0) → monitoring → follow-up (to 15 years) → completed."""

    therapy = "car-t"

    class pathway(State.Compound):
        class selection(State.Compound):
            referred = State("Referred, work-up under way", initial=True)
            awaiting_mdtm = State("Awaiting MDTM decision")
            awaiting_consent = State("Approved, awaiting consent")

            record_work_up = referred.to(awaiting_mdtm, validators=list(WORK_UP_CHECKS))
            approve_at_mdtm = awaiting_mdtm.to(awaiting_consent, validators=list(APPROVAL_CHECKS))
            defer_at_mdtm = awaiting_mdtm.to(referred, validators=list(DECISION_CHECKS))

        class product(State.Compound):
            washout = State("Washout before leukapheresis", initial=True)
            apheresis_booked = State("Leukapheresis booked")
            collected = State("Leukapheresis done")
            manufacturing = State("Manufacturing")
            out_of_specification = State("Out of specification")
            released = State("Released by manufacturer")
            in_transit = State("Shipped to centre")
            quarantined = State("Quarantined at receipt")
            stored = State("Stored in the cell-therapy unit")

            record_washout = washout.to.itself(
                validators=[
                    "guard_consent_complete",
                    "guard_washout_known",
                    "guard_treatments_listed",
                ]
            ) | out_of_specification.to.itself(
                validators=["guard_washout_known", "guard_treatments_listed"]
            )
            book_apheresis = washout.to(
                apheresis_booked, validators="guard_washout_by_slot"
            ) | out_of_specification.to(apheresis_booked, validators="guard_washout_by_slot")
            record_apheresis = apheresis_booked.to(collected, validators="guard_washout_complete")
            ship_to_manufacturer = collected.to(manufacturing)
            release_product = manufacturing.to(released, validators="guard_release_lot")
            report_out_of_specification = manufacturing.to(out_of_specification)
            ship_to_centre = released.to(in_transit)
            # A temperature excursion at receipt: quarantined, never stored.
            receive_product = in_transit.to(
                quarantined,
                cond="temperature_excursion",
                validators=["guard_coi_matches", "guard_receipt_answered"],
            ) | in_transit.to(stored, validators=["guard_coi_matches", "guard_receipt_answered"])
            quarantine_product = in_transit.to(quarantined)
            release_from_quarantine = quarantined.to(
                stored, validators=["guard_coi_matches", "guard_quarantine_assessed"]
            )
            # The binôme's other way out of quarantine: re-apheresis or exit, as after an
            # out-of-specification release.
            discard_quarantined_product = quarantined.to(out_of_specification)

        class treatment(State.Compound):
            cleared = State("Cleared for lymphodepletion", initial=True)
            lymphodepletion = State("Lymphodepletion")
            awaiting_infusion = State("Awaiting infusion")
            thawed = State("Product thawed at the bedside")

            class monitoring(State.Compound):
                inpatient = State("Inpatient monitoring (CRS/ICANS)", initial=True)
                icu = State("In ICU")

                transfer_to_icu = inpatient.to(icu)
                return_from_icu = icu.to(inpatient)
                # Daily CRS/ICANS observations, graded by the protocol's tables.
                record_observation = inpatient.to.itself(
                    validators="guard_observation_gradable"
                ) | icu.to.itself(validators="guard_observation_gradable")
                # Visits that fall during the stay (D7, D14) are recorded during it.
                record_visit = inpatient.to.itself(
                    validators=["guard_visit_known", "guard_visit_content", "guard_visit_date"]
                )

            start_lymphodepletion = cleared.to(lymphodepletion, validators="guard_product_on_site")
            complete_lymphodepletion = lymphodepletion.to(awaiting_infusion)
            record_fever = lymphodepletion.to.itself() | awaiting_infusion.to.itself()
            repeat_lymphodepletion = awaiting_infusion.to(
                lymphodepletion, validators="guard_product_on_site"
            )
            thaw_product = awaiting_infusion.to(
                thawed,
                validators=[
                    "guard_coi_matches",
                    "guard_not_febrile",
                    "guard_lymphodepletion_window",
                ],
            )
            infuse = thawed.to(
                monitoring,
                validators=["guard_two_person_check", "guard_coi_matches", "guard_thaw_window"],
            )

        class follow_up(State.Compound):
            short_term = State("Follow-up D7 to M12", initial=True)
            long_term = State("Long-term follow-up (yearly)")

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
        discharge = treatment.monitoring.inpatient.to(
            follow_up, validators="guard_monitoring_period_done"
        )
        # A thawed bag that cannot be infused in time is lost: the binôme decides between
        # re-apheresis and exit, as after an out-of-specification release.
        discard_thawed_product = treatment.thawed.to(product.out_of_specification)

    held = State("On hold")
    # Withdrawn from the study after infusion: the safety follow-up of gene-modified cells
    # goes on unless the patient refuses it (states/withdrawal.py).
    safety_follow_up = State("Withdrawn from the study, safety follow-up continues")
    ineligible = State("Ineligible (MDTM)", final=True)
    withdrawn = State("Withdrawn", final=True)
    manufacturing_failed = State("Manufacturing failure", final=True)
    deceased = State("Deceased", final=True)
    lost_to_follow_up = State("Lost to follow-up", final=True)
    completed = State("Follow-up completed", final=True)

    reject_at_mdtm = pathway.selection.awaiting_mdtm.to(
        ineligible, validators=list(DECISION_CHECKS)
    )
    declare_manufacturing_failure = pathway.product.out_of_specification.to(manufacturing_failed)
    complete_follow_up = pathway.follow_up.long_term.to(
        completed, validators="guard_all_visits_done"
    ) | safety_follow_up.to(completed, validators="guard_long_term_visits_done")
    declare_lost_to_follow_up = pathway.follow_up.to(lost_to_follow_up) | safety_follow_up.to(
        lost_to_follow_up
    )
    # Safety events can happen at any point: recorded without moving the pathway.
    # Targetless transitions (to None) record without exiting or entering any state.
    record_adverse_event = (
        pathway.to(None, validators="guard_adverse_event_facts")  # type: ignore[arg-type]
        | held.to(None, validators="guard_adverse_event_facts")  # type: ignore[arg-type]
        | safety_follow_up.to(None, validators="guard_adverse_event_facts")  # type: ignore[arg-type]
    )
    report_adverse_event = (
        pathway.to(None, validators="guard_report_due")  # type: ignore[arg-type]
        | held.to(None, validators="guard_report_due")  # type: ignore[arg-type]
        | safety_follow_up.to(None, validators="guard_report_due")  # type: ignore[arg-type]
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
    withdraw = (
        pathway.to(safety_follow_up, cond="stays_in_safety_follow_up")  # type: ignore[operator]
        | pathway.to(withdrawn)
        | held.to(safety_follow_up, cond="stays_in_safety_follow_up")
        | held.to(withdrawn)
    )
    record_death = pathway.to(deceased) | held.to(deceased) | safety_follow_up.to(deceased)
    record_visit = safety_follow_up.to.itself(validators="guard_visit_known")
    refuse_long_term_follow_up = safety_follow_up.to(withdrawn)
