"""What each staff action takes, read from its pydantic model: the fields and their short
types, the any-time actions listed last, ``"now"`` in a date-time field. The CLI's
``--help-events`` and the web app's action forms both read it.

Usage::

    fields_text("approve_at_mdtm")   # "--data ard_specialist, cell_therapy_specialist; ..."
    required, optional = fields("record_apheresis")   # {"coi_id": "text"}, {...}
    payload = fill_now(EVENT_PAYLOADS["book_apheresis"], {"slot_at": "now"}, iso_now)
"""

from __future__ import annotations

import types
import typing
from datetime import datetime
from typing import Any

from pydantic import AwareDatetime, BaseModel

from models.actions import EVENT_PAYLOADS

# Actions possible almost anywhere: listed after the ones that move the pathway on.
ANY_TIME = (
    "record_task",
    "record_adverse_event",
    "report_adverse_event",
    "hold",
    "withdraw",
    "record_death",
)


def ordered(events: list[str]) -> list[str]:
    """Actions that move the pathway on first, the any-time ones (hold, withdraw…) last."""
    return [e for e in events if e not in ANY_TIME] + [e for e in events if e in ANY_TIME]


def mentions(annotation: Any, kind: type) -> bool:
    if annotation is kind or (kind is datetime and annotation is AwareDatetime):
        return True
    return any(mentions(arg, kind) for arg in typing.get_args(annotation))


def submodel(annotation: Any) -> type[BaseModel] | None:
    for arg in typing.get_args(annotation):
        if isinstance(arg, type) and issubclass(arg, BaseModel):
            return arg
    return None


def fill_now(model: type[BaseModel], data: dict[str, Any], now: str) -> dict[str, Any]:
    """``"now"`` in a date-time field of the action's details means the current time."""
    out = dict(data)
    for name, value in data.items():
        field = model.model_fields.get(name)
        if field is None:
            continue
        if isinstance(value, str) and value.strip().lower() == "now":
            if mentions(field.annotation, datetime):
                out[name] = now
        elif isinstance(value, list) and (sub := submodel(field.annotation)) is not None:
            out[name] = [fill_now(sub, v, now) if isinstance(v, dict) else v for v in value]
    return out


def naive_times(value: Any, where: str = "") -> list[str]:
    if isinstance(value, datetime):
        return [where] if value.tzinfo is None else []
    if isinstance(value, BaseModel):
        return [
            p
            for name in type(value).model_fields
            for p in naive_times(getattr(value, name), f"{where}.{name}" if where else name)
        ]
    if isinstance(value, (list, tuple)):
        return [p for i, v in enumerate(value) for p in naive_times(v, f"{where}.{i}")]
    return []


def type_hint(annotation: Any) -> str:
    if mentions(annotation, datetime):
        return "date-time"
    if mentions(annotation, bool):
        return "true|false"
    if mentions(annotation, int) or mentions(annotation, float):
        return "number"
    origin = typing.get_origin(annotation)
    if origin is typing.Literal:
        return "|".join(str(a) for a in typing.get_args(annotation))
    if origin in (typing.Union, types.UnionType, typing.Annotated):
        inner = [a for a in typing.get_args(annotation) if a is not type(None)]
        return type_hint(inner[0]) if inner else "text"
    if origin is list:
        sub = submodel(annotation)
        if sub is not None:
            return "list of {" + ", ".join(field_names(sub)) + "}"
        return "list"
    return "text"


def field_names(model: type[BaseModel]) -> list[str]:
    return [
        n if f.is_required() else f"{n}?"
        for n, f in model.model_fields.items()
        if n not in ("actor", "role", "reason", "assertion", "cosignature")
    ]


def fields(event: str) -> tuple[dict[str, str], dict[str, str]]:
    """The details an event takes (actor and role aside): required and optional, each
    field with a short type (``date-time``, ``number``, ``true|false``…)."""
    model = EVENT_PAYLOADS.get(event)
    if model is None:
        return {}, {}
    required: dict[str, str] = {}
    optional: dict[str, str] = {}
    for name, field in model.model_fields.items():
        if name in ("actor", "role", "assertion", "cosignature"):
            continue
        (required if field.is_required() else optional)[name] = type_hint(field.annotation)
    return required, optional


def fields_text(event: str) -> str:
    """``--data ard_specialist, cell_therapy_specialist; optional: meeting_id`` (a reason
    that must be given goes in ``--reason``)."""
    required, optional = fields(event)

    def named(name: str, kind: str) -> str:
        return name if kind == "text" else f"{name} ({kind})"

    parts = []
    need = [named(n, t) for n, t in required.items() if n != "reason"]
    if need:
        parts.append("--data " + ", ".join(need))
    if "reason" in required:
        parts.append("--reason TEXT")
    extra = [n for n in optional if n != "reason"]
    if extra:
        parts.append("optional: " + ", ".join(extra))
    return "; ".join(parts) or "no details"
