"""python-statemachine behaviours the charts rely on (design.md, "Library behaviour we rely
on"), pinned on small charts so that an upgrade that changes one of them fails here first."""

from __future__ import annotations

from typing import Any

import pytest
from statemachine import HistoryState, State, StateChart
from statemachine.exceptions import TransitionNotAllowed
from statemachine.orderedset import OrderedSet


class Model:
    """The smallest model: a state field holding the stored configuration."""

    def __init__(self, state: Any = None) -> None:
        self.state = state


class Ward(StateChart):  # type: ignore[misc]
    """A pathway in miniature: a compound phase with a nested compound and deep history."""

    allow_event_without_transition = False
    catch_errors_as_events = False

    class care(State.Compound):
        admitted = State(initial=True)

        class treated(State.Compound):
            ward = State(initial=True)
            icu = State()

            transfer = ward.to(icu)
            step_down = icu.to(ward)

        treat = admitted.to(treated)
        h = HistoryState(type="deep")

    paused = State()
    discharged = State(final=True)

    pause = care.to(paused)
    resume = paused.to(care.h)
    discharge = care.treated.ward.to(discharged)

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self.calls: list[str] = []
        super().__init__(*args, **kwargs)

    def on_enter_admitted(self) -> None:
        self.calls.append("enter admitted")

    def before_pause(self) -> None:
        self.calls.append(f"before pause in {sorted(self.configuration_values)}")

    def on_pause(self) -> None:
        self.calls.append(f"on pause in {sorted(self.configuration_values)}")


def in_icu() -> tuple[Ward, Model]:
    model = Model()
    chart = Ward(model=model)
    chart.send("treat")
    chart.send("transfer")
    return chart, model


class TestRestoreFromStoredConfiguration:
    """A chart built on a model whose state field holds a stored configuration starts there,
    without entering any state again."""

    def test_compound_configuration_restored(self) -> None:
        _, model = in_icu()
        stored = list(model.state)
        assert stored == ["care", "treated", "icu"]
        restored = Ward(model=Model(OrderedSet(stored)))
        assert list(restored.configuration_values) == stored
        assert restored.calls == []

    def test_single_state_restored_from_a_plain_value(self) -> None:
        restored = Ward(model=Model("paused"))
        assert list(restored.configuration_values) == ["paused"]

    def test_fresh_model_enters_the_initial_states(self) -> None:
        model = Model()
        chart = Ward(model=model)
        assert list(chart.configuration_values) == ["care", "admitted"]
        assert list(model.state) == ["care", "admitted"]
        assert chart.calls == ["enter admitted"]

    def test_transitions_write_the_configuration_back_to_the_model(self) -> None:
        chart, model = in_icu()
        chart.send("step_down")
        assert list(model.state) == ["care", "treated", "ward"]

    def test_restored_final_state_is_not_terminated(self) -> None:
        # Why states.base.PathwayChart.finished also looks at the exit states.
        restored = Ward(model=Model("discharged"))
        assert not restored.is_terminated
        assert list(restored.allowed_events) == []


class TestHistoryIsNotInTheConfiguration:
    """Deep history memory lives on the chart instance, not in the model: a chart rebuilt
    while paused resumes into nothing unless the history is restored explicitly."""

    def test_history_saved_on_exit(self) -> None:
        chart, model = in_icu()
        chart.send("pause")
        assert model.state == "paused"
        assert {k: [s.id for s in v] for k, v in chart.history_values.items()} == {
            "h": ["treated", "icu"]
        }

    def test_rebuilt_chart_forgets_the_history(self) -> None:
        chart, model = in_icu()
        chart.send("pause")
        rebuilt = Ward(model=Model(model.state))
        assert dict(rebuilt.history_values) == {}
        rebuilt.send("resume")
        assert list(rebuilt.configuration_values) == []

    def test_restoring_history_values_resumes_the_exact_state(self) -> None:
        chart, model = in_icu()
        chart.send("pause")
        kept = {k: [s.id for s in v] for k, v in chart.history_values.items()}
        rebuilt = Ward(model=Model(model.state))
        rebuilt.history_values = {
            k: [rebuilt.states_map[i] for i in ids] for k, ids in kept.items()
        }
        rebuilt.send("resume")
        assert list(rebuilt.configuration_values) == ["care", "treated", "icu"]

    def test_same_instance_resumes_without_help(self) -> None:
        chart, _ = in_icu()
        chart.send("pause")
        chart.send("resume")
        assert list(chart.configuration_values) == ["care", "treated", "icu"]


