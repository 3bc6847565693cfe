"""One readable sentence for a pydantic ``ValidationError`` (for staff, not developers)."""

from __future__ import annotations

from pydantic import ValidationError

_PLAIN = {
    "timezone_aware": "give the time zone, e.g. 2026-03-02T09:30:00+01:00 or 2026-03-02T08:30:00Z",
}


def readable(err: ValidationError) -> str:
    """``"cell_therapy_specialist: field required; grade: must be at most 5"``."""
    parts = []
    for problem in err.errors():
        where = ".".join(str(p) for p in problem["loc"]) or "value"
        message = _PLAIN.get(problem["type"], problem["msg"])
        message = message[0].lower() + message[1:] if message else message
        message = message.replace("Value error, ", "").replace("value error, ", "")
        parts.append(f"{where}: {message}")
    return "; ".join(parts)
