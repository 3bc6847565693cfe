"""Eligibility at the MDTM: the protocol's activity score, refractoriness rule and exclusion
checklist, checked on the facts the referral and the work-up recorded.

``EligibilityRules`` is mixed into ``PathwayChart``: ``guard_eligible`` is a validator of
``approve_at_mdtm`` (refused with ``NotEligible``, every unmet criterion named),
``guard_eligibility_answers`` one of ``record_work_up`` (an exclusion the protocol does not
list, a treatment date in the future), and ``after_record_work_up`` records the answers.

The rules apply only to a chart built with ``ELIGIBILITY`` among its ``rules``: the workflow
decides it with ``workflow.patched`` so runs recorded before eligibility existed replay as
they were (a pathway referred before then simply has no eligibility facts).

Pure: no temporalio, no I/O.
"""

from __future__ import annotations

from datetime import datetime

from models import actions as a
from models.eligibility import EligibilityFacts, unmet_criteria
from models.protocol import Protocol
from models.record import PathwayRecord
from states import errors as e

# The rule set's name: also the workflow's patch ID that switches it on.
ELIGIBILITY = "eligibility-at-referral"


class EligibilityRules:
    """The eligibility guards and facts every therapy chart shares."""

    record: PathwayRecord
    protocol: Protocol
    rules: frozenset[str]

    def _eligibility_applies(self) -> bool:
        return ELIGIBILITY in self.rules and self.protocol.eligibility is not None

    def guard_eligibility_answers(self, action: a.WorkUp, now: datetime) -> None:
        if not self._eligibility_applies() or self.protocol.eligibility is None:
            return
        listed = {x.key for x in self.protocol.eligibility.exclusions}
        unknown = sorted(set(action.exclusions or {}) - listed)
        if unknown:
            raise e.MalformedAction(
                f"'{', '.join(unknown)}' is not on this protocol's exclusion checklist "
                f"({', '.join(sorted(listed)) or 'empty'})."
            )
        for treatment in action.prior_treatments or []:
            for when in (treatment.started_at, treatment.stopped_at):
                if when is not None and when > now:
                    raise e.DateInFuture(
                        f"The {treatment.drug} treatment date is in the future; check the date."
                    )

    def guard_eligible(self, action: a.MdtmDecision, now: datetime) -> None:
        eligibility = self.protocol.eligibility
        if not self._eligibility_applies() or eligibility is None:
            return
        facts = self.record.eligibility
        unmet = unmet_criteria(
            eligibility,
            facts.disease or self.record.disease,
            facts,
            now,
            self.protocol.time_scale,
        )
        if unmet:
            raise e.NotEligible(
                "The MDTM cannot approve this indication: "
                + "; ".join(unmet)
                + ". Defer the case, complete the work-up (score, treatments tried, exclusion "
                "checklist) and present it again, or reject it."
            )

    def after_record_work_up(self, action: a.WorkUp, now: datetime) -> None:
        if not self._eligibility_applies():
            return
        facts: EligibilityFacts = self.record.eligibility
        if action.exclusions is not None:
            facts.exclusions = dict(action.exclusions)
        if action.severity is not None:
            facts.severity = action.severity
        if action.prior_treatments is not None:
            facts.prior_treatments = list(action.prior_treatments)
