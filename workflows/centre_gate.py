"""What a pathway does with its centre's readiness: follow the centre's notices, and gate
the steps towards treatment on them.

Pure workflow-side logic (no I/O, no clock but the ``now`` passed in): the centre workflow
signals a ``CentreNotice``; ``follow_centre`` keeps it on the record and returns the
escalations for the care coordinator; ``check_centre`` refuses a gated step, reading only
what the centre signalled, so validators stay deterministic.
"""

from datetime import datetime

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from models.centre_notice import CentreNotice, CentreView, follow_notice
    from models.evidence import when_text
    from models.notifications import Escalation
    from models.protocol import Protocol
    from models.record import PathwayRecord
    from models.roles import Role
    from states import errors

# CAR-T steps towards infusion: each needs the protocol's tocilizumab on site at the centre.
TOCILIZUMAB_GATED = frozenset({"clear_for_treatment", "thaw_product", "infuse"})


def follow_centre(
    record: PathwayRecord, notice: CentreNotice, now: datetime
) -> tuple[list[Escalation], bool]:
    """Keep the centre's view on the record; the escalations to send for newly lapsed
    prerequisites, and whether anything the pathway shows changed."""
    status = record.centre_status
    if notice.centre != record.centre or (status is not None and notice.order <= status.order):
        return [], False  # another centre's, or older than what the pathway already knows
    seen = notice.for_therapy(record.therapy)
    record.centre_status = CentreView(
        version=notice.version,
        as_of=notice.as_of,
        ready=seen.ready,
        missing=seen.missing,
        tocilizumab_doses=notice.tocilizumab_doses,
    )
    raised, cleared = follow_notice(record.centre_alerts, seen, now)
    news = [
        Escalation(
            pathway_id=record.pathway_id,
            centre=record.centre,
            therapy=record.therapy.value,
            state=record.state,
            deadline_key=f"centre:{alert.key}",
            label=f"Centre prerequisite missing at {record.centre}: {alert.label} ({alert.reason})",
            due_at=alert.raised_at,
            level=1,
            notify=[Role.CARE_COORDINATOR],
            waiting_on=Role.PROGRAMME_LEAD,
        )
        for alert in raised
    ]
    return news, bool(raised or cleared)


def check_centre(record: PathwayRecord, protocol: Protocol, event: str, state: str) -> None:
    """Refuse a step towards CAR-T infusion while the centre reports too little
    tocilizumab. A pathway that has heard nothing relies on the declared count."""
    minimum = protocol.tocilizumab_min_doses
    status = record.centre_status
    if event not in TOCILIZUMAB_GATED or minimum == 0 or status is None:
        return
    doses = status.tocilizumab_doses or 0
    if doses < minimum:
        raise errors.TocilizumabBelowMinimum(
            f"{record.centre} reports {doses} dose(s) of tocilizumab on site "
            f"(as of {when_text(status.as_of)}); the protocol requires at least "
            f"{minimum} before a CAR-T infusion. The pharmacy must restock and record "
            "the count.",
            event=event,
            state=state,
        )
