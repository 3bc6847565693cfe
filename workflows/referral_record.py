"""The record a referral opens: the first run of a pathway builds it from the referral and
the protocol, with the chart version and the safety rules it will keep for good.

Usage (in PathwayWorkflow's first run)::

    record = new_record(workflow.info().workflow_id, data)
"""

from __future__ import annotations

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from models.eligibility import EligibilityFacts
    from models.pathway import PathwayInput
    from models.record import PathwayRecord
    from models.safety_rules import CURRENT, LEGACY, RULES_PATCH
    from states.migrations import CHART_VERSIONS
    from workflows.patches import patched


def new_record(workflow_id: str, data: PathwayInput) -> PathwayRecord:
    """The record of a newly referred pathway (``data`` holds the referral and protocol)."""
    referral = data.referral
    assert referral is not None
    codes = referral.disease_codes
    protocol = data.protocol
    assert protocol is not None, "a referral comes with its protocol"
    return PathwayRecord(
        pathway_id=workflow_id,
        pseudonym=referral.pseudonym,
        centre=referral.centre,
        therapy=referral.therapy,
        disease=referral.disease,
        age_band=referral.age_band,
        protocol_id=protocol.id,
        binome=referral.binome,
        referred_at=workflow.now(),
        eligibility=EligibilityFacts(
            disease=getattr(protocol.disease_for(codes), "name", None) if codes else None,
            severity=referral.severity,
            prior_treatments=list(referral.prior_treatments),
        ),
        chart_version=CHART_VERSIONS[referral.therapy],
        # Decided once, at referral: a replayed pathway keeps the rules it was referred under.
        safety_rules=CURRENT if patched(RULES_PATCH) else LEGACY,
    )
