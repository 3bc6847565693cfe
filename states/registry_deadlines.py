"""Registry forms on a pathway: when each falls due, submitting them, and visit content.

Pure, like the rest of ``states/``. The chart mixes in ``RegistryGuards``:

- ``guard_form_due`` validates ``submit_registry_form`` (a form of the protocol's registry,
  whose anchor has come, not yet submitted); ``on_submit_registry_form`` records it with
  the registry's reference;
- ``guard_visit_content`` refuses findings a visit does not record; ``after_record_visit``
  keeps the findings given (an item left out is listed as missing, never blocks the visit).

The workflow calls ``reconcile_forms`` after every transition: once a form's anchor is known
(MDTM decision, D0), it gets a deadline at anchor + at + within, escalated on the registry's
ladder (a repeating form: its next instance, once the previous one is submitted); a submission meets it, and the met deadline leaves the record (the
submission stays in ``record.registry``), so a 15-year pathway carries only what is owed.
A record without ``registry`` (a pathway started before forms were tracked) has none.
"""

from __future__ import annotations

from datetime import datetime

from models import actions as a
from models.protocol import Protocol
from models.record import Deadline, PathwayRecord
from models.registry_forms import FORMS, FormSubmitted, RegistryForm, form_key, visit_items
from states import errors as e


class UnknownRegistryForm(e.PathwayError):
    """``submit_registry_form`` names no form of the protocol's registry."""


class FormNotYetDue(e.PathwayError):
    """The form's anchor (MDTM decision, D0) has not happened yet."""


class FormAlreadySubmitted(e.PathwayError):
    pass


class VisitContentUnknown(e.PathwayError):
    """A visit finding names an item the protocol does not record at that visit."""


def anchor_time(record: PathwayRecord, form: RegistryForm) -> datetime | None:
    return record.mdtm_approved_at if form.anchor == "decision" else record.d0


class RegistryGuards:
    """Validators and callbacks of registry forms and visit content (mixed into the chart)."""

    record: PathwayRecord
    protocol: Protocol

    def guard_form_due(self, action: a.RegistryFormSubmission, now: datetime) -> None:
        plan = self.protocol.registry
        if self.record.registry is None or plan is None:
            raise UnknownRegistryForm(
                "This pathway reports no registry forms through cellpath "
                "(its protocol lists none, or it started before forms were tracked)."
            )
        found = plan.form(action.form)
        if found is None:
            keys = ", ".join(k for f in plan.forms for k, _, _ in f.instances()[:2])
            raise UnknownRegistryForm(
                f"'{action.form}' is not a {plan.name} form of protocol {self.protocol.id}. "
                f"Forms: {keys}…"
            )
        form, label, _ = found
        if anchor_time(self.record, form) is None:
            when = "the MDTM decision" if form.anchor == "decision" else "the infusion (D0)"
            raise FormNotYetDue(f"{label} is due after {when}, which has not happened yet.")
        if (earlier := self.record.registry.submitted.get(action.form)) is not None:
            raise FormAlreadySubmitted(
                f"{label} was already submitted on {earlier.at:%Y-%m-%d} "
                f"(reference {earlier.reference})."
            )
        instances = [k for k, _, _ in form.instances()]
        at = instances.index(action.form)
        if at > 0 and instances[at - 1] not in self.record.registry.submitted:
            raise FormNotYetDue(
                f"{label} opens once the previous one ({instances[at - 1]}) is submitted."
            )

    def on_submit_registry_form(self, action: a.RegistryFormSubmission, now: datetime) -> None:
        assert self.record.registry is not None
        self.record.registry.submitted[action.form] = FormSubmitted(
            at=now, actor=action.actor, reference=action.reference
        )

    def guard_visit_content(self, action: a.VisitRecord, now: datetime) -> None:
        allowed = {i.key for i in visit_items(self.protocol.visit_content, action.visit)}
        if unknown := sorted(set(action.findings) - allowed):
            raise VisitContentUnknown(
                f"Visit {action.visit} does not record {', '.join(unknown)}; it records: "
                f"{', '.join(sorted(allowed)) or 'nothing beyond the visit itself'}."
            )

    def after_record_visit(self, action: a.VisitRecord, now: datetime) -> None:
        if self.record.registry is not None and action.findings:
            self.record.registry.visit_findings[action.visit] = dict(action.findings)


def reconcile_forms(record: PathwayRecord, protocol: Protocol, now: datetime) -> list[Deadline]:
    """Drop the deadlines of forms submitted; arm those whose anchor is now known."""
    plan = protocol.registry
    if record.registry is None or plan is None:
        return []
    submitted = record.registry.submitted
    record.deadlines = [
        d
        for d in record.deadlines
        if not (d.state == FORMS and d.key.removeprefix("registry:") in submitted)
    ]
    have = {d.key for d in record.deadlines if d.state == FORMS}
    armed = []
    for form in plan.forms:
        anchor = anchor_time(record, form)
        if anchor is None:
            continue
        previous: str | None = None
        for key, label, at in form.instances():
            # A repeating form's next instance opens once the previous one is submitted:
            # a pathway carries one open yearly form, not fifteen.
            opened = previous is None or previous in submitted
            previous = key
            if key in submitted or form_key(key) in have or not opened:
                continue
            armed.append(
                Deadline(
                    key=form_key(key),
                    label=f"{plan.name} {label} due",
                    state=FORMS,
                    waiting_on=plan.waiting_on,
                    ladder=plan.ladder,
                    armed_at=now,
                    due_at=anchor + at + form.within,
                )
            )
    record.deadlines.extend(armed)
    return armed
