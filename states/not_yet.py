"""Why a step is not possible yet: the missing step that stands in the way of a premature action.

When a chart does not allow an event from where the pathway is, the refusal
(``ActionNotAllowedNow``, its rule unchanged) says why in the pathway's words when the step is
clearly early: the product is not on site yet, consent is missing, the patient is not cleared.
Data, not code: one sentence per (event, state), where the state is any state of the current
configuration (a leaf such as ``in_transit`` or a phase such as ``selection``), or
``therapy:state`` for one therapy's chart only; the innermost state with a sentence wins.
``*`` stands for every event (a held pathway). ``{where}`` is the
name of the state the pathway is at (e.g. "Shipped to centre").

Usage::

    why_not_yet("start_lymphodepletion", ["pathway", "product", "in_transit"], therapy="car-t")
    # "The product is not on site yet (it is at: Shipped to centre). ..."

Pure: no temporalio, no I/O.
"""

from __future__ import annotations

from collections.abc import Sequence

ANY_EVENT = "*"

# What must happen before treatment can start, by where the product is.
_NOT_MADE = (
    "The product is not on site yet (it is at: {where}): it must be made, released, shipped "
    "and received at the centre with the chain-of-identity check (receive_product) first."
)
_IN_TRANSIT = (
    "The product is not on site yet: it has been shipped to the centre and is in transit. It "
    "must be received with the chain-of-identity check (receive_product) first."
)
_QUARANTINED = (
    "The product is on site but quarantined: it must be released from quarantine "
    "(release_from_quarantine) first."
)
_STORED = (
    "The product is stored on site, but the patient is not cleared for treatment yet: "
    "clear_for_treatment comes first (fitness, infection and product checks)."
)
_NOT_CONSENTED = (
    "Consent is missing: the MDTM must approve the referral (approve_at_mdtm) and the "
    "patient's consent be recorded (record_consent) first."
)
_ORDERED = (
    "The product is not on site yet: it has been ordered and must be received with the "
    "chain-of-identity check (receive_product) first."
)
_TO_ORDER = (
    "The product is not on site yet: it must be ordered (order_product) and received with "
    "the chain-of-identity check (receive_product) first."
)

# After the product is on site, what a step of treatment other than clearance still needs.
_THEN_CLEAR = " Then the patient must be cleared for treatment (clear_for_treatment)."

# Steps of treatment, which all need the product on site and the patient cleared.
_TREATMENT = ("clear_for_treatment", "start_lymphodepletion", "thaw_product", "infuse")
_BEFORE_CLEARANCE = ("start_lymphodepletion", "thaw_product", "infuse")
# CAR-T: where the product is while it is being made (not on site).
_BEING_MADE = (
    "washout",
    "apheresis_booked",
    "collected",
    "manufacturing",
    "out_of_specification",
    "released",
)
# Steps of the product, which all need consent.
_PRODUCT = (
    "record_washout",
    "book_apheresis",
    "record_apheresis",
    "ship_to_manufacturer",
    "order_product",
    "receive_product",
)

NOT_YET: dict[tuple[str, str], str] = {
    **{(event, "selection"): _NOT_CONSENTED for event in _TREATMENT + _PRODUCT},
    **{
        (event, state): why + (_THEN_CLEAR if event in _BEFORE_CLEARANCE else "")
        for event in _TREATMENT
        for why, states in (
            (_NOT_MADE, _BEING_MADE),
            (_IN_TRANSIT, ("in_transit",)),
            (_QUARANTINED, ("quarantined",)),
            (_ORDERED, ("ordered",)),
            (_TO_ORDER, ("to_order",)),
        )
        for state in states
    },
    **{(event, "stored"): _STORED for event in _BEFORE_CLEARANCE},
    ("record_consent", "referred"): (
        "Consent is recorded once the MDTM has approved the referral: the work-up "
        "(record_work_up) and the MDTM decision (approve_at_mdtm) come first."
    ),
    ("record_consent", "awaiting_mdtm"): (
        "Consent is recorded once the MDTM has approved the referral (approve_at_mdtm)."
    ),
    ("approve_at_mdtm", "referred"): (
        "The MDTM decides on a complete work-up: record it first (record_work_up)."
    ),
    ("thaw_product", "car-t:cleared"): (
        "Lymphodepletion comes before the thaw: start and complete it first "
        "(start_lymphodepletion, complete_lymphodepletion)."
    ),
    ("infuse", "car-t:cleared"): (
        "Lymphodepletion and the thaw at the bedside come before the infusion "
        "(start_lymphodepletion, complete_lymphodepletion, thaw_product)."
    ),
    ("infuse", "lymphodepletion"): (
        "Lymphodepletion is under way: complete it (complete_lymphodepletion) and thaw the "
        "product at the bedside (thaw_product) first."
    ),
    ("infuse", "awaiting_infusion"): (
        "The product must be thawed at the bedside first (thaw_product)."
    ),
    ("infuse", "msc:cleared"): "The product must be thawed first (thaw_product).",
    ("infuse", "between_infusions"): (
        "The next dose must be thawed first (thaw_product), once it is due."
    ),
    **{
        (event, "observation"): (
            "The patient is under observation after the infusion: end it first "
            "(end_observation), once the protocol's observation period is over."
        )
        for event in ("thaw_product", "infuse", "record_visit", "clear_for_treatment")
    },
    (ANY_EVENT, "held"): "The pathway is on hold: resume it first (resume).",
}


def why_not_yet(
    event: str, configuration: Sequence[str], *, therapy: str = "", where: str = ""
) -> str | None:
    """The sentence saying what stands in the way of ``event`` from ``configuration`` (state
    IDs, outermost first) of ``therapy``'s chart, or None when the table has none."""
    for state in reversed(configuration):
        for key in ((event, f"{therapy}:{state}"), (event, state), (ANY_EVENT, state)):
            if key in NOT_YET:
                return NOT_YET[key].format(where=where or state)
    return None
