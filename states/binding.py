"""The chart engine binding: how a pathway chart sits on python-statemachine's internals.

Everything here reaches past the library's public API, so it lives in this one module and
is pinned to one release (``PINNED_VERSION``); tests/unit/test_chart_binding.py fails when the
installed library is another release or when an internal used here changes shape.

What it binds:

- ``RecordBinding``: the chart's model. Its ``state`` reads and writes
  ``record.configuration``, handing the library the same value until the configuration
  changes (the library caches resolved states by the identity of that value).
- ``BoundChart``: a ``StateChart`` built on a ``PathwayRecord``. It restores the history
  state's memory from ``record.history``, resolves its callbacks once per class (shared by
  every chart of the class, read-only once built), runs an event's validators without
  transitioning, and saves the history memory back to the record.

Usage (by ``states.base.PathwayChart``)::

    class PathwayChart(BoundChart, ...):
        ...
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Iterable
from importlib.metadata import version
from typing import Any, ClassVar

from statemachine import StateChart
from statemachine.callbacks import CallbacksRegistry, CallbackWrapper
from statemachine.orderedset import OrderedSet
from statemachine.signature import SignatureAdapter

from models.record import PathwayRecord

# The python-statemachine release whose internals this module was written against
# (requirements.lock pins the same). Upgrading: run tests/unit/test_chart_binding.py, adapt, bump.
PINNED_VERSION = "3.2.2"
LIBRARY = "python-statemachine"


def installed_version() -> str:
    """The python-statemachine release installed here (from the package metadata)."""
    return version(LIBRARY)


class RecordBinding:
    """The chart's model: its state field reads and writes ``record.configuration``.

    It hands the library the same value until the configuration changes: the library caches
    the resolved states by the identity of that value, and a new ``OrderedSet`` on every
    read made it resolve them again (several times per event).
    """

    __slots__ = ("record", "_list", "_value")

    def __init__(self, record: PathwayRecord):
        self.record = record
        self._list: list[str] | None = None
        self._value: Any = None

    @property
    def state(self) -> Any:
        cfg = self.record.configuration
        if cfg is not self._list:
            self._list = cfg
            self._value = (cfg[0] if len(cfg) == 1 else OrderedSet(cfg)) if cfg else None
        return self._value

    @state.setter
    def state(self, value: Any) -> None:
        if value is None:
            cfg = []
        elif isinstance(value, str):
            cfg = [value]
        else:
            cfg = [str(v) for v in value]
        self.record.configuration = cfg
        self._list, self._value = cfg, (value if cfg else None)


def dispatcher(name: str, bind: Callable[..., Any]) -> Callable[..., Any]:
    """A callback shared by every chart of a class: calls ``name`` on the chart at hand."""

    def dispatch(*args: Any, **kwargs: Any) -> Any:
        bound = bind(*args, **kwargs)
        return getattr(kwargs["machine"], name)(*bound.args, **bound.kwargs)

    dispatch.__name__ = name
    return dispatch


def shareable_callbacks(chart: StateChart) -> CallbacksRegistry | None:
    """The callbacks ``chart`` resolved, as a registry any chart of its class can use; None
    when one of them is not a plain method of the chart (a model's, a listener's)."""
    shared = CallbacksRegistry()
    owner_id = str(id(chart))
    for key, executor in chart._callbacks._registry.items():
        target = shared[key]
        for wrapper in executor:
            name, _, owner = wrapper.unique_key.rpartition("@")
            method = getattr(chart, name, None)
            if owner != owner_id or not inspect.ismethod(method) or wrapper._iscoro:
                return None
            bind = SignatureAdapter.from_callable(method).bind_expected
            unique = f"{name}@{type(chart).__qualname__}"
            target.items_already_seen.add(unique)
            target.items.append(
                CallbackWrapper(dispatcher(name, bind), wrapper.condition, wrapper.meta, unique)
            )
    return shared


class BoundChart(StateChart):  # type: ignore[misc]
    """A chart whose configuration and history memory live in a ``PathwayRecord``."""

    # Resolved once per chart class (see _register_callbacks), keyed by the class itself.
    shared_callbacks: ClassVar[dict[type, CallbacksRegistry]] = {}

    def __init__(self, record: PathwayRecord):
        self.record = record
        super().__init__(model=RecordBinding(record))
        if record.history:
            self.history_values = {
                key: [self.states_map[value] for value in values]
                for key, values in record.history.items()
            }

    def _register_callbacks(self, listeners: list[object]) -> None:
        # The library resolves every callback name of every state and transition for each
        # new chart (most of a rebuild's time, and most of a chart's memory). The callbacks
        # are this class's methods, so they are resolved once per class, into a registry
        # whose entries call the method on the chart at hand (``machine``): read-only once
        # built, shared by every chart of the class. Tests: tests/unit/test_chart_sharing.py.
        cls = type(self)
        shared = BoundChart.shared_callbacks.get(cls)
        if shared is not None and not listeners:
            self._callbacks = shared
            return
        super()._register_callbacks(listeners)
        if not listeners:
            registry = shareable_callbacks(self)
            if registry is not None:
                registry.async_or_sync()
                self._callbacks = BoundChart.shared_callbacks.setdefault(cls, registry)

    def add_listener(self, *listeners: object) -> Any:
        raise TypeError("pathway charts share their callbacks: they take no listeners")

    @property
    def state_ids(self) -> list[str]:
        return [str(v) for v in self.configuration_values]

    def events_now(self) -> list[str]:
        """Events with a transition from the current configuration (before guards)."""
        return list(
            dict.fromkeys(
                event.id
                for state in self.configuration
                for event in state.transitions.unique_events
            )
        )

    def transitions_for(self, event: str) -> Iterable[Any]:
        """The transitions ``event`` could take from the current configuration."""
        for state in self.configuration:
            for transition in state.transitions:
                if transition.match(event):
                    yield transition

    def run_validators(self, transition: Any, **kwargs: Any) -> None:
        """Run ``transition``'s validators as ``send`` would, without transitioning."""
        self._callbacks.call(transition.validators.key, machine=self, **kwargs)

    def save_history(self) -> None:
        """Write the history state's memory to the record (the library keeps it apart)."""
        self.record.history = {
            key: [s.id for s in states] for key, states in self.history_values.items()
        }
