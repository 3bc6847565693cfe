"""The rule sets a pathway run applies, each switched on by its own ``workflow.patched``.

Rules added after histories were recorded (eligibility at the MDTM, safety follow-up after
withdrawal) change what an action does, so a run decides once, when it starts, which of them
it follows: a new run records a marker for each and follows them all; a run replayed from a
history recorded before one of them finds no marker and follows the rules it was recorded
with. The chart takes the answer as data (``PathwayChart(record, protocol, rules=…)``) and
never imports temporalio.

Usage (in ``@workflow.init``)::

    self._rules = rules_in_force()
"""

from __future__ import annotations

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from states.eligibility import ELIGIBILITY
    from states.withdrawal import SAFETY_FOLLOW_UP
    from workflows.patches import patched

# Each ID is both the rule set's name and its patch ID; never renamed or removed.
RULE_PATCHES: tuple[str, ...] = (ELIGIBILITY, SAFETY_FOLLOW_UP)


def rules_in_force() -> frozenset[str]:
    """The rule sets this run follows (asked once per run, in ``@workflow.init``)."""
    return frozenset(patch for patch in RULE_PATCHES if patched(patch))
