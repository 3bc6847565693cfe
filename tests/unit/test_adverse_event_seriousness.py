"""Adverse events (issue 12, item 7): seriousness follows from grade, outcome and
hospitalisation as the EU CTR defines it (the user may raise it, never lower it); the
reporting clock starts at the awareness date; who reports to whom is protocol data."""

from __future__ import annotations

from datetime import timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from models.safety_reporting import implied_seriousness
from models.safety_rules import LEGACY
from states import errors as e
from states import safety_refusals as s
from states.deadlines import reconcile
from tests.support.chart_factory import CART, Pathway
from tests.unit.test_chart_guards import assert_refused

OUTCOMES = [
    "recovered",
    "recovering",
    "not_recovered",
    "recovered_with_sequelae",
    "fatal",
    "unknown",
]


def stored() -> Pathway:
    return Pathway.at(CART, "stored")


def test_grade_5_crs_entered_as_not_serious_is_refused() -> None:
    err = assert_refused(
        stored(), "record_adverse_event", s.SeriousnessLowered, grade=5, serious=False
    )
    assert "the event was fatal" in err.message


def test_implied_seriousness_is_recorded_and_its_clock_runs_from_awareness() -> None:
    pw = stored()
    aware = pw.now - timedelta(hours=20)
    before = list(pw.record.configuration)
    pw.send("record_adverse_event", kind="CRS", grade=4, aware_at=aware)
    reconcile(pw.record, pw.protocol, before, pw.now)
    ae = pw.record.adverse_events[-1]
    assert ae.serious and ae.life_threatening_or_fatal and ae.aware_at == aware
    sponsor = next(d for d in pw.record.deadlines if d.key == "sae-1:sponsor")
    assert sponsor.due_at == aware + pw.protocol.safety_reporting.sponsor


def test_hospitalisation_makes_it_serious() -> None:
    pw = stored()
    pw.send("record_adverse_event", kind="infection", grade=2, hospitalised=True)
    assert pw.record.adverse_events[-1].serious


def test_the_user_may_raise_seriousness() -> None:
    pw = stored()
    pw.send("record_adverse_event", kind="flare", grade=1, serious=True)
    assert pw.record.adverse_events[-1].serious


@pytest.mark.parametrize("missing", ["hospitalised", "outcome", "aware_at"])
def test_each_fact_is_required(missing: str) -> None:
    err = assert_refused(stored(), "record_adverse_event", s.AnswerMissing, **{missing: None})
    assert f"({missing})" in err.message


def test_awareness_in_the_future_is_refused() -> None:
    pw = stored()
    assert_refused(pw, "record_adverse_event", e.DateInFuture, aware_at=pw.now + timedelta(hours=2))


def test_legacy_pathways_record_what_was_ticked() -> None:
    pw = stored()
    pw.record.safety_rules = LEGACY
    pw.send(
        "record_adverse_event",
        kind="CRS",
        grade=5,
        serious=False,
        hospitalised=None,
        outcome=None,
        aware_at=None,
    )
    assert not pw.record.adverse_events[-1].serious


def test_who_reports_to_whom_is_protocol_data() -> None:
    rules = Pathway.new(CART).protocol.safety_reporting
    assert "sponsor" in rules.routes["sponsor"] and "EudraVigilance" in rules.routes["susar"]
    assert rules.source_of("routes") is not None


@given(
    grade=st.integers(1, 5),
    hospitalised=st.booleans(),
    outcome=st.sampled_from(OUTCOMES),
    serious=st.one_of(st.none(), st.booleans()),
)
def test_recorded_seriousness_is_never_below_the_facts(
    grade: int, hospitalised: bool, outcome: str, serious: bool | None
) -> None:
    pw = stored()
    implied = implied_seriousness(grade=grade, hospitalised=hospitalised, outcome=outcome)  # type: ignore[arg-type]
    data = {"grade": grade, "hospitalised": hospitalised, "outcome": outcome, "serious": serious}
    if serious is False and implied.serious:
        with pytest.raises(s.SeriousnessLowered):
            pw.send("record_adverse_event", **data)
        return
    pw.send("record_adverse_event", **data)
    ae = pw.record.adverse_events[-1]
    assert ae.serious == (bool(serious) or implied.serious)
    assert ae.serious >= implied.serious
