"""Charts of one class share their resolved callbacks (states/base.py, design.md
"Performance rules"), and each callback still runs on the chart that sent the event."""

from __future__ import annotations

from datetime import timedelta

import pytest
from statemachine import State, StateChart

from states import errors as e
from states.base import PathwayChart
from tests.support.chart_factory import CART, MSC_SSC, Pathway


class TestOneRegistryPerChartClass:
    """Resolving callbacks is most of a rebuild's time and most of a chart's memory: it is
    done once per chart class."""

    def test_charts_of_a_class_share_one_registry(self) -> None:
        first, second = Pathway.new(CART), Pathway.new(CART, pseudonym="LUP-002")
        assert first.chart._callbacks is second.chart._callbacks

    def test_each_class_has_its_own(self) -> None:
        assert Pathway.new(CART).chart._callbacks is not Pathway.new(MSC_SSC).chart._callbacks

    def test_a_guard_reads_the_record_of_the_chart_that_sends(self) -> None:
        stale = Pathway.new(CART, pseudonym="LUP-003")
        stale.send("record_work_up", completed_at=stale.now - timedelta(days=100))
        fresh = Pathway.new(CART, pseudonym="LUP-004")
        fresh.send("record_work_up", completed_at=fresh.now - timedelta(days=3))
        with pytest.raises(e.StaleWorkUp):
            stale.send("approve_at_mdtm")
        fresh.send("approve_at_mdtm")
        assert fresh.chart.leaf == "awaiting_consent" and stale.chart.leaf == "awaiting_mdtm"

    def test_facts_are_written_to_the_right_record(self) -> None:
        first, second = Pathway.at(CART, "awaiting_mdtm"), Pathway.at(CART, "awaiting_mdtm")
        first.send("approve_at_mdtm")
        assert first.record.mdtm_approved_at is not None
        assert second.record.mdtm_approved_at is None

    def test_rebuilt_chart_behaves_as_the_first(self) -> None:
        pw = Pathway.at(CART, "stored")
        pw.rebuild()
        pw.run_until("completed")
        assert pw.record.outcome == "follow-up completed"

    def test_listeners_are_refused(self) -> None:
        with pytest.raises(TypeError):
            Pathway.new(CART).chart.add_listener(object())

    def test_the_registry_is_not_shared_with_other_charts(self) -> None:
        assert PathwayChart.shared_callbacks, "the registry holds the pathway charts"
        assert all(issubclass(cls, PathwayChart) for cls in PathwayChart.shared_callbacks)


class TestLibraryPassesTheMachine:
    """python-statemachine passes the chart as ``machine`` to every callback: the shared
    registry relies on it (an upgrade that stops doing so fails here first)."""

    class Chart(StateChart):  # type: ignore[misc]
        a = State(initial=True)
        b = State(final=True)
        go = a.to(b, validators="check", on="act")

        def __init__(self) -> None:
            self.seen: list[object] = []
            super().__init__()

        def check(self, machine: object) -> None:
            self.seen.append(machine)

        def act(self, machine: object) -> None:
            self.seen.append(machine)

    def test_validators_and_actions_get_the_machine(self) -> None:
        chart = self.Chart()
        chart.send("go")
        assert chart.seen == [chart, chart]