class TestEventsWithoutTransition:
    """A StateChart ignores what it cannot do unless told otherwise."""

    class Lenient(StateChart):  # type: ignore[misc]
        a = State(initial=True)
        b = State(final=True)
        go = a.to(b, cond="ready")
        ready = False

    class Strict(Lenient):
        allow_event_without_transition = False

    def test_default_silently_ignores_an_event_without_transition(self) -> None:
        chart = self.Lenient(model=Model())
        chart.send("no_such_event")
        assert list(chart.configuration_values) == ["a"]

    def test_default_failed_cond_is_a_silent_no_op(self) -> None:
        chart = self.Lenient(model=Model())
        chart.send("go")
        assert list(chart.configuration_values) == ["a"]

    def test_the_same_event_moves_when_its_cond_holds(self) -> None:
        # Positive control for the two no-op tests above: the chart and event do work.
        chart = self.Lenient(model=Model())
        chart.ready = True
        chart.send("go")
        assert list(chart.configuration_values) == ["b"]

    def test_strict_raises_transition_not_allowed(self) -> None:
        chart = Ward(model=Model())
        with pytest.raises(TransitionNotAllowed):
            chart.send("step_down")
        assert list(chart.configuration_values) == ["care", "admitted"]

    def test_strict_raises_on_failed_cond(self) -> None:
        chart = self.Strict(model=Model())
        with pytest.raises(TransitionNotAllowed):
            chart.send("go")
        assert list(chart.configuration_values) == ["a"]

    def test_cond_routes_to_the_next_transition_of_the_event(self) -> None:
        class Router(StateChart):  # type: ignore[misc]
            allow_event_without_transition = False
            start = State(initial=True)
            again = State()
            end = State(final=True)
            step = start.to(again, cond="more") | start.to(end) | again.to(start)
            more = True

        chart = Router(model=Model())
        chart.send("step")
        assert list(chart.configuration_values) == ["again"]
        chart.send("step")
        chart.more = False
        chart.send("step")
        assert list(chart.configuration_values) == ["end"]


class Refusing(StateChart):  # type: ignore[misc]
    a = State(initial=True)
    b = State(final=True)
    checked = a.to(b, validators="refuse")
    acted = a.to(b, on="explode")

    def refuse(self) -> None:
        raise ValueError("refused for a reason")

    def explode(self) -> None:
        raise RuntimeError("failed in an action")


class RefusingStrict(Refusing):
    catch_errors_as_events = False


class TestValidatorsRaise:
    """Validators reach the caller with their reason, whatever the chart's error settings;
    with ``catch_errors_as_events = False`` an action's exception reaches it too."""

    @pytest.mark.parametrize("chart_class", [Refusing, RefusingStrict])
    def test_validator_exception_reaches_the_caller(self, chart_class: type[Refusing]) -> None:
        chart = chart_class(model=Model())
        with pytest.raises(ValueError, match="refused for a reason"):
            chart.send("checked")
        assert list(chart.configuration_values) == ["a"]

    def test_action_exception_reaches_the_caller_when_not_caught(self) -> None:
        chart = RefusingStrict(model=Model())
        with pytest.raises(RuntimeError, match="failed in an action"):
            chart.send("acted")
        assert list(chart.configuration_values) == ["a"]

    def test_action_exception_is_swallowed_by_default(self) -> None:
        chart = Refusing(model=Model())
        assert chart.send("acted") is None
        # The hazard this pins: the transition completes although its action failed.
        assert list(chart.configuration_values) == ["b"]


