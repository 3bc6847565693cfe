"""What a pathway does with its centre's readiness: follow the centre's notices, and gate
the steps towards treatment on them.

Pure workflow-side logic (no I/O, no clock but the ``now`` passed in): the centre workflow
signals a ``CentreNotice``; ``follow_centre`` keeps it on the record and returns the
escalations for the care coordinator; ``check_centre`` refuses a gated step, reading only
what the centre signalled, so validators stay deterministic.

Two gates: the protocol's tocilizumab minimum (CAR-T), and every prerequisite the centre
policy requires for the pathway's therapy (``CENTRE_GATED`` steps: clearing for treatment,
lymphodepletion, thaw and infusion). While one has lapsed the step is refused
(``CentreNotReady``, a safety refusal: an incident) naming the prerequisite, its lapse date
and who can restore it. A pathway that has heard nothing from its centre is not gated (it
was referred without one, e.g. in tests of the pathway alone).
"""

from collections.abc import Callable
from datetime import datetime

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from models.centre_actions import CENTRE_ROLE_MATRIX
    from models.centre_notice import CentreNotice, CentreView, follow_notice
    from models.evidence import when_text
    from models.notifications import Escalation
    from models.protocol import Protocol
    from models.readiness import MissingItem
    from models.record import PathwayRecord
    from models.roles import Role
    from states import errors

# CAR-T steps towards infusion: each needs the protocol's tocilizumab on site at the centre.
TOCILIZUMAB_GATED = frozenset({"clear_for_treatment", "thaw_product", "infuse"})
# Steps towards treatment (CAR-T and MSC): each needs every prerequisite the centre policy
# requires for the therapy. Completing a lymphodepletion under way is not stopped.
CENTRE_GATED = frozenset(
    {
        "clear_for_treatment",
        "start_lymphodepletion",
        "repeat_lymphodepletion",
        "thaw_product",
        "infuse",
    }
)
# Guards (workflow.patched) the gate on lapsed prerequisites: a history recorded before it,
# where a step was accepted during a lapse, replays as it ran.
CENTRE_GATE_PATCH = "deviations-centre-gate"

# The centre action that restores each prerequisite (models/centre_actions.py).
RESTORED_BY = {
    "sponsor_qualification": "record_trial",
    "trained_staff": "record_training",
}


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


def restorer(item: MissingItem) -> str:
    """Who can restore a lapsed prerequisite, and with which centre action."""
    action = RESTORED_BY.get(item.prerequisite.value, f"record_{item.prerequisite.value}")
    roles = CENTRE_ROLE_MATRIX.get(action, frozenset())
    who = " or ".join(sorted(r.label for r in roles)) or "the programme lead"
    return f"{who} ({action})"


def lapse_text(record: PathwayRecord, item: MissingItem) -> str:
    """The prerequisite, why it is missing and since when, and who can restore it."""
    if item.since is not None:
        since = f"lapsed {when_text(item.since)}"
    else:
        alert = next((a for a in record.centre_alerts if a.open and a.key == item.key), None)
        since = f"known since {when_text(alert.raised_at)}" if alert else "not on file"
    return f"{item.label}: {item.reason} ({since}); restored by the {restorer(item)}"


def check_centre(
    record: PathwayRecord,
    protocol: Protocol,
    event: str,
    state: str,
    *,
    gate_lapses: Callable[[], bool] = lambda: True,
) -> None:
    """Refuse a step towards treatment while the centre reports too little tocilizumab
    (CAR-T) or a prerequisite of the pathway's therapy lapsed. A pathway that has heard
    nothing relies on what was declared at referral. ``gate_lapses`` is asked only when a
    lapse would refuse (the workflow's patch guard)."""
    status = record.centre_status
    if status is None:
        return
    check_tocilizumab(record, protocol, event, state)
    if event in CENTRE_GATED and status.missing and gate_lapses():
        lapsed = "; ".join(lapse_text(record, m) for m in status.missing)
        raise errors.CentreNotReady(
            f"{record.centre} is not ready for {record.therapy.value} treatment (as of "
            f"{when_text(status.as_of)}): {lapsed}. '{event}' waits until it is restored.",
            event=event,
            state=state,
        )


def check_tocilizumab(record: PathwayRecord, protocol: Protocol, event: str, state: str) -> None:
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
