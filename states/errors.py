"""Why a staff action was refused, in words a nurse understands.

Every refusal is a ``PathwayError`` with a machine-readable ``rule`` (the subclass name,
used as the Temporal ``ApplicationError`` type) and the event and state it concerned.
"""

from __future__ import annotations


class PathwayError(Exception):
    """An action the pathway refuses; ``str(err)`` is the message for people."""

    def __init__(self, message: str, *, event: str | None = None, state: str | None = None):
        super().__init__(message)
        self.message = message
        self.event = event
        self.state = state

    @property
    def rule(self) -> str:
        return type(self).__name__


class UnknownEvent(PathwayError):
    pass


class ActionNotAllowedNow(PathwayError):
    pass


class RoleNotAllowed(PathwayError):
    pass


class MalformedAction(PathwayError):
    pass


class StaleWorkUp(PathwayError):
    pass


class WorkUpIncomplete(PathwayError):
    pass


class BinomeIncomplete(PathwayError):
    pass


class WashoutIncomplete(PathwayError):
    pass


class IdentityMismatch(PathwayError):
    pass


class TwoPersonCheckMissing(PathwayError):
    pass


class ActiveInfection(PathwayError):
    pass


class NotClearedForTreatment(PathwayError):
    pass


class ProductNotOnSite(PathwayError):
    pass


class OutsideWindow(PathwayError):
    pass


class NotAfebrile(PathwayError):
    pass


class VisitsOutstanding(PathwayError):
    pass


class DateInFuture(PathwayError):
    pass


class DateBeforeBirth(PathwayError):
    pass