class TestAllowedEventsFollowTheConfiguration:
    """``allowed_events`` lists the events of every active state, ancestors included."""

    @staticmethod
    def ids(chart: StateChart) -> set[str]:
        return {e.id for e in chart.allowed_events}

    def test_leaf_and_ancestor_events(self) -> None:
        chart = Ward(model=Model())
        assert self.ids(chart) == {"treat", "pause"}
        chart.send("treat")
        assert self.ids(chart) == {"transfer", "pause", "discharge"}
        chart.send("transfer")
        assert self.ids(chart) == {"step_down", "pause"}

    def test_restored_chart_allows_the_same(self) -> None:
        chart, model = in_icu()
        assert self.ids(Ward(model=Model(OrderedSet(model.state)))) == self.ids(chart)

    def test_nothing_allowed_in_a_final_state(self) -> None:
        chart = Ward(model=Model())
        chart.send("treat")
        chart.send("discharge")
        assert chart.is_terminated
        assert self.ids(chart) == set()


class TestCallbackOrder:
    """``before_<event>`` sees the source configuration; ``on_<event>`` runs once the source
    states are exited (why PathwayChart records ``held_from`` in ``before_hold``)."""

    def test_before_sees_source_on_does_not(self) -> None:
        chart, _ = in_icu()
        chart.calls.clear()
        chart.send("pause")
        assert chart.calls == ["before pause in ['care', 'icu', 'treated']", "on pause in []"]


class Noted(StateChart):  # type: ignore[misc]
    """Ward with a targetless event from the compound phase and from the pause, as the
    charts declare ``record_adverse_event = pathway.to(None) | held.to(None)``."""

    allow_event_without_transition = False
    catch_errors_as_events = False

    class care(State.Compound):
        admitted = State(initial=True)

        class treated(State.Compound):
            ward = State(initial=True)
            icu = State()

            transfer = ward.to(icu)

        treat = admitted.to(treated)
        h = HistoryState(type="deep")

    paused = State()
    discharged = State(final=True)

    pause = care.to(paused)
    resume = paused.to(care.h)
    discharge = care.treated.ward.to(discharged)
    note = care.to(None, validators="check_note") | paused.to(None, validators="check_note")

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self.calls: list[str] = []
        self.refuse = False
        super().__init__(*args, **kwargs)

    def on_enter_state(self, state: State) -> None:
        self.calls.append(f"enter {state.id}")

    def on_exit_state(self, state: State) -> None:
        self.calls.append(f"exit {state.id}")

    def check_note(self) -> None:
        if self.refuse:
            raise ValueError("note refused")

    def on_note(self) -> None:
        self.calls.append("note")


def noted_in_icu() -> tuple[Noted, Model]:
    model = Model()
    chart = Noted(model=model)
    chart.send("treat")
    chart.send("transfer")
    chart.calls.clear()
    return chart, model


class TestTargetlessTransitions:
    """A targetless transition declared on a compound state is taken from any state inside
    it: its actions run, no state is exited or entered, the history is untouched."""

    def test_taken_from_a_deep_descendant_without_exit_or_entry(self) -> None:
        chart, model = noted_in_icu()
        chart.send("note")
        assert chart.calls == ["note"]
        assert list(model.state) == ["care", "treated", "icu"]
        assert dict(chart.history_values) == {}

    def test_allowed_from_every_descendant(self) -> None:
        chart = Noted(model=Model())
        for event in ("treat", "transfer"):
            assert "note" in {e.id for e in chart.allowed_events}
            chart.send(event)
        assert "note" in {e.id for e in chart.allowed_events}

    def test_taken_in_the_pause_keeps_the_history(self) -> None:
        chart, model = noted_in_icu()
        chart.send("pause")
        chart.calls.clear()
        chart.send("note")
        assert chart.calls == ["note"]
        assert model.state == "paused"
        assert {k: [s.id for s in v] for k, v in chart.history_values.items()} == {
            "h": ["treated", "icu"]
        }
        chart.send("resume")
        assert list(model.state) == ["care", "treated", "icu"]

    def test_validator_refusal_reaches_the_caller_and_changes_nothing(self) -> None:
        chart, model = noted_in_icu()
        chart.refuse = True
        with pytest.raises(ValueError, match="note refused"):
            chart.send("note")
        assert chart.calls == []
        assert list(model.state) == ["care", "treated", "icu"]

    def test_not_taken_in_a_final_state(self) -> None:
        chart = Noted(model=Model())
        chart.send("treat")
        chart.send("discharge")
        assert "note" not in {e.id for e in chart.allowed_events}
        with pytest.raises(TransitionNotAllowed):
            chart.send("note")
