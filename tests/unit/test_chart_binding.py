"""The chart binding (states/binding.py) sits on python-statemachine internals: the release
it is pinned to is the one installed, and every internal it uses still has the shape it
relies on. An upgrade fails here first, naming what moved."""

from __future__ import annotations

import inspect
import re
from datetime import timedelta
from pathlib import Path

import pytest
from statemachine import State, StateChart
from statemachine.callbacks import CallbacksRegistry, CallbackWrapper
from statemachine.orderedset import OrderedSet
from statemachine.signature import SignatureAdapter

from states import errors as e
from states.binding import PINNED_VERSION, BoundChart, RecordBinding, installed_version
from states.cart import CarTChart
from tests.support.chart_factory import CART, Pathway

LOCK = Path(__file__).resolve().parents[2] / "requirements.lock"


class Plain(StateChart):  # type: ignore[misc]
    """A chart of the library alone: its callbacks are resolved the library's way."""

    idle = State(initial=True)
    busy = State(final=True)
    start = idle.to(busy, validators="ready")

    def ready(self) -> None:
        pass


class TestPinnedRelease:
    """The binding names the release it was written against; the installed one is it."""

    def test_installed_release_is_the_pinned_one(self) -> None:
        assert installed_version() == PINNED_VERSION, (
            f"python-statemachine {installed_version()} is installed, states/binding.py is "
            f"pinned to {PINNED_VERSION}: check the internals below, then bump PINNED_VERSION"
        )

    def test_lock_file_pins_the_same_release(self) -> None:
        pinned = re.search(r"^python-statemachine==(\S+)", LOCK.read_text(), flags=re.M)
        assert pinned is not None and pinned.group(1) == PINNED_VERSION


class TestCallbackInternals:
    """What ``shareable_callbacks`` reads and builds."""

    def test_register_hook_takes_the_listeners(self) -> None:
        params = list(inspect.signature(StateChart._register_callbacks).parameters)
        assert params == ["self", "listeners"]

    def test_the_library_calls_the_hook_when_a_chart_is_built(self) -> None:
        # Were the hook not called, each chart would resolve its own registry.
        first, second = Pathway.new(CART), Pathway.new(CART, pseudonym="LUP-002")
        assert first.chart._callbacks is BoundChart.shared_callbacks[CarTChart]
        assert second.chart._callbacks is first.chart._callbacks

    def test_resolved_registry_maps_keys_to_wrappers_named_after_their_owner(self) -> None:
        chart = Plain()
        wrappers = [w for executor in chart._callbacks._registry.values() for w in executor]
        assert any(w.unique_key == f"ready@{id(chart)}" for w in wrappers)
        for wrapper in wrappers:
            name, at, owner = wrapper.unique_key.rpartition("@")
            assert name and at == "@" and owner
            assert wrapper._iscoro is False
            assert callable(wrapper.condition)
            assert hasattr(wrapper, "meta")

    def test_wrapper_is_built_from_callback_condition_meta_and_key(self) -> None:
        params = list(inspect.signature(CallbackWrapper.__init__).parameters)
        assert params == ["self", "callback", "condition", "meta", "unique_key"]

    def test_registry_hands_out_an_executor_per_key(self) -> None:
        registry = CallbacksRegistry()
        executor = registry["some.key"]
        assert registry["some.key"] is executor
        assert isinstance(executor.items_already_seen, set)
        assert callable(executor.items.append)
        assert callable(registry.async_or_sync)

    def test_signature_adapter_binds_only_what_a_method_takes(self) -> None:
        def guard(action: object, now: object) -> tuple[object, object]:
            return action, now

        bound = SignatureAdapter.from_callable(guard).bind_expected(
            action=1, now=2, machine=3, event="go"
        )
        assert guard(*bound.args, **bound.kwargs) == (1, 2)

    def test_validators_run_by_key_without_transitioning(self) -> None:
        pw = Pathway.new(CART)
        (transition,) = pw.chart.transitions_for("record_work_up")
        assert isinstance(transition.validators.key, str)
        action = pw.action("record_work_up", completed_at=pw.now + timedelta(days=1))
        before = pw.snapshot()
        with pytest.raises(e.DateInFuture):
            pw.chart.run_validators(transition, action=action, now=pw.now)
        assert pw.snapshot() == before


class TestConfigurationInternals:
    """What ``RecordBinding`` and ``BoundChart`` read from the library."""

    def test_binding_hands_the_same_value_until_the_configuration_changes(self) -> None:
        pw = Pathway.new(CART)
        binding = RecordBinding(pw.record)
        value = binding.state
        assert isinstance(value, OrderedSet) and binding.state is value
        pw.record.configuration = ["held"]
        assert binding.state == "held"

    def test_the_library_reads_the_model_on_every_access(self) -> None:
        pw = Pathway.new(CART)
        pw.record.configuration = ["held"]
        assert pw.chart.state_ids == ["held"]
        assert pw.chart.events_now()

    def test_events_and_transitions_from_the_configuration(self) -> None:
        pw = Pathway.new(CART)
        (state,) = [s for s in pw.chart.configuration if s.id == "referred"]
        assert "record_work_up" in {event.id for event in state.transitions.unique_events}
        assert any(t.match("record_work_up") for t in state.transitions)

    def test_history_values_are_states_by_history_key(self) -> None:
        pw = Pathway.at(CART, "stored")
        pw.send("hold")
        assert pw.chart.history_values
        for key, states in pw.chart.history_values.items():
            assert isinstance(key, str)
            assert all(isinstance(s.id, str) for s in states)
        assert pw.record.history == {
            key: [s.id for s in states] for key, states in pw.chart.history_values.items()
        }
