"""The grading part of a protocol's section in docs/pathways.md: which grading tables grade its
CRS and ICANS, and what each grade sets off, every rule with its source.

Usage::

    lines = render_grading(protocol)     # markdown lines, empty if the protocol grades nothing
"""

from __future__ import annotations

from devtools.protocol_docs import markdown_row, number_text, source_text
from models.protocol import Protocol


def render_grading(protocol: Protocol) -> list[str]:
    grading = protocol.grading
    if grading is None:
        return []
    tables = grading.tables
    lines = [
        "",
        f"CRS and ICANS graded from each observation (`record_observation`) by "
        f"{tables.title} (`{tables.version}`, {tables.source.text()}; docs/grading.md); "
        "what a grade sets off:",
        "",
        "| Grade | Informed at once | Expected | Within | Source |",
        "| --- | --- | --- | --- | --- |",
    ]
    for rule in grading.escalation:
        expected = (
            f"the pathway in `{rule.met_in}`" if rule.met_in else "the notification delivered"
        )
        lines.append(
            markdown_row(
                f"{' or '.join(rule.syndromes)} ≥ {rule.at_least}",
                ", ".join(role.label for role in rule.notify),
                f"{rule.label_for('…', rule.at_least)}: {expected} (ladder `{rule.ladder}`)",
                number_text(rule.within),
                source_text(rule.source_of("at_least")),
            )
        )
    return lines
