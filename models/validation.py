"""One readable sentence for a pydantic ``ValidationError`` (for staff, not developers).

A field's pattern reads as words when it is declared with ``pattern(regex, words)``::

    PersonId = Annotated[str, StringConstraints(pattern=pattern(r"^[\\w.' -]+$", "a staff ID"))]

Limitations: at most ``MAX_PROBLEMS`` problems are listed, and a field path that came from the
input (an unknown key) is shortened: the sentence never echoes a huge input back.
"""

from __future__ import annotations

from pydantic import ValidationError

_PLAIN = {
    "timezone_aware": "give the time zone, e.g. 2026-03-02T09:30:00+01:00 or 2026-03-02T08:30:00Z",
    # Bytes that are not UTF-8 on the command line arrive as lone surrogates.
    "string_unicode": "contains characters that cannot be read as text; type it again",
}

# regex -> how to say it to staff ("should be …"), filled by ``pattern``
_PATTERN_WORDS: dict[str, str] = {}

MAX_PROBLEMS = 6
MAX_WHERE = 60


def pattern(regex: str, words: str) -> str:
    """``regex`` for ``StringConstraints``; a value that does not match reads "should be WORDS"."""
    _PATTERN_WORDS[regex] = words
    return regex


def _shorten(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def readable(err: ValidationError) -> str:
    """``"cell_therapy_specialist: field required; grade: must be at most 5"``."""
    problems = err.errors()
    parts = []
    for problem in problems[:MAX_PROBLEMS]:
        where = _shorten(".".join(str(p) for p in problem["loc"]) or "value", MAX_WHERE)
        message = _PLAIN.get(problem["type"], problem["msg"])
        if problem["type"] == "string_pattern_mismatch":
            words = _PATTERN_WORDS.get(str((problem.get("ctx") or {}).get("pattern")))
            message = f"should be {words}" if words else message
        message = message[0].lower() + message[1:] if message else message
        message = message.replace("Value error, ", "").replace("value error, ", "")
        parts.append(f"{where}: {message}")
    if len(problems) > MAX_PROBLEMS:
        parts.append(f"and {len(problems) - MAX_PROBLEMS} more problem(s)")
    return "; ".join(parts)
