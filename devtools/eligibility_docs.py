"""The eligibility part of each protocol's section in docs/pathways.md: activity scores,
refractoriness rules and the exclusion checklist, each with its source.

Usage::

    lines = render_eligibility(protocol)     # markdown lines, empty if the protocol states none
    lines = course_tables(protocol)          # eligibility, then grading (devtools/grading_docs.py)

``COURSE_GUARD_PHRASES`` words the guards of eligibility, observations and safety follow-up.
"""

from __future__ import annotations

from devtools.grading_docs import render_grading
from devtools.protocol_docs import markdown_row, number_text, source_text
from models.protocol import Protocol

# The guards of eligibility, observations and safety follow-up, as docs/pathways.md says them.
COURSE_GUARD_PHRASES = {
    "guard_eligibility_answers": (
        "the exclusion answers are items of the protocol's checklist; treatment dates not "
        "in the future"
    ),
    "guard_eligible": (
        "the protocol's eligibility is met: its activity score, its refractoriness rule "
        "(reference treatments tried and failed) and no exclusion present, every item "
        "answered at work-up"
    ),
    "guard_observation_gradable": (
        "the observation has CRS and/or ICANS findings the protocol's grading tables can "
        "grade (the grade is computed, never typed)"
    ),
    "guard_long_term_visits_done": "every long-term follow-up visit is recorded",
}


def course_tables(protocol: Protocol) -> list[str]:
    """The protocol's eligibility and grading tables."""
    return [*render_eligibility(protocol), *render_grading(protocol)]


def render_eligibility(protocol: Protocol) -> list[str]:
    eligibility = protocol.eligibility
    if eligibility is None:
        return []
    lines = [
        "",
        "Eligibility, checked at the MDTM (`approve_at_mdtm` is refused with `NotEligible`, "
        "naming each unmet criterion):",
        "",
        "| Criterion | Rule | Source |",
        "| --- | --- | --- |",
    ]
    for score in eligibility.scores:
        minimum = f" ≥ {score.at_least:g}" if score.at_least is not None else " recorded"
        lines.append(
            markdown_row(
                f"Activity score ({score.disease})",
                f"{score.score}{minimum}",
                source_text(score.source_of("at_least")),
            )
        )
    for rule in eligibility.refractoriness:
        whom = ", ".join(rule.diseases) if rule.diseases else "every disease"
        detail = f"{rule.rule}: {rule.at_least} of {', '.join(rule.among)}"
        if rule.including:
            detail += f", including {' or '.join(rule.including)}"
        if rule.min_duration:
            detail += f", each for ≥ {number_text(rule.min_duration)}"
        detail += f"; failed = {', '.join(r.value for r in rule.failed)}"
        lines.append(
            markdown_row(
                f"Refractoriness ({whom})", detail, source_text(rule.source_of("at_least"))
            )
        )
    for item in eligibility.exclusions:
        lines.append(
            markdown_row(
                f"Exclusion `{item.key}` (answered at work-up)",
                f"absent: {item.label}",
                item.source.text(),
            )
        )
    return lines
