"""Which visits mark a follow-up year: a pathway continues as new at each one.

Usage (workflow code)::

    yearly = yearly_visits(protocol)            # labels of the visits a year or more after D0
    years = sum(1 for label in record.visits if label in yearly)

Before ``models.durations.YEAR`` was the one year (365.25 days), a follow-up year was 365
days: runs that started then keep it (``YEAR_PATCH`` asked only when the two disagree, so
other histories gain no marker), so that a visit due in between does not end a run
(continue-as-new) that their history did not end.
"""

from datetime import timedelta

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from models.durations import YEAR
    from models.protocol import Protocol
    from workflows.patches import patched

LEGACY_YEAR = timedelta(days=365)
YEAR_PATCH = "follow-up-year-365.25d"


def yearly_visits(protocol: Protocol) -> frozenset[str]:
    """The visits that mark a follow-up year (protocol time: the scale applies)."""

    def due_after(year: timedelta) -> frozenset[str]:
        scaled = year * protocol.time_scale
        return frozenset(v.label for v in protocol.visits if v.at >= scaled)

    yearly = due_after(YEAR)
    if yearly != due_after(LEGACY_YEAR) and not patched(YEAR_PATCH):
        return due_after(LEGACY_YEAR)
    return yearly
