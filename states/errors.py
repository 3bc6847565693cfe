"""Why a staff action was refused, in words a nurse understands.

Every refusal of a pathway is a ``PathwayError``, a ``models.refusals.Refusal`` with the
event and state it concerned. Its ``rule`` (the subclass name) is the Temporal
``ApplicationError`` type callers branch on: these names are a contract (committed
histories and the CLI's exit codes depend on them), so a class is never renamed.

Usage::

    raise RoleNotAllowed("The nurse role cannot do 'approve_at_mdtm'. ...", event="...")
"""

from __future__ import annotations

from models.refusals import Refusal


class PathwayError(Refusal):
    """An action the pathway refuses; ``str(err)`` is the message for people."""

    def __init__(
        self,
        message: str,
        *,
        event: str | None = None,
        state: str | None = None,
        rule: str | None = None,
    ):
        super().__init__(message, rule=rule)
        self.event = event
        self.state = state


class SafetyRefusal(PathwayError):
    """A refusal on a safety rule (identity, product integrity, fitness, centre readiness):
    besides changing nothing, it leaves an incident in the pathway's deviation log."""


class UnknownEvent(PathwayError):
    pass


class ActionNotAllowedNow(PathwayError):
    pass


class RoleNotAllowed(PathwayError):
    """The staff member's role may not send this action (models/roles.py)."""


class MalformedAction(PathwayError):
    """The action's details cannot be read or are not valid."""


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


class TocilizumabBelowMinimum(PathwayError):
    """The centre reports less tocilizumab on site than the protocol requires."""


class NotEligible(PathwayError):
    """The protocol's eligibility criteria (activity score, refractoriness to reference
    treatments, exclusion checklist) are not met: the message names each unmet one."""


class UnknownChartState(PathwayError):
    """The stored configuration names a state the pathway's chart no longer has."""


class UpdateIdReused(PathwayError):
    """An Update ID already carried another action (or the same action with other details)
    on this pathway: the click is not the one that ID recorded, so nothing is done."""
