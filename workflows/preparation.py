"""Preparation tasks and registry forms in the pathway workflow: which pathways track them.

Usage (in ``PathwayWorkflow``)::

    track_new_pathway(record)                          # once, when a pathway starts
    reconcile_more(record, protocol, before, now)      # after ``reconcile``, every time

A pathway started before tasks (or registry forms) were tracked must replay as it ran: new
task deadlines would be new timers in its history. So the decision is taken once, when the
pathway starts, with ``workflow.patched``, and kept in the record as data (``preparation``,
``registry`` set or None); the pure code in ``states/`` reads only that data.
"""

from collections.abc import Iterable
from datetime import datetime

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from models.preparation import PreparationRecord
    from models.protocol import Protocol
    from models.record import Deadline, PathwayRecord
    from models.registry_forms import RegistryRecord
    from states.preparation import reconcile_tasks
    from states.registry_deadlines import reconcile_forms
    from workflows.patches import patched

PREPARATION_PATCH = "preparation-tasks"
REGISTRY_PATCH = "preparation-registry-forms"


def track_new_pathway(record: PathwayRecord) -> None:
    """Mark a new pathway as tracking preparation tasks and registry forms (a marker each
    in its history)."""
    if patched(PREPARATION_PATCH):
        record.preparation = PreparationRecord()
    if patched(REGISTRY_PATCH):
        record.registry = RegistryRecord()


def reconcile_more(
    record: PathwayRecord, protocol: Protocol, before: Iterable[str], now: datetime
) -> list[Deadline]:
    """Task and form deadlines to meet and arm after a transition (none on untracked
    pathways)."""
    return [
        *reconcile_tasks(record, protocol, before, now),
        *reconcile_forms(record, protocol, now),
    ]
