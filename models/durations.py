"""Clinical durations written the way protocols write them: ``90d``, ``48h``, ``3mo``, ``15y``.

Usage::

    class Window(BaseModel):
        validity: Duration  # accepts "90d", "P90D", 7776000 (seconds) or a timedelta

Months are 30.44 days and a year is ``YEAR``, 365.25 days (the mean Julian year: calendar-free,
so a visit "M3" or "Y2" lands on the same day whatever the start date). A clinical protocol
that needs calendar months should say so in days. ``YEAR`` is the one year of cellpath: the
protocol's ``y`` unit, the follow-up years that start a new run, the oldest possible birth.
"""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Annotated, Any

from pydantic import BeforeValidator, PlainSerializer

# The one definition of a year, everywhere (365 or 366 days are never meant).
YEAR = timedelta(days=365.25)

_UNITS = {
    "s": 1.0,
    "min": 60.0,
    "h": 3600.0,
    "d": 86400.0,
    "w": 7 * 86400.0,
    "mo": 30.44 * 86400.0,
    "y": YEAR.total_seconds(),
}
_PATTERN = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(s|min|h|d|w|mo|y)\s*$")


def parse_duration(value: Any) -> Any:
    """Turn ``"90d"``-style text into a timedelta; leave anything else to pydantic."""
    if isinstance(value, str):
        match = _PATTERN.match(value)
        if match:
            return timedelta(seconds=float(match.group(1)) * _UNITS[match.group(2)])
    return value


def format_duration(value: timedelta) -> str:
    """The shortest exact protocol spelling of a duration (``"90d"``, ``"36h"``, ``"1.5s"``)."""
    seconds = value.total_seconds()
    for unit in ("d", "h", "min"):
        size = _UNITS[unit]
        if seconds >= size and (seconds / size).is_integer():
            return f"{int(seconds / size)}{unit}"
    # Microsecond precision, so a compressed protocol survives a JSON round trip exactly.
    return f"{seconds:.6f}".rstrip("0").rstrip(".") + "s"


def humanize(value: timedelta) -> str:
    """A duration as a person reads it: ``3 d 4 h``, ``12 min``, ``-2 d 1 h`` when overdue."""
    seconds = int(value.total_seconds())
    sign = "-" if seconds < 0 else ""
    seconds = abs(seconds)
    days, rest = divmod(seconds, 86400)
    hours, rest = divmod(rest, 3600)
    minutes, secs = divmod(rest, 60)
    parts = [f"{n} {u}" for n, u in ((days, "d"), (hours, "h"), (minutes, "min")) if n]
    if not parts:
        parts = [f"{secs} s"]
    return sign + " ".join(parts[:2])


_UNIT_WORDS = {"d": "day", "h": "hour", "min": "minute"}
_UNIT_SECONDS = {"d": 86400, "h": 3600, "min": 60}


def in_words(value: timedelta, *, unit: str | None = None) -> str:
    """``42 days``, ``48 hours``, ``90 minutes``: a protocol duration in words, in ``unit``
    (``"d"``, ``"h"``, ``"min"``) when it is a whole number of them."""
    text = format_duration(value)
    if unit is not None and (value.total_seconds() / _UNIT_SECONDS[unit]).is_integer():
        text = f"{int(value.total_seconds() / _UNIT_SECONDS[unit])}{unit}"
    match = re.fullmatch(r"(\d+)(d|h|min)", text)
    if not match:
        return humanize(value)
    number, word = int(match.group(1)), _UNIT_WORDS[match.group(2)]
    return f"{number} {word}{'' if number == 1 else 's'}"


Duration = Annotated[
    timedelta,
    BeforeValidator(parse_duration),
    PlainSerializer(format_duration, return_type=str, when_used="json"),
]
