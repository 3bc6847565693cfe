"""A centre's whole trail: the audit entries and alerts of its earlier runs, from the record
store, joined with the current run's, from its workflow; and what was read where.

Usage::

    view = await centre_view(client, "centre-b")           # client/centres.py
    trail = await centre_trail(view, reader=open_reader())
    trail.audit, trail.alerts, trail.problems, trail.said()

Since the patch ``centre-lean-runs`` a centre workflow carries only what is open through
continue-as-new; its earlier runs' entries and alerts are in the store (keyed by centre and
seq). Joined by seq, the trail holds each entry once, whichever holds it (a carried entry is
in both), and its hash chain is verified whole. A store that cannot be read is said, and the
workflow's part is still shown.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field

from sqlalchemy.exc import SQLAlchemyError

from client.centres import CentreView
from models.audit import ChainProblem
from models.centre_audit import verify_centre_chain
from models.centre_record import CentreAlertEntry, CentreAuditEntry
from store import RecordReader
from store.centre_trail import CentreTrailStore


@dataclass(frozen=True)
class CentreTrail:
    centre: str
    audit: list[CentreAuditEntry]
    alerts: list[CentreAlertEntry]
    #: entries and alerts read from the record store (earlier runs) and from the workflow
    stored: tuple[int, int]
    live: tuple[int, int]
    problems: list[ChainProblem] = field(default_factory=list)
    #: why the store could not be read, if it could not
    store_error: str | None = None

    def said(self) -> str:
        """Where the trail was read, in words."""
        live = (
            f"{self.live[0]} audit entries and {self.live[1]} alerts from the centre's "
            "workflow in Temporal (its current run)"
        )
        if self.store_error:
            return f"{live}; the record store could not be read ({self.store_error})"
        return (
            f"{self.stored[0]} audit entries and {self.stored[1]} alerts of earlier runs "
            f"read from the record store; {live}"
        )


def _read_store(
    reader: RecordReader, centre: str
) -> tuple[list[CentreAuditEntry], list[CentreAlertEntry]]:
    trail = CentreTrailStore(reader.engine, reader.sealer)
    return trail.audit(centre), trail.alerts(centre)


async def centre_trail(view: CentreView, *, reader: RecordReader) -> CentreTrail:
    """The whole trail of the centre ``view`` shows (client/centres.py ``centre_view``)."""
    record = view.record
    centre = record.centre.id
    error = None
    try:
        stored_audit, stored_alerts = await asyncio.to_thread(_read_store, reader, centre)
    except SQLAlchemyError as err:
        stored_audit, stored_alerts = [], []
        error = f"{type(err).__name__}: run `cellpath db upgrade`, or set CELLPATH_DATABASE_URL"
    audit = {e.seq: e for e in stored_audit}
    live_audit = [e for e in record.audit if e.seq not in audit]
    audit.update({e.seq: e for e in live_audit})
    alerts = {a.seq: a for a in stored_alerts}
    live_alerts = [a for a in record.alerts if a.seq not in alerts]
    alerts.update({a.seq: a for a in live_alerts})
    entries = [audit[s] for s in sorted(audit)]
    return CentreTrail(
        centre=centre,
        audit=entries,
        alerts=[alerts[s] for s in sorted(alerts)],
        stored=(len(stored_audit), len(stored_alerts)),
        live=(len(live_audit), len(live_alerts)),
        problems=[] if error else verify_centre_chain(entries, centre),
        store_error=error,
    )
