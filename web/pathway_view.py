"""A pathway as its page shows it: the state in words, open deadlines, incidents, the audit
timeline, and one form per action the signed-in person may send now.

Usage::

    view = await pathway_view(client, reader, pathway_id, staff.roles, staff.centres)
    view.forms[0].event, view.forms[0].fields          # for the template
    view.closed, view.source_said                      # read from the record store?

The pathway is read through ``client.records.read_pathway``: from its workflow while Temporal
keeps it, else, once the closed workflow has expired, from the record store; a pathway read
from the store is closed, says so, and offers no action.
"""

from __future__ import annotations

import dataclasses
import uuid
from typing import Any

from temporalio.client import Client

from client import pathways
from client.diagrams import event_label
from client.records import Source, read_pathway
from models.action_fields import ANY_TIME, fields_text, ordered
from models.actions import EVENT_PAYLOADS
from models.cosignature import COSIGN_MEANING, cosignature_rule
from models.record import AuditEntry, Deadline, PathwayRecord
from models.refusals import Outcome, Refusal
from models.roles import Role
from models.signatures import is_signature, meanings_for
from states.registry import chart_class
from store import RecordReader
from web.forms import FormField, form_fields


@dataclasses.dataclass(frozen=True)
class ActionForm:
    event: str
    label: str
    role: Role
    summary: str
    fields: list[FormField]
    signature: bool
    meanings: tuple[str, ...]
    #: the second person's co-signature (models/cosignature.py): "required", "optional", ""
    cosign: str
    any_time: bool
    #: made when the form is drawn: a second click on the same form is the same action
    update_id: str = dataclasses.field(default_factory=lambda: str(uuid.uuid4()))


@dataclasses.dataclass(frozen=True)
class PathwayView:
    record: PathwayRecord
    state_words: str
    phases: list[str]
    deadlines: list[Deadline]
    incidents: list[dict[str, Any]]
    audit: list[AuditEntry]
    forms: list[ActionForm]
    source: Source = Source.TEMPORAL

    @property
    def closed(self) -> bool:
        """Read from the record store: the pathway closed and its workflow has expired."""
        return self.source is Source.STORE

    @property
    def source_said(self) -> str:
        if self.closed:
            return "Closed — read from the record store (its workflow has expired from Temporal)."
        said = self.source.said
        return f"{said[:1].upper()}{said[1:]}."


def state_name(therapy: str | None, state: str) -> str:
    """How staff call a state of the therapy's chart (its id when unknown)."""
    try:
        found = chart_class(therapy or "").states_map.get(state)
    except ValueError:
        return state
    return str(found.name) if found is not None else state


def state_words(record: PathwayRecord) -> tuple[str, list[str]]:
    """The innermost state's name, and the names of the phases around it."""
    try:
        states = chart_class(record.therapy.value).states_map
    except ValueError:
        return record.state, []
    names = [str(states[s].name) if s in states else s for s in record.configuration]
    return (names[-1] if names else record.state), names[:-1]


def action_form(event: str, role: Role, any_time: bool) -> ActionForm:
    model = EVENT_PAYLOADS[event]
    rule = cosignature_rule(event)
    return ActionForm(
        event=event,
        label=event_label(event),
        role=role,
        summary=fields_text(event),
        fields=form_fields(model),
        signature=is_signature(event),
        # "verified" is the second person's meaning when the action is co-signed
        meanings=tuple(
            m for m in meanings_for(event) if not (rule and rule.required and m == COSIGN_MEANING)
        ),
        cosign="" if rule is None else ("required" if rule.required else "optional"),
        any_time=any_time,
    )


def incidents_of(record: PathwayRecord) -> list[dict[str, Any]]:
    """Whatever incident data the record holds (its deviation log, ``incidents``, when the
    record has one): when, who, and the incident in words."""
    out = []
    for item in getattr(record, "incidents", None) or []:
        if hasattr(item, "describe"):
            role = getattr(getattr(item, "role", None), "value", "")
            out.append(
                {
                    "at": getattr(item, "at", None),
                    "who": f"{getattr(item, 'actor', '')} ({role})".replace("_", " "),
                    "what": item.describe(),
                }
            )
        else:
            dumped = item.model_dump(mode="json") if hasattr(item, "model_dump") else dict(item)
            out.append(
                {"at": None, "who": "", "what": ", ".join(f"{k}: {v}" for k, v in dumped.items())}
            )
    return out


async def allowed_forms(
    client: Client, pathway_id: str, roles: tuple[Role, ...]
) -> list[ActionForm]:
    """One form per action one of ``roles`` may send now (in the first role that may)."""
    chosen: dict[str, Role] = {}
    for role in roles:
        allowed = await pathways.allowed_actions(client, pathway_id, role)
        for event in allowed.events:
            if event in EVENT_PAYLOADS:
                chosen.setdefault(event, role)

    return [action_form(e, chosen[e], e in ANY_TIME) for e in ordered(list(chosen))]


class NotYourCentre(Refusal):
    """A pathway at a centre the signed-in person does not work at."""

    outcome = Outcome.REFUSED


def check_centre(record: PathwayRecord, centres: tuple[str, ...]) -> None:
    if record.centre not in centres:
        raise NotYourCentre(
            f"{record.pathway_id} is at {record.centre}; you work at "
            f"{', '.join(centres) or 'no centre'}."
        )


async def pathway_view(
    client: Client,
    reader: RecordReader,
    pathway_id: str,
    roles: tuple[Role, ...],
    centres: tuple[str, ...],
) -> PathwayView:
    # An open pathway's whole trail (earlier runs' entries from the store, lean runs), or a
    # closed one from the store once its workflow has expired.
    read = await read_pathway(client, pathway_id, reader=reader)
    record = read.record
    check_centre(record, centres)
    words, phases = state_words(record)
    return PathwayView(
        record=record,
        state_words=words,
        phases=phases,
        deadlines=sorted(record.open_deadlines(), key=lambda d: d.due_at),
        incidents=incidents_of(record),
        audit=list(reversed(record.audit)),
        forms=[] if read.source is Source.STORE else await allowed_forms(client, pathway_id, roles),
        source=read.source,
    )
