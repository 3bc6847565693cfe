"""Refusals on the explicit safety rules (models/safety_rules.py): each a ``SafetyRefusal``,
so the deviation log keeps an incident of it even though the action changed nothing.

Their names are rules callers branch on (``ApplicationError`` type, CLI ``kind``): never
renamed.
"""

from __future__ import annotations

from states.errors import SafetyRefusal


class AnswerMissing(SafetyRefusal):
    """A fitness, eligibility or product answer the rules require was not given."""


class OrganFunctionOutOfLimits(SafetyRefusal):
    """An organ-function value is beyond the protocol's limit."""


class PregnancyTestPositive(SafetyRefusal):
    """A positive pregnancy test: no treatment."""


class TreatmentUnknown(SafetyRefusal):
    """A current treatment the protocol's washout table does not know."""


class ConsentIncomplete(SafetyRefusal):
    """A consent element the protocol requires was not given."""


class MdtmRecordIncomplete(SafetyRefusal):
    """An MDTM decision without its meeting, attendees, rationale, required specialties, or
    with a signatory outside the referral's binôme and no substitution reason."""


class SeriousnessLowered(SafetyRefusal):
    """An adverse event recorded as less serious than its facts imply (EU CTR art. 2)."""
