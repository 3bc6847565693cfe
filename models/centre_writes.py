"""What a centre workflow hands the record store before it continues as new: the contract of
the ``keep_centre_records`` activity.

Usage::

    write = CentreRecordWrite(centre="centre-b", run=3, audit=record.unstored_audit(),
                              alerts=record.unstored_alerts())
    # workflows/centre.py sends it; activities/centre_records.py writes it (store/centre_trail.py)

Every entry is keyed by centre and seq (the chain's own numbering), every alert by centre and
seq too, so a retried or replayed activity writes nothing twice; ``run`` says which run of
the workflow held them.
"""

from __future__ import annotations

from pydantic import BaseModel

from models.centre_record import CentreAlertEntry, CentreAuditEntry


class CentreRecordWrite(BaseModel):
    centre: str
    run: int
    audit: list[CentreAuditEntry] = []
    alerts: list[CentreAlertEntry] = []

    def summary(self) -> str:
        """The activity's summary in the Web UI."""
        return (
            f"Keep centre {self.centre}'s records of run {self.run}: "
            f"{len(self.audit)} audit entries, {len(self.alerts)} alerts"
        )


class CentreRecordsKept(BaseModel):
    """How many rows were new (0 and 0 for a retried write)."""

    audit: int = 0
    alerts: int = 0
