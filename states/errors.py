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
    besides changing nothing, it leaves an incident in the pathway's deviation log
    (models/incident.py, workflows/incidents.py).

    Safety rules: the washout before leukapheresis, the chain of identity, the two-person
    bedside check, fitness for treatment (infection, cardiac re-check, tocilizumab), the
    product on site, the treatment windows, afebrile before infusion, the centre's
    prerequisites. Not safety rules, refused without an incident: who may act (role), the
    form of the details, the order of steps, the MDTM's own rules (work-up age and
    completeness, binôme signatures: the meeting's governance, re-presented at the next
    MDTM), visits outstanding, dates that are typos, a reused Update ID."""


class UnknownEvent(PathwayError):
    pass


class RunStarting(PathwayError):
    """The pathway's next run is fetching its protocol version from the record store (a
    moment at each follow-up year, workflows/lean_runs.py): nothing changed; the client
    sends the action again."""


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


class WashoutIncomplete(SafetyRefusal):
    pass


class IdentityMismatch(SafetyRefusal):
    pass


class TwoPersonCheckMissing(SafetyRefusal):
    pass


class ActiveInfection(SafetyRefusal):
    pass


class NotClearedForTreatment(SafetyRefusal):
    pass


class ProductNotOnSite(SafetyRefusal):
    pass


class OutsideWindow(SafetyRefusal):
    pass


class NotAfebrile(SafetyRefusal):
    pass


class VisitsOutstanding(PathwayError):
    pass


class DateInFuture(PathwayError):
    pass


class DateBeforeBirth(PathwayError):
    pass


class TocilizumabBelowMinimum(SafetyRefusal):
    """The centre reports less tocilizumab on site than the protocol requires."""


class NotEligible(PathwayError):
    """The protocol's eligibility criteria (activity score, refractoriness to reference
    treatments, exclusion checklist) are not met: the message names each unmet one."""


class CentreNotReady(SafetyRefusal):
    """A prerequisite the centre policy requires for the therapy has lapsed at the centre
    (workflows/centre_gate.py): treatment waits until it is restored."""


class MonitoringPeriodNotOver(SafetyRefusal):
    """Discharge (CAR-T) or the end of an observation (MSC) before the protocol's minimum
    monitoring period after infusion (states/monitoring.py)."""


class UnknownChartState(PathwayError):
    """The stored configuration names a state the pathway's chart no longer has."""


class UpdateIdReused(PathwayError):
    """An Update ID already carried another action (or the same action with other details)
    on this pathway: the click is not the one that ID recorded, so nothing is done."""
