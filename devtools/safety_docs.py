"""The explicit safety rules in the generated docs: guard phrases and sourced numbers.

``safety_guard_phrases(protocol)`` words each guard of states/fitness_guards.py (and the later
safety rules) as the condition it checks, with the protocol's limits;
``safety_numbers(protocol)`` gives the rows (what, value, source) of the protocol's fitness
rules for the numbers table of docs/pathways.md.
"""

from __future__ import annotations

from models.durations import in_words
from models.fitness import CONSENT_WORDS
from models.mdtm import SPECIALTY_WORDS
from models.protocol import Protocol
from models.sources import Source

AFTER_USUAL_WINDOW = {
    "justify": "proceed on the binôme's recorded justification",
    "repeat": "repeat lymphodepletion",
}

# Routes (``cond``) of the explicit rules: taken automatically, never a refusal.
SAFETY_ROUTES = {"temperature_excursion": "temperature excursion at receipt"}


def safety_guard_phrases(protocol: Protocol) -> dict[str, str]:
    fit = protocol.fitness
    pregnancy = ", the pregnancy test (negative or not applicable)" if fit.pregnancy_test else ""
    consents = " and ".join(CONSENT_WORDS[c] for c in fit.consent_elements) or "nothing"
    w = protocol.windows
    usual, outer = w.infusion_after_lymphodepletion_max, w.infusion_after_lymphodepletion_outer
    window = f"{in_words(w.infusion_after_lymphodepletion_min)} to {in_words(usual)} after the end of lymphodepletion"
    if outer > usual and w.after_usual_window == "justify":
        window += f", or up to {in_words(outer)} with the binôme's recorded justification"
    return {
        "guard_lymphodepletion_window": window,
        "guard_receipt_answered": "the temperature log is answered (an excursion quarantines the bag)",
        "guard_release_lot": "the release gives the lot number",
        "guard_quarantine_assessed": "the reason gives the assessment that clears the bag",
        "guard_mdtm_recorded": (
            "recorded with the meeting ID and date, the attendees with their specialty ("
            + ", ".join(SPECIALTY_WORDS[sp] for sp in protocol.mdtm.required_specialties)
            + " among them), a rationale; signed by the referral's binôme or with the "
            "substitution's reason; the work-up's age counts at the meeting date"
        ),
        "guard_adverse_event_facts": (
            "hospitalisation, outcome and awareness date given; recorded at least as serious "
            "as grade, outcome and hospitalisation imply (EU CTR art. 2); reports due from "
            "the awareness date"
        ),
        "guard_work_up_answered": "the work-up gives LVEF and eGFR",
        "guard_organ_function_eligible": (
            f"LVEF at least {fit.lvef_min_percent:g} % and eGFR at least {fit.egfr_min:g} "
            "in the work-up"
        ),
        "guard_fitness_answered": (
            f"every fitness answer given (cardiac re-check{pregnancy}, LVEF at least "
            f"{fit.lvef_min_percent:g} %, eGFR at least {fit.egfr_min:g}); none is assumed"
        ),
        "guard_consent_answered": "each consent element answered yes or no",
        "guard_consent_complete": f"consent recorded with {consents}",
        "guard_treatments_listed": (
            'the patient\'s current treatments are listed (or "none"), each in the washout '
            "table, each with a washout stopped with its date"
        ),
    }


def safety_numbers(protocol: Protocol) -> list[tuple[str, object, Source | None]]:
    """(what, value, source) of the fitness rules."""
    fit = protocol.fitness
    consents = ", ".join(CONSENT_WORDS[c] for c in fit.consent_elements) or "none"
    return [
        (
            "Minimum LVEF (work-up and pre-treatment)",
            f"{fit.lvef_min_percent:g} %",
            fit.source_of("lvef_min_percent"),
        ),
        (
            "Minimum eGFR (work-up and pre-treatment)",
            f"{fit.egfr_min:g}",
            fit.source_of("egfr_min"),
        ),
        (
            "Pregnancy test before treatment",
            "required" if fit.pregnancy_test else "not required",
            fit.source_of("pregnancy_test"),
        ),
        ("Consent elements required", consents, fit.source_of("consent_elements")),
        *(
            (f"Who reports: {report}", route, protocol.safety_reporting.source_of("routes"))
            for report, route in protocol.safety_reporting.routes.items()
        ),
        (
            "Specialties required at the MDTM",
            ", ".join(SPECIALTY_WORDS[sp] for sp in protocol.mdtm.required_specialties),
            protocol.mdtm.source_of("required_specialties"),
        ),
    ]
