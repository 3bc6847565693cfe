"""One vocabulary of refusals, from the chart to the CLI and the web page.

Every failure cellpath reports to people is a ``Refusal``: a message a nurse understands
and a ``rule``, the machine-readable name (the class name unless given) that travels as the
Temporal ``ApplicationError`` type, the CLI's JSON ``kind`` and the web page's error code.
Its ``outcome`` says what kind of failure it is; the CLI maps each outcome to one exit code
and the web app to one HTTP status, so neither keeps its own hierarchy.

Usage::

    class StaleWorkUp(Refusal):      # rule "StaleWorkUp", outcome REFUSED
        pass

    raise StaleWorkUp("The work-up is 104 days old; ...")
"""

from __future__ import annotations

from enum import StrEnum
from typing import ClassVar


class Outcome(StrEnum):
    """What kind of failure a refusal is (the CLI's exit code in brackets)."""

    FAILED = "failed"  # (1) nothing more specific: e.g. no worker answered
    BAD_INPUT = "bad_input"  # (2) the request itself is malformed or unusable
    REFUSED = "refused"  # (3) well-formed, but a rule of the pathway or centre says no
    NOT_FOUND = "not_found"  # (4) no such pathway or centre
    UNREACHABLE = "unreachable"  # (5) Temporal cannot be reached


class Refusal(Exception):
    """A failure for people: ``str(err)`` is the message, ``rule`` names the rule."""

    outcome: ClassVar[Outcome] = Outcome.REFUSED

    def __init__(self, message: str, *, rule: str | None = None):
        super().__init__(message)
        self.message = message
        self._rule = rule

    @property
    def rule(self) -> str:
        return self._rule or type(self).__name__
