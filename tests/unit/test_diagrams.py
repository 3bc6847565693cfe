"""Diagrams of the charts (client.diagrams) and the generated pathway docs (devtools.docs)."""

from __future__ import annotations

import importlib.util
import os
import re
import shutil
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

import pytest
from statemachine import HistoryState
from statemachine.contrib.diagram import formatter

from client.diagrams import DiagramToolMissing, chart_events, event_label, render
from devtools.docs import guard_phrases, render_pathways_md, stale_docs, write_docs
from models.protocol import Therapy, load_default_protocol
from models.record import PathwayRecord
from models.referral import Binome
from models.roles import ROLE_MATRIX
from states.base import PathwayChart
from states.cart import CarTChart
from states.msc import MscChart
from states.registry import CHARTS as CHART_OF
from states.registry import chart_class

REPO_ROOT = Path(__file__).resolve().parents[2]
CHARTS = list(CHART_OF.values())
THERAPIES = {chart: therapy for therapy, chart in CHART_OF.items()}

needs_graphviz = pytest.mark.skipif(
    shutil.which("dot") is None or importlib.util.find_spec("pydot") is None,
    reason="needs the graphviz `dot` program and pydot (python-statemachine[diagrams])",
)


def _all_states(chart: type[PathwayChart]) -> list:
    states = list(chart.states_map.values())
    return states + [h for s in states for h in getattr(s, "history", [])]


def _highlighted(text: str) -> set[str]:
    return set(re.findall(r"^\s*(\w+):::active$", text, flags=re.M))


class TestChartNames:
    """chart_class accepts the therapy names and refuses anything else with a clear error."""

    @pytest.mark.parametrize(
        ("name", "chart"),
        [("cart", CarTChart), ("car-t", CarTChart), ("CAR-T", CarTChart), ("msc", MscChart)],
    )
    def test_known_names(self, name: str, chart: type[PathwayChart]) -> None:
        assert chart_class(name) is chart

    def test_unknown_name_is_a_clear_value_error(self) -> None:
        with pytest.raises(ValueError, match=r"unknown chart 'hsct': use one of car-t, cart, msc"):
            chart_class("hsct")
        with pytest.raises(ValueError, match="unknown chart 'hsct'"):
            render("hsct")

    def test_unknown_format_is_a_value_error(self) -> None:
        with pytest.raises(ValueError, match="unknown diagram format 'pdf'"):
            render("cart", "pdf")


@pytest.mark.parametrize("chart", CHARTS, ids=lambda c: c.therapy)
class TestMermaid:
    """The mermaid text names every state (id and human name) and every event, nests phases."""

    def test_every_state_is_declared_with_its_human_name(self, chart: type[PathwayChart]) -> None:
        text = render(chart)
        assert isinstance(text, str)
        for state in _all_states(chart):
            label = "H*" if isinstance(state, HistoryState) else state.name
            assert re.search(rf'state "{re.escape(label)}" as {state.id}\b', text), state.id

    def test_every_event_labels_an_arrow(self, chart: type[PathwayChart]) -> None:
        arrows = re.findall(r"--> \w+ : (.+)$", str(render(chart)), flags=re.M)
        labels = {re.sub(r" \[.*\]$", "", a) for a in arrows}
        assert labels == {event_label(e.id) for e in chart_events(chart)}

    def test_phases_are_nested_boxes(self, chart: type[PathwayChart]) -> None:
        text = str(render(chart))
        assert 'state "Pathway" as pathway {' in text
        assert re.search(r'^        state "Treatment" as treatment \{$', text, flags=re.M)

    def test_layout_is_the_library_s(self, chart: type[PathwayChart]) -> None:
        """Only the arrow wording and the direction differ from the library's own output."""

        def shape(text: str) -> list[str]:
            return [
                re.sub(r" : .*$", "", line)
                for line in text.splitlines()
                if not line.strip().startswith("direction")
            ]

        assert shape(str(render(chart))) == shape(formatter.render(chart, "mermaid"))

    def test_same_output_twice(self, chart: type[PathwayChart]) -> None:
        assert render(chart) == render(chart)


class TestHighlight:
    """``active`` marks exactly the states given, and nothing when it is empty."""

    @pytest.mark.parametrize(
        ("name", "active"),
        [
            ("cart", ["awaiting_mdtm"]),
            ("cart", ["pathway", "treatment", "monitoring", "icu"]),
            ("msc", ["held"]),
            ("msc", ["pathway", "treatment", "thawed"]),
        ],
    )
    def test_marks_exactly_the_given_states(self, name: str, active: list[str]) -> None:
        text = str(render(name, active=active))
        assert _highlighted(text) == set(active)
        assert text.count("classDef active ") == 1

    def test_nothing_active_means_no_highlight(self) -> None:
        text = str(render("cart"))
        assert _highlighted(text) == set()
        assert "classDef" not in text

    def test_unknown_state_is_refused(self) -> None:
        with pytest.raises(ValueError, match=r"unknown state\(s\) 'washout' in the msc chart"):
            render("msc", active=["washout"])

    def test_a_live_chart_highlights_its_configuration(self) -> None:
        record = PathwayRecord(
            pathway_id="pathway-demo-LUP-001",
            pseudonym="LUP-001",
            centre="demo",
            therapy=Therapy.CAR_T,
            disease="lupus",
            protocol_id="cart-cd19-lupus",
            binome=Binome(ard_specialist="dr.martin", cell_therapy_specialist="dr.roux"),
            referred_at=datetime(2025, 1, 6, tzinfo=UTC),
            configuration=["pathway", "product", "manufacturing"],
        )
        chart = CarTChart(record, load_default_protocol(Therapy.CAR_T))
        assert _highlighted(str(render(chart))) == {"pathway", "product", "manufacturing"}


