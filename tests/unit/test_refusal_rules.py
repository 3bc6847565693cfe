"""Pathway refusals are one tree under models.refusals.Refusal, and their rule names (the
ApplicationError types callers, the CLI and committed histories see) never change."""

from __future__ import annotations

import pytest

from models.refusals import Outcome, Refusal
from states import errors as e

# The contract: renaming one of these breaks callers that branch on the type.
RULES = {
    "ActionNotAllowedNow",
    "ActiveInfection",
    "AnswerMissing",  # explicit safety rules (states/safety_refusals.py)
    "BinomeIncomplete",
    "CentreNotReady",
    "ConsentIncomplete",
    "DateBeforeBirth",
    "DateInFuture",
    "FormAlreadySubmitted",  # states/registry_deadlines.py
    "FormNotYetDue",
    "IdentityMismatch",
    "MalformedAction",
    "MdtmRecordIncomplete",
    "MonitoringPeriodNotOver",
    "NotAfebrile",
    "NotClearedForTreatment",
    "OrganFunctionOutOfLimits",
    "NotEligible",
    "OutsideWindow",
    "PregnancyTestPositive",
    "PreparationTaskOpen",  # states/preparation.py
    "ProductNotOnSite",
    "RoleNotAllowed",
    "RunStarting",  # a lean run reading its protocol (workflows/lean_runs.py)
    "SafetyRefusal",  # the base of refusals that leave an incident
    "SeriousnessLowered",
    "StaleWorkUp",
    "TaskAlreadyRecorded",
    "TaskDetailsMissing",
    "TocilizumabBelowMinimum",
    "TreatmentUnknown",
    "TwoPersonCheckMissing",
    "UnknownChartState",
    "UnknownEvent",
    "UnknownRegistryForm",
    "UnknownTask",
    "UpdateIdReused",
    "VisitContentUnknown",
    "VisitsOutstanding",
    "WashoutIncomplete",
    "WorkUpIncomplete",
}


def _subclasses(cls: type) -> set[type]:
    found = set(cls.__subclasses__())
    return found.union(*(_subclasses(sub) for sub in found))


class TestOneRefusalTree:
    """Every pathway refusal is a Refusal, keeps its context and names its rule."""

    def test_rules_are_the_published_ones(self) -> None:
        assert {cls("x").rule for cls in _subclasses(e.PathwayError)} == RULES

    @pytest.mark.parametrize("cls", sorted(_subclasses(e.PathwayError), key=str))
    def test_each_is_a_refusal_with_context(self, cls: type[e.PathwayError]) -> None:
        err = cls("The work-up is too old.", event="approve_at_mdtm", state="awaiting_mdtm")
        assert isinstance(err, Refusal)
        assert err.outcome is Outcome.REFUSED
        assert (str(err), err.message) == ("The work-up is too old.",) * 2
        assert (err.event, err.state, err.rule) == (
            "approve_at_mdtm",
            "awaiting_mdtm",
            cls.__name__,
        )

    def test_a_rule_can_be_named_explicitly(self) -> None:
        assert e.PathwayError("No.", rule="PathwayEnded").rule == "PathwayEnded"


# Refusals on safety rules leave an incident in the deviation log (states/errors.py says why
# these and not the others).
SAFETY_RULES = {
    "ActiveInfection",
    "CentreNotReady",
    "IdentityMismatch",
    "MonitoringPeriodNotOver",
    "NotAfebrile",
    "NotClearedForTreatment",
    "OutsideWindow",
    "ProductNotOnSite",
    "TocilizumabBelowMinimum",
    "TwoPersonCheckMissing",
    "WashoutIncomplete",
}


class TestSafetyRefusals:
    """The refusals that leave an incident are the safety rules, under their old names."""

    def test_safety_rules_subclass_safety_refusal(self) -> None:
        found = {cls("x").rule for cls in _subclasses(e.SafetyRefusal)}
        assert found >= SAFETY_RULES
        assert not found & {"RoleNotAllowed", "MalformedAction", "ActionNotAllowedNow"}
