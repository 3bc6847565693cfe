"""Chart-level properties of monitoring after infusion (states/monitoring.py): whatever the
moment, discharge (CAR-T) and the end of an observation (MSC) are accepted exactly when the
protocol's period since the infusion is over, and a refusal changes nothing."""

from __future__ import annotations

from datetime import timedelta

import hypothesis.strategies as st
from hypothesis import HealthCheck, given, settings

from states import errors as e
from tests.support.chart_factory import Pathway
from tests.unit.test_chart_paths import CART, MSC_SSC

MINUTES = st.integers(min_value=0, max_value=20 * 24 * 60)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(after=MINUTES)
def test_discharge_exactly_after_the_monitoring_period(after: int) -> None:
    pw = Pathway.at(CART, "inpatient")
    stay = pw.protocol.windows.monitoring_before_discharge
    assert stay is not None
    d0 = pw.record.d0
    assert d0 is not None
    pw.now = d0 + timedelta(minutes=after)
    before = pw.record.model_dump()
    if timedelta(minutes=after) >= stay:
        pw.send("discharge")
        assert pw.leaf == "short_term"
    else:
        try:
            pw.check("discharge")
        except e.MonitoringPeriodNotOver:
            pass
        else:
            raise AssertionError(f"discharged {after} minutes after infusion")
        assert pw.record.model_dump() == before


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(after=st.integers(min_value=0, max_value=6 * 60))
def test_observation_ends_exactly_after_its_period(after: int) -> None:
    pw = Pathway.at(MSC_SSC, "observation")
    period = pw.protocol.infusions.observation
    assert period is not None
    pw.now = pw.record.infusions[-1] + timedelta(minutes=after)
    if timedelta(minutes=after) >= period:
        pw.send("end_observation")
        assert pw.leaf == "short_term"
    else:
        try:
            pw.check("end_observation")
        except e.MonitoringPeriodNotOver:
            pass
        else:
            raise AssertionError(f"observation ended {after} minutes after infusion")
        assert pw.leaf == "observation"
