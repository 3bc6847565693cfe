"""The deviation log kept by a pathway workflow: an incident for every action refused on a
safety rule and for every product deviation recorded (models/incident.py).

A refusal on a safety rule (``states.errors.SafetyRefusal``) is let through by the Update's
validator; the handler records the incident, then raises the refusal as the Update's
failure: the action changes nothing else, and the incident is in the workflow's state and,
through the accepted Update's payload, in its history (a replay rebuilds it from there).

Repeats: within a run the Temporal server answers the same Update ID with its stored
failure; in a later run (after continue-as-new) ``earlier_refusal`` gives the refusal the
ID already left, without a second incident.

Usage (workflow code)::

    if isinstance(err, errors.SafetyRefusal) and workflow.patched(REFUSAL_PATCH):
        log_refusal(record, event, action, err, now=now, update_id=update_id)
    raise rejection(err)

Pure: no I/O, no clock but the ``now`` passed in.
"""

from datetime import datetime

from temporalio import workflow
from temporalio.exceptions import ApplicationError

with workflow.unsafe.imports_passed_through():
    from models.actions import StaffAction
    from models.cosignature import SIGNATURE_FIELDS
    from models.incident import Incident, IncidentKind
    from models.record import AuditEntry, PathwayRecord
    from states import errors
    from workflows.updates import rejection

# Guards (workflow.patched) of the deviation log: histories recorded before it replay as
# they ran (no incident, refusals only in validators).
REFUSAL_PATCH = "deviations-refusal-incidents"
PRODUCT_PATCH = "deviations-product-incidents"

# Accepted actions that are product deviations in themselves, with the rule they record.
PRODUCT_DEVIATIONS = {
    "quarantine_product": "ProductQuarantined",
    "report_out_of_specification": "OutOfSpecification",
    "discard_thawed_product": "ProductDiscarded",
    # A bag discarded from quarantine (states/product_guards.py): a new event, so no
    # history recorded before it holds one.
    "discard_quarantined_product": "ProductDiscarded",
}


def presented(action: StaffAction) -> dict[str, object]:
    """What the action was sent with: its details, never the actor assertion."""
    return action.model_dump(mode="json", exclude={"actor", "role", *SIGNATURE_FIELDS})


def log_refusal(
    record: PathwayRecord,
    event: str,
    action: StaffAction,
    refusal: errors.PathwayError,
    *,
    now: datetime,
    update_id: str | None,
) -> Incident:
    """Append the incident of ``action`` refused by ``refusal`` to the deviation log."""
    incident = Incident(
        seq=record.incident_count + 1,
        at=now,
        kind=IncidentKind.REFUSED,
        event=event,
        actor=action.actor,
        role=action.role,
        rule=refusal.rule,
        message=refusal.message,
        state=refusal.state or record.state,
        update_id=update_id,
        presented=presented(action),
    )
    record.incidents.append(incident)
    return incident


def product_deviation(entry: AuditEntry) -> tuple[str, str] | None:
    """The rule and the words of the product deviation an accepted action recorded: a
    quarantine, an out-of-specification release, a discarded bag, or a receipt whose
    shipper temperature log was not satisfactory."""
    data = entry.data
    if entry.event in PRODUCT_DEVIATIONS:
        said = data.get("finding") or entry.reason or "no finding given"
        return PRODUCT_DEVIATIONS[entry.event], f"{entry.event.replace('_', ' ')}: {said}"
    if entry.event in ("receive_product", "release_from_quarantine") and (
        data.get("temperature_log_ok") is False
    ):
        return "TemperatureExcursion", (
            f"The shipper's temperature log was not satisfactory at {entry.event.replace('_', ' ')} "
            f"(bag {data.get('bag_coi_id')})."
        )
    return None


def log_product_deviation(record: PathwayRecord, entry: AuditEntry) -> Incident | None:
    """Append the incident of the product deviation ``entry`` recorded, if it is one."""
    found = product_deviation(entry)
    if found is None:
        return None
    rule, message = found
    incident = Incident(
        seq=record.incident_count + 1,
        at=entry.at,
        kind=IncidentKind.PRODUCT,
        event=entry.event,
        actor=entry.actor,
        role=entry.role,
        rule=rule,
        message=message,
        state=entry.to_state,
        update_id=entry.update_id,
        presented=dict(entry.data),
    )
    record.incidents.append(incident)
    return incident


def earlier_refusal(
    record: PathwayRecord, update_id: str | None, event: str, action: StaffAction, state: str
) -> ApplicationError | None:
    """The refusal an Update with this ID already left as an incident (a repeat reaching a
    later run): the same failure again, and no second incident; ``UpdateIdReused`` when the
    ID comes back with another action or other details."""
    incident = record.incident_for_update(update_id)
    if incident is None:
        return None
    if incident.event != event or incident.presented != presented(action):
        used = "with other details" if incident.event == event else f"for '{incident.event}'"
        return rejection(
            errors.UpdateIdReused(
                f"Update ID {update_id} was already used {used}, and refused "
                f"({incident.rule}, incident #{incident.seq}); '{event}' was not done and "
                "nothing changed. Send it with a new update ID.",
                event=event,
                state=state,
            )
        )
    details = [{"event": incident.event, "state": incident.state}]
    return ApplicationError(incident.message, *details, type=incident.rule)
