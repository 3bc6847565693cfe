"""Diagrams of the pathway charts, drawn by python-statemachine's own diagram support.

Usage::

    text = render("cart")                                   # mermaid stateDiagram-v2
    live = render("msc", active=["pathway", "treatment", "thawed"])
    svg = render(chart, fmt="svg")   # a chart instance: its configuration is highlighted

Mermaid needs nothing but the library; the states carry their human names, the arrows the
actions staff send, the phases are nested boxes. SVG, PNG and DOT go through the library's
Graphviz renderer and need ``pydot`` (the ``python-statemachine[diagrams]`` extra) and, for
SVG and PNG, the Graphviz ``dot`` program; without them ``DiagramToolMissing`` says what to
install.

Limitations: Graphviz fills only atomic active states (never a phase box); mermaid's own
documentation says a ``classDef`` may be ignored on states inside a composite state, so a
live highlight can be invisible in some mermaid versions. Guards that refuse an action
(validators) are not drawn; ``devtools.docs`` lists them next to the diagram.
"""

from __future__ import annotations

import importlib.util
import re
import shutil
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any, cast

from statemachine import Event
from statemachine.contrib.diagram import DotGraphMachine, MermaidGraphMachine, extract
from statemachine.contrib.diagram.model import DiagramGraph, DiagramState
from statemachine.contrib.diagram.renderers.mermaid import MermaidRenderer

from states.base import PathwayChart
from states.registry import chart_class

if TYPE_CHECKING:
    import pydot

FORMATS = ("mermaid", "dot", "svg", "png")

_TITLES = {"car-t": "CAR-T pathway", "msc": "MSC pathway"}

# Words the library's "approve_at_mdtm" → "Approve at mdtm" gets wrong for clinicians.
_WORDING = {
    r"\bmdtm\b": "MDTM",
    r"\bicu\b": "ICU",
    r"\blong term\b": "long-term",
    r"\bfollow up\b": "follow-up",
    r"\bwork up\b": "work-up",
}


class DiagramToolMissing(RuntimeError):
    """A program or package that this diagram format needs is not installed."""


def event_label(event: str) -> str:
    """How an event reads on an arrow: ``approve_at_mdtm`` → ``Approve at MDTM``."""
    text = event.replace("_", " ")
    for pattern, replacement in _WORDING.items():
        text = re.sub(pattern, replacement, text)
    return text[:1].upper() + text[1:]


def chart_events(chart: type[PathwayChart]) -> list[Event]:
    """The chart's events, in declaration order."""
    # The library's metaclass gives the class this list; typing only knows the instance's.
    return cast("list[Event]", chart.events)


def render(
    name_or_chart: str | type[PathwayChart] | PathwayChart,
    fmt: str = "mermaid",
    active: list[str] | None = None,
) -> str | bytes:
    """The chart as mermaid text, DOT text, SVG text or PNG bytes.

    ``active`` lists the state ids to highlight, exactly those (give the ancestors too if
    the phase boxes should be marked); for a chart instance it defaults to the instance's
    configuration.
    """
    if fmt not in FORMATS:
        raise ValueError(f"unknown diagram format {fmt!r}: use one of {', '.join(FORMATS)}")
    if isinstance(name_or_chart, PathwayChart):
        chart: type[PathwayChart] = type(name_or_chart)
        if active is None:
            active = name_or_chart.state_ids
    elif isinstance(name_or_chart, type) and issubclass(name_or_chart, PathwayChart):
        chart = name_or_chart
    else:
        chart = chart_class(name_or_chart)
    if fmt in ("svg", "png") and shutil.which("dot") is None:
        raise DiagramToolMissing(
            "graphviz is not installed: apt-get install graphviz (or use --format mermaid)"
        )

    graph = _graph(chart, active or [])
    if fmt == "mermaid":
        return _Mermaid(graph).get_mermaid()
    source = _dot_source(graph)
    if fmt == "dot":
        return source
    from statemachine.contrib.diagram import GraphvizNotFoundError, run_graphviz

    try:
        image = run_graphviz(source, fmt)
    except GraphvizNotFoundError as err:
        raise DiagramToolMissing(
            "graphviz is not installed: apt-get install graphviz (or use --format mermaid)"
        ) from err
    return image.decode("utf-8") if fmt == "svg" else image


