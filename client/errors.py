"""The client's refusals: what a call to a pathway or a centre can come back with.

Every one is a ``models.refusals.Refusal``: ``str(err)`` is for people, ``rule`` (also
``kind``, the CLI's JSON name for it) for scripts, and ``outcome`` decides the CLI's exit
code and the web app's status.

Usage::

    try:
        await pathways.act(client, pathway_id, "approve_at_mdtm", data)
    except ActionRefused as refused:
        print(refused.rule, refused.message)
"""

from __future__ import annotations

from models.refusals import Outcome, Refusal


class OperationError(Refusal):
    """A call that failed for a reason more specific than a rule: no worker, Temporal's own."""

    outcome = Outcome.FAILED

    def __init__(self, message: str, *, kind: str | None = None):
        super().__init__(message, rule=kind)

    @property
    def kind(self) -> str:
        """The rule's name as the CLI's ``--json`` error document spells it."""
        return self.rule


class BadInput(OperationError):
    """The request itself is malformed: details that do not parse, an unknown centre."""

    outcome = Outcome.BAD_INPUT


class ActionRefused(OperationError):
    """Well-formed, but a rule of the pathway or the centre says no."""

    outcome = Outcome.REFUSED


class PathwayNotFound(OperationError):
    outcome = Outcome.NOT_FOUND


class CentreNotFound(OperationError):
    outcome = Outcome.NOT_FOUND


class TemporalUnreachable(OperationError):
    """Temporal could not be reached; the message names the address tried."""

    outcome = Outcome.UNREACHABLE
