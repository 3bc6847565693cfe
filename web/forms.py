"""Forms generated from the pydantic models: one field per model field, with its help text;
and the posted form read back into the details the model takes.

Booleans are a choice of yes / no with no answer preselected when the model has no default
(a missing fitness answer refuses the step: no safety default, not even a checkbox left
unticked). Date-times take ``now`` or ISO 8601 with a time zone. A list of words is one per
line; a list of records (a washout's drugs) is JSON. Nested models (the referral's binôme)
are flattened to ``binome.ard_specialist``.

Usage::

    fields = form_fields(EVENT_PAYLOADS["record_apheresis"])      # for the template
    details = read_form(EVENT_PAYLOADS["record_apheresis"], await request.form())
"""

from __future__ import annotations

import dataclasses
import enum
import json
import typing
from collections.abc import Mapping
from typing import Any

from pydantic import BaseModel
from pydantic.fields import FieldInfo

from models.action_fields import mentions, submodel, type_hint

#: fields the app fills itself: who acts comes from the session, never from the form
SESSION_FIELDS = frozenset({"actor", "role", "assertion", "cosignature"})
DATE_TIME_HELP = "now, or ISO 8601 with a time zone (2026-03-02T09:30:00+01:00)"


class FormRefused(ValueError):
    """A posted value that cannot be read (e.g. JSON that does not parse)."""


@dataclasses.dataclass(frozen=True)
class FormField:
    name: str
    label: str
    kind: str  # text, number, date-time, choice, lines, json
    required: bool
    help: str = ""
    choices: tuple[tuple[str, str], ...] = ()
    default: str = ""


def label_of(name: str) -> str:
    text = name.replace("_", " ").replace(".", ": ")
    return text[:1].upper() + text[1:]


def _choices(annotation: Any) -> tuple[tuple[str, str], ...]:
    for arg in (annotation, *typing.get_args(annotation)):
        if typing.get_origin(arg) is typing.Literal:
            return tuple((str(a), str(a)) for a in typing.get_args(arg))
        if isinstance(arg, type) and issubclass(arg, enum.Enum):
            return tuple((str(m.value), str(m.value).replace("_", " ")) for m in arg)
    return ()


def _optional(annotation: Any) -> Any:
    """``X`` of ``X | None`` (an optional part of the details), else the annotation."""
    args = [a for a in typing.get_args(annotation) if a is not type(None)]
    if type(None) in typing.get_args(annotation) and len(args) == 1:
        return args[0]
    return annotation


def _nested(annotation: Any) -> type[BaseModel] | None:
    annotation = _optional(annotation)
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    return None


def _default(field: FieldInfo) -> Any:
    return None if field.is_required() else field.default


def field_of(name: str, field: FieldInfo, *, optional: bool = False) -> FormField:
    annotation = _optional(field.annotation)
    required = field.is_required() and not optional
    help_text = field.description or ""
    # Nothing preselected in an optional part: a blank part is left out of the details.
    default = None if optional else _default(field)
    if typing.get_origin(annotation) is dict:
        # A mapping (the work-up's exclusion checklist: item -> present) is JSON.
        extra = 'JSON object, e.g. {"active_infection": false}'
        return FormField(name, label_of(name), "json", required, f"{help_text} ({extra})".strip())
    if mentions(annotation, bool):
        shown = "" if default is None else ("true" if default else "false")
        return FormField(
            name, label_of(name), "choice", required, help_text,
            (("true", "yes"), ("false", "no")), shown,
        )  # fmt: skip
    if choices := _choices(annotation):
        shown = "" if default is None else str(getattr(default, "value", default))
        return FormField(name, label_of(name), "choice", required, help_text, choices, shown)
    hint = type_hint(annotation)
    if hint == "date-time":
        return FormField(
            name, label_of(name), "date-time", required, help_text or DATE_TIME_HELP,
            default="now" if required else "",
        )  # fmt: skip
    if hint == "number":
        shown = "" if default is None else str(default)
        return FormField(name, label_of(name), "number", required, help_text, default=shown)
    if typing.get_origin(annotation) is list or hint.startswith("list"):
        # list[Model] | None (an optional list of records) is JSON like list[Model].
        sub = submodel(annotation) or next(
            (found for arg in typing.get_args(annotation) if (found := submodel(arg))), None
        )
        if sub is not None:
            example = {n: "…" for n in sub.model_fields}
            extra = f"JSON list, e.g. [{json.dumps(example, ensure_ascii=False)}]"
            return FormField(
                name,
                label_of(name),
                "json",
                required,
                f"{help_text} ({extra})".strip(),
                # A list that may be left out (None: the referral's treatments stand) starts
                # blank; an empty list would replace them.
                default="" if default is None else "[]",
            )
        return FormField(
            name, label_of(name), "lines", required, f"{help_text} (one per line)".strip()
        )
    shown = "" if default is None else str(default)
    return FormField(name, label_of(name), "text", required, help_text, default=shown)


def form_fields(
    model: type[BaseModel], prefix: str = "", *, optional: bool = False
) -> list[FormField]:
    """The form of ``model``: required fields first, the session's fields left out; the
    fields of an optional part (``optional``: an observation's ICANS findings) never
    required."""
    out: list[FormField] = []
    for name, field in model.model_fields.items():
        if name in SESSION_FIELDS:
            continue
        nested = _nested(field.annotation)
        if nested is not None:
            part_optional = optional or not field.is_required()
            out.extend(form_fields(nested, prefix=f"{prefix}{name}.", optional=part_optional))
            continue
        out.append(field_of(f"{prefix}{name}", field, optional=optional))
    return sorted(out, key=lambda f: (not f.required, f.name == "reason"))


def _value(field: FormField, raw: str) -> Any:
    if field.kind == "lines":
        return [line.strip() for line in raw.splitlines() if line.strip()]
    if field.kind == "json":
        try:
            return json.loads(raw)
        except json.JSONDecodeError as err:
            raise FormRefused(f"{field.label}: not valid JSON ({err.msg})") from None
    return raw


def read_form(model: type[BaseModel], form: Mapping[str, Any]) -> dict[str, Any]:
    """The details ``model`` takes, from a posted form: blank fields are left out (the
    model's default, or its "field required" refusal, applies)."""
    details: dict[str, Any] = {}
    for field in form_fields(model):
        raw = form.get(field.name)
        if not isinstance(raw, str) or not raw.strip():
            continue
        target = details
        *parents, leaf = field.name.split(".")
        for parent in parents:
            target = target.setdefault(parent, {})
        target[leaf] = _value(field, raw.strip())
    return details
