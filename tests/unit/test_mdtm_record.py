"""The MDTM as a record (issue 12, item 6): approve, defer and reject carry the meeting (ID
and clinical date), the attendees with their specialty (the protocol's required specialties
among them) and a rationale; the signatories are the referral's binôme or the decision says
why not; the work-up's age counts at the meeting date."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from models.safety_rules import LEGACY
from states import errors as e
from states import safety_refusals as s
from tests.support.chart_factory import ARD, CART, CTS, MSC_SSC, Pathway
from tests.unit.test_chart_guards import assert_accepted, assert_refused

DECISIONS = {"approve_at_mdtm": "awaiting_consent", "defer_at_mdtm": "referred"}
RECORD = ("meeting_id", "meeting_at", "attendees", "rationale")


def at_mdtm(protocol_id: str = CART, *, work_up_days_ago: float = 7) -> Pathway:
    pw = Pathway.new(protocol_id)
    pw.send("record_work_up", completed_at=pw.now - timedelta(days=work_up_days_ago))
    return pw


@pytest.mark.parametrize("event", [*DECISIONS, "reject_at_mdtm"])
@pytest.mark.parametrize("protocol_id", [CART, MSC_SSC])
def test_a_decision_without_its_record_is_refused(event: str, protocol_id: str) -> None:
    pw = at_mdtm(protocol_id)
    err = assert_refused(pw, event, s.MdtmRecordIncomplete, **dict.fromkeys(RECORD))
    for field in RECORD:
        assert f"({field})" in err.message


@given(missing=st.sets(st.sampled_from(RECORD), min_size=1))
def test_the_refusal_names_exactly_what_is_missing(missing: set[str]) -> None:
    pw = at_mdtm()
    with pytest.raises(s.MdtmRecordIncomplete) as refused:
        pw.check("approve_at_mdtm", **dict.fromkeys(missing))
    assert {f for f in RECORD if f"({f})" in refused.value.message} == missing


def test_a_required_specialty_absent_is_refused() -> None:
    pw = at_mdtm()
    only_ard = [{"person": ARD, "specialty": "autoimmune_disease"}]
    err = assert_refused(pw, "approve_at_mdtm", s.MdtmRecordIncomplete, attendees=only_ard)
    assert "cell-therapy specialist" in err.message


def test_signatories_attended() -> None:
    pw = at_mdtm()
    others = [
        {"person": ARD, "specialty": "autoimmune_disease"},
        {"person": "dr.blanc", "specialty": "cell_therapy"},
    ]
    err = assert_refused(pw, "approve_at_mdtm", s.MdtmRecordIncomplete, attendees=others)
    assert f"{CTS} signed but did not attend" in err.message


def test_a_substitute_signatory_needs_a_reason() -> None:
    pw = at_mdtm()
    substitute: dict[str, Any] = {
        "cell_therapy_specialist": "dr.blanc",
        "attendees": [
            {"person": ARD, "specialty": "autoimmune_disease"},
            {"person": "dr.blanc", "specialty": "cell_therapy"},
        ],
    }
    err = assert_refused(pw, "approve_at_mdtm", s.MdtmRecordIncomplete, **substitute)
    assert "dr.blanc is not in the referral's binôme" in err.message
    reason = "dr.roux on leave; dr.blanc is the unit's deputy"
    assert_accepted(
        pw, "approve_at_mdtm", "awaiting_consent", substitution_reason=reason, **substitute
    )


def test_the_work_up_age_counts_at_the_meeting_date() -> None:
    """A work-up 85 days old at a meeting held 10 days ago is fresh (75 days old there),
    though the decision is typed when it is 85 days old; and the other way round."""
    pw = at_mdtm(work_up_days_ago=85)
    assert_accepted(
        pw, "approve_at_mdtm", "awaiting_consent", meeting_at=pw.now - timedelta(days=10)
    )
    assert pw.record.mdtm_meeting_at == pw.now - timedelta(days=10)
    assert pw.record.mdtm_meeting_id == "MDTM-2025-10"
    pw = at_mdtm(work_up_days_ago=20)
    err = assert_refused(
        pw, "approve_at_mdtm", e.WorkUpIncomplete, meeting_at=pw.now - timedelta(days=30)
    )
    assert "dated after the meeting" in err.message


def test_a_meeting_in_the_future_is_refused() -> None:
    pw = at_mdtm()
    assert_refused(pw, "defer_at_mdtm", e.DateInFuture, meeting_at=pw.now + timedelta(days=2))


def test_legacy_pathways_accept_two_signatures() -> None:
    pw = at_mdtm()
    pw.record.safety_rules = LEGACY
    assert_accepted(pw, "approve_at_mdtm", "awaiting_consent", **dict.fromkeys(RECORD))