def _graph(chart: type[PathwayChart], active: list[str]) -> DiagramGraph:
    """The library's diagram model of ``chart``, with clinicians' wording and ``active``."""
    graph = extract(chart)
    graph.name = _TITLES.get(chart.therapy, chart.__name__)
    states = list(_walk(graph.states))
    known = {s.id for s in states}
    unknown = [a for a in active if a not in known]
    if unknown:
        raise ValueError(
            f"unknown state(s) {', '.join(map(repr, unknown))} in the {chart.therapy} chart: "
            f"known states are {', '.join(sorted(known))}"
        )
    for state in states:
        state.is_active = state.id in active
    # The extracted arrow text is the library's humanized event name; map it back to the id.
    labels = {str(e.name): event_label(e.id) for e in chart_events(chart)}
    for transition in graph.transitions:
        transition.event = labels.get(transition.event, transition.event)
        transition.guards = [g.replace("_", " ") for g in transition.guards]
    return graph


def _walk(states: Iterable[DiagramState]) -> Iterable[DiagramState]:
    for state in states:
        yield state
        yield from _walk(state.children)


# The library's facades, fed the prepared model instead of extracting one from a machine.
# Top to bottom: the pathway reads downwards, and left to right it is far too wide.
class _Mermaid(MermaidGraphMachine):
    direction = "TB"

    def get_mermaid(self) -> str:
        return MermaidRenderer(config=self._build_config()).render(self.machine)


class _Dot(DotGraphMachine):
    graph_rankdir = "TB"

    def get_graph(self) -> pydot.Dot:
        from statemachine.contrib.diagram.renderers.dot import DotRenderer

        renderer = DotRenderer(config=self._build_config())
        # The library names each phase's helper nodes after id() of the phase's subgraph
        # object, which it then drops: a later phase could reuse the address, and two phases
        # shared one start dot (about one render in forty). Keeping them alive prevents it.
        alive: list[pydot.Subgraph] = []
        create = renderer._create_compound_subgraph

        def create_and_keep(state: DiagramState) -> pydot.Subgraph:
            alive.append(create(state))
            return alive[-1]

        renderer._create_compound_subgraph = create_and_keep  # type: ignore[method-assign]
        return renderer.render(self.machine)


def _dot_source(graph: DiagramGraph) -> str:
    if importlib.util.find_spec("pydot") is None:
        raise DiagramToolMissing(
            "pydot is not installed: add python-statemachine[diagrams] to the project "
            "(or use --format mermaid)"
        )
    dot = _Dot(graph).get_graph()
    _hoist_edges(dot)
    return _stable_ids(dot.to_string())


def _hoist_edges(dot: pydot.Dot) -> None:
    # Graphviz puts a node in every cluster that first mentions it. The library writes an
    # edge inside its source's cluster, before a top-level target is declared, so final
    # states ("Ineligible", "Follow-up completed") were drawn inside the phase boxes.
    # Declaring every edge at the root, after all nodes, keeps each node where it belongs.
    edges: list[Any] = []

    def collect(parent: Any) -> None:
        for sub in parent.get_subgraph_list():
            found = sub.get_edge_list()
            edges.extend(found)
            for edge in found:
                sub.del_edge(edge.get_source(), edge.get_destination())
            collect(sub)

    collect(dot)
    for edge in edges:
        dot.add_edge(edge)


_PYTHON_IDS = re.compile(r"(?<=__initial_)\d+|(?<=__atomic_)\d+")


def _stable_ids(source: str) -> str:
    # The library names helper nodes after id() of Python objects: renumber them in order
    # of appearance so the same chart always gives the same DOT, SVG and PNG.
    numbers: dict[str, str] = {}
    return _PYTHON_IDS.sub(lambda m: numbers.setdefault(m.group(0), str(len(numbers) + 1)), source)
