"""What a pathway owes its registry, read from the record: due forms and the form exports.

Usage::

    views = form_views(record, protocol)                  # every form: due, submitted, later
    doc = export_form(record, protocol, "day-100")        # the form's fields, as JSON

Pure: no clock (``overdue`` is the deadline's own status, set by the escalation).

The day-100 form carries the CRS and ICANS fields (onset, resolution, highest grade): they
are read from the record's graded observations (``record.grading``, the course of each
syndrome) when some were recorded, otherwise from its adverse events of kind CRS and ICANS
(onset and highest grade; resolution unknown).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict

from models.protocol import Protocol
from models.record import DeadlineStatus, PathwayRecord
from models.registry_forms import FORMS, form_key


class FormView(BaseModel):
    """A registry form of a pathway, as ``registry due`` and ``show`` list it."""

    model_config = ConfigDict(frozen=True)

    registry: str
    key: str
    label: str
    status: str  # due, overdue, submitted, later (anchor or previous form to come)
    due_at: datetime | None = None
    escalation_level: int = 0
    submitted_at: datetime | None = None
    reference: str | None = None


def form_views(record: PathwayRecord, protocol: Protocol) -> list[FormView]:
    """Every form instance of the protocol's registry on this pathway, in protocol order;
    empty for a pathway that does not track forms or a protocol without a registry."""
    plan = protocol.registry
    if record.registry is None or plan is None:
        return []
    open_by_key = {d.key: d for d in record.deadlines if d.state == FORMS and d.open}
    views = []
    for form in plan.forms:
        for key, label, _ in form.instances():
            done = record.registry.submitted.get(key)
            deadline = open_by_key.get(form_key(key))
            if done is not None:
                view = FormView(
                    registry=plan.name,
                    key=key,
                    label=label,
                    status="submitted",
                    submitted_at=done.at,
                    reference=done.reference,
                )
            elif deadline is not None:
                late = deadline.status is DeadlineStatus.OVERDUE
                view = FormView(
                    registry=plan.name,
                    key=key,
                    label=label,
                    status="overdue" if late else "due",
                    due_at=deadline.due_at,
                    escalation_level=deadline.level,
                )
            else:
                view = FormView(registry=plan.name, key=key, label=label, status="later")
            views.append(view)
    return views


def _iso(value: datetime | None) -> str | None:
    return value.isoformat().replace("+00:00", "Z") if value is not None else None


def crs_icans_fields(record: PathwayRecord) -> dict[str, Any]:
    """Onset, resolution and highest grade of CRS and of ICANS, for the day-100 form: from
    the graded observations (``record.grading``) when any were recorded, else from the
    adverse events of that kind (onset and highest grade; resolution unknown)."""
    grading = getattr(record, "grading", None)
    observed = bool(getattr(grading, "observations", None))
    out: dict[str, Any] = {}
    for kind in ("CRS", "ICANS"):
        course = getattr(grading, kind.lower(), None) if observed else None
        if course is not None:
            out[kind.lower()] = {
                "occurred": course.onset_at is not None,
                "onset": _iso(course.onset_at),
                "resolution": _iso(course.resolved_at),
                "highest_grade": course.highest,
                "from": "graded observations",
            }
            continue
        events = [ae for ae in record.adverse_events if ae.kind == kind]
        out[kind.lower()] = {
            "occurred": bool(events),
            "onset": _iso(min(ae.at for ae in events)) if events else None,
            "resolution": None,
            "highest_grade": max(ae.grade for ae in events) if events else 0,
            "from": "adverse events",
        }
    return out


class UnknownForm(ValueError):
    """No form of this key in the pathway's registry."""


def export_form(record: PathwayRecord, protocol: Protocol, key: str) -> dict[str, Any]:
    """The registry form ``key`` of this pathway as a JSON document (pseudonymous)."""
    plan = protocol.registry
    found = plan.form(key) if plan is not None else None
    if plan is None or found is None:
        keys = [k for f in plan.forms for k, _, _ in f.instances()] if plan else []
        raise UnknownForm(
            f"no form {key!r} in the registry of protocol {protocol.id}"
            + (f"; forms: {', '.join(keys[:8])}…" if keys else "")
        )
    form, label, at = found
    view = next((v for v in form_views(record, protocol) if v.key == key), None)
    doc: dict[str, Any] = {
        "registry": plan.name,
        "form": key,
        "label": label,
        "status": view.status if view else "not tracked",
        "reference": view.reference if view else None,
        "pathway_id": record.pathway_id,
        "pseudonym": record.pseudonym,
        "centre": record.centre,
        "therapy": record.therapy.value,
        "disease": record.disease,
        "age_band": record.age_band,
        "protocol_id": record.protocol_id,
        "decision_at": _iso(record.mdtm_approved_at),
        "d0": _iso(record.d0),
        "infusions": len(record.infusions),
        "outcome": record.outcome,
        "state": record.state,
    }
    if form.crs_icans:
        doc["crs_icans"] = crs_icans_fields(record)
    if record.registry is not None:
        doc["visits"] = {
            label: {
                "at": _iso(when),
                "findings": record.registry.visit_findings.get(label, {}),
            }
            for label, when in record.visits.items()
        }
    return doc
