"""One patch marker per run instead of one per code change (issue 13, history bytes).

Every ``workflow.patched(id)`` that a run asks records a marker in its history and has the
SDK upsert the ``TemporalChangeVersion`` search attribute with every patch ID the run has
asked so far: ~150 bytes and 130-280 bytes, for each of the six to ten patches a pathway's
run asks, every run (~2.3 KB a follow-up year, ~40 KB a 15-year pathway;
docs/performance.md, "History bytes").

Since ``lean2-one-marker`` a run asks ``workflow.patched(ROLLUP_PATCH)`` first: a run of
this code or later records that one marker and takes every earlier change as made (each is
``True`` for any new run anyway), without asking it. A run replayed from a history recorded
before finds no rollup marker and asks each patch as it was recorded; so does a run that
started on older code and goes on here (the SDK keeps a patch's answer for the whole run).

Usage (workflow code, instead of ``workflow.patched``)::

    if patched(STORE_PATCH): ...

``ROLLUP_PATCH`` covers only the patches that existed when it was written, and lean2's own
(``PROTOCOL_CLAIM_CHECK``, ``CARRIED_ATTRIBUTES``, ``RECEIPT_AT_RUN_END``: every history with
the rollup marker was recorded with them); a later change asks ``workflow.patched`` itself
(or a new rollup that covers it).
"""

from __future__ import annotations

from temporalio import workflow

ROLLUP_PATCH = "lean2-one-marker"
#: lean2's own change, covered by the rollup: a run's protocol goes to the next run and to
#: the first store write in a payload the worker's codec claim-checks
#: (models/protocol_claim_check.py), instead of being fetched by each run
PROTOCOL_CLAIM_CHECK = "lean2-protocol-claim-check"
#: lean2's, covered by the rollup: a continued run takes the search attributes Temporal
#: carried into it as published (workflows/visibility.py)
CARRIED_ATTRIBUTES = "lean2-carried-search-attributes"
#: lean2's, covered by the rollup: an action that ends the run is answered in the workflow
#: task that continues as new (workflows/pathway.py, ``act``)
RECEIPT_AT_RUN_END = "lean2-receipt-at-run-end"


def patched(patch_id: str) -> bool:
    """``workflow.patched(patch_id)``, answered ``True`` without a marker of its own in a run
    that records ``ROLLUP_PATCH`` (any new run)."""
    return workflow.patched(ROLLUP_PATCH) or workflow.patched(patch_id)
