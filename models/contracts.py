"""The names both sides of Temporal agree on, defined once: a rename fails at import.

Workflow types, the signal, activity names, the default task queue and the shapes of
workflow IDs. Workflows and activities register under these names; the client, the bench
and the tests call them by these names.

Usage::

    from models import contracts

    @workflow.defn(name=contracts.PATHWAY_WORKFLOW)
    ...
    await client.get_workflow_handle(contracts.centre_workflow_id("centre-a"))
"""

from __future__ import annotations

import re

# Workflow types (also what the Web UI and visibility queries call them).
PATHWAY_WORKFLOW = "PathwayWorkflow"
CENTRE_WORKFLOW = "CentreWorkflow"

# The centre tells its open pathways that its readiness changed.
CENTRE_NOTICE_SIGNAL = "centre_notice"

# Activities.
NOTIFY_ESCALATION = "notify_escalation"
NOTIFY_FALLBACK = "notify_fallback"
NOTIFY_CENTRE_PATHWAYS = "notify_centre_pathways"
# The pathway's facts written to the record store (activities/record_store.py).
KEEP_RECORDS = "keep_records"
# A lean run's protocol version, by content hash, from the record store.
FETCH_PROTOCOL = "fetch_protocol_version"
# A centre's audit entries and alerts written to the record store (activities/centre_records.py).
KEEP_CENTRE_RECORDS = "keep_centre_records"

# Where the worker polls and the client sends, unless CELLPATH_TASK_QUEUE says otherwise.
DEFAULT_TASK_QUEUE = "cellpath-pathways"

# [0-9], not \d: \d also matches look-alike digits (fullwidth "１", Arabic-Indic "١"), which
# would give the same patient a second, different-looking pathway ID.
PSEUDONYM_PATTERN = r"[A-Z]{2,5}-[0-9]{3,6}"
CENTRE_ID_PATTERN = r"[a-z][a-z0-9-]{1,39}"
# What ``pathway_workflow_id`` builds: anything else names no pathway.
PATHWAY_ID = re.compile(rf"pathway-{CENTRE_ID_PATTERN}-{PSEUDONYM_PATTERN}")
CENTRE_ID = re.compile(CENTRE_ID_PATTERN)


def pathway_workflow_id(centre: str, pseudonym: str) -> str:
    """``pathway-<centre>-<pseudonym>``: pseudonymous by construction."""
    return f"pathway-{centre}-{pseudonym}"


def centre_workflow_id(centre_id: str) -> str:
    """The centre's workflow ID: ``centre-`` and the centre's own ID."""
    return f"centre-{centre_id}"