class TestGraphviz:
    """SVG and PNG come from the library's Graphviz renderer, the same bytes every time."""

    def test_missing_dot_is_a_clear_error(self, monkeypatch: pytest.MonkeyPatch, tmp_path) -> None:
        monkeypatch.setenv("PATH", str(tmp_path))
        with pytest.raises(DiagramToolMissing, match=r"^graphviz is not installed: apt-get"):
            render("cart", "svg")

    @needs_graphviz
    @pytest.mark.parametrize("name", ["cart", "msc"])
    def test_svg(self, name: str) -> None:
        svg = render(name, "svg", active=["awaiting_mdtm"])
        assert isinstance(svg, str)
        assert "<svg" in svg
        assert "Awaiting MDTM decision" in svg
        assert "turquoise" in svg
        assert render(name, "svg", active=["awaiting_mdtm"]) == svg

    @needs_graphviz
    def test_png(self) -> None:
        png = render("msc", "png")
        assert isinstance(png, bytes)
        assert png.startswith(b"\x89PNG\r\n\x1a\n")

    @needs_graphviz
    def test_same_dot_every_time(self) -> None:
        """The library names helper nodes after id() of objects it frees while drawing: a
        reused address once merged two phases' start dots, about one render in forty."""
        sources = {str(render("cart", "dot")) for _ in range(60)}
        assert len(sources) == 1
        phases = [s for s in CarTChart.states_map.values() if s.states]
        start_dots = set(re.findall(r"__initial_\d+", sources.pop()))
        assert len(start_dots) == len(phases) + 1  # one per phase, one for the chart

    @needs_graphviz
    def test_edges_are_declared_at_the_root(self) -> None:
        """Graphviz puts a node in the first cluster that mentions it: an edge written inside
        a phase drew the final states ("Ineligible (MDTM)") inside that phase's box."""
        depth = 0
        for line in str(render("cart", "dot")).splitlines():
            if " -> " in line:
                assert depth == 1, line
            depth += line.endswith("{") - (line == "}")


# Renders every diagram and the pathways page in a fresh interpreter; prints them and the
# hash of a string, which shows that the hash seed took effect.
RENDER_ALL = """
import sys
from client.diagrams import render
from devtools.docs import render_pathways_md
out = [str(hash("cellpath"))]
for name in ("cart", "msc"):
    out.append(str(render(name)))
    out.append(str(render(name, active=["pathway", "treatment"])))
    if sys.argv[1] == "dot":
        out.append(str(render(name, "dot")))
out.append(render_pathways_md())
sys.stdout.write("\\0".join(out))
"""


def render_in_process(hash_seed: str) -> list[str]:
    formats = "dot" if shutil.which("dot") else "mermaid"
    env = {**os.environ, "PYTHONHASHSEED": hash_seed}
    done = subprocess.run(
        [sys.executable, "-c", RENDER_ALL, formats],
        cwd=REPO_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    return done.stdout.split("\0")


class TestDeterminismAcrossProcesses:
    """Two interpreters with different hash seeds render the same bytes: set and dict
    order, and ids of objects, differ between them (the committed docs depend on it)."""

    def test_two_hash_seeds_render_the_same(self) -> None:
        first, second = render_in_process("1"), render_in_process("2")
        assert first[0] != second[0], "the hash seeds did not take effect"
        assert len(first) == len(second) >= 5
        assert first[1:] == second[1:]


class TestDocs:
    """docs/pathways.md is generated from the code and committed up to date."""

    def test_committed_docs_are_up_to_date(self) -> None:
        stale = stale_docs(REPO_ROOT)
        assert stale == [], (
            f"generated docs are out of date: {', '.join(map(str, stale))}; run `make docs`"
        )

    def test_same_output_twice(self) -> None:
        assert render_pathways_md() == render_pathways_md()

    def test_write_then_not_stale(self, tmp_path: Path) -> None:
        assert stale_docs(tmp_path) != []
        written = write_docs(tmp_path)
        assert {p.relative_to(tmp_path).as_posix() for p in written} == {
            "docs/pathways.md",
            "docs/diagrams/cart.mmd",
            "docs/diagrams/msc.mmd",
        }
        assert stale_docs(tmp_path) == []
        (tmp_path / "docs/diagrams/msc.mmd").write_text("stateDiagram-v2\n", encoding="utf-8")
        assert stale_docs(tmp_path) == [tmp_path / "docs/diagrams/msc.mmd"]

    @pytest.mark.parametrize("chart", CHARTS, ids=lambda c: c.therapy)
    def test_every_event_is_listed_with_its_roles(self, chart: type[PathwayChart]) -> None:
        text = render_pathways_md()
        for event in chart_events(chart):
            assert f"| `{event.id}` |" in text
            assert ROLE_MATRIX.get(event.id), f"{event.id} is in no role of the matrix"

    @pytest.mark.parametrize("chart", CHARTS, ids=lambda c: c.therapy)
    def test_every_guard_has_words(self, chart: type[PathwayChart]) -> None:
        phrases = guard_phrases(load_default_protocol(THERAPIES[chart]))
        guards = {
            str(v) for s in chart.states_map.values() for t in s.transitions for v in t.validators
        }
        assert guards <= set(phrases)

    def test_deadlines_of_the_default_protocols(self) -> None:
        text = render_pathways_md()
        for therapy in Therapy:
            for rule in load_default_protocol(therapy).deadlines:
                assert f"| `{rule.key}` | {rule.label} |" in text
