"""Every number of a protocol carries its source; a file with an untagged number does not load."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml
from pydantic import BaseModel

from models import protocol as protocol_module
from models.pathway import PathwayInput
from models.protocol import (
    PROTOCOL_DIR,
    Protocol,
    ProtocolFileError,
    load_protocol,
    protocol_path,
    shipped_protocols,
)
from models.sources import Source, Sourced, SourceKind

SHIPPED = sorted(PROTOCOL_DIR.glob("*.yaml"))


def sourced_parts(model: BaseModel, where: str = "") -> list[tuple[str, Sourced]]:
    """Every part of a protocol that holds numbers, with its path."""
    found: list[tuple[str, Sourced]] = []
    if isinstance(model, Sourced):
        found.append((where or "protocol", model))
    for name in type(model).model_fields:
        value = getattr(model, name)
        items = (
            value.items()
            if isinstance(value, dict)
            else enumerate(value)
            if isinstance(value, list)
            else [(None, value)]
        )
        for key, item in items:
            if isinstance(item, BaseModel) and not isinstance(item, Source):
                path = ".".join(p for p in (where, name, "" if key is None else str(key)) if p)
                found += sourced_parts(item, path)
    return found


@pytest.mark.parametrize("path", SHIPPED, ids=[p.stem for p in SHIPPED])
def test_every_number_of_a_shipped_protocol_has_a_source(path: Path) -> None:
    parts = sourced_parts(load_protocol(path))
    assert len(parts) > 20
    for where, part in parts:
        for name in part.NUMBERS:
            found = part.source_of(name)
            assert found is not None, f"{path.stem}: {where}.{name}"
            assert found.kind in SourceKind and len(found.cite) >= 3


def test_every_defaulted_number_has_a_default_source() -> None:
    """A number a file may leave out still has a source: the model's default one."""
    for cls in vars(protocol_module).values():
        if isinstance(cls, type) and issubclass(cls, Sourced) and cls is not Sourced:
            for name in cls.NUMBERS:
                if not cls.model_fields[name].is_required():
                    assert name in cls.DEFAULT_SOURCES, f"{cls.__name__}.{name}"


def test_a_number_left_out_takes_the_default_and_its_source() -> None:
    msc = load_protocol(protocol_path("msc-systemic-sclerosis"))
    assert msc.windows.source_of("proximity_period").kind is SourceKind.LABEL  # type: ignore[union-attr]
    assert msc.safety_reporting.source_of("sponsor").kind is SourceKind.REGULATION  # type: ignore[union-attr]


def test_the_sclerosis_work_up_window_cites_the_recommendations() -> None:
    msc = load_protocol(protocol_path("msc-systemic-sclerosis"))
    found = msc.windows.source_of("work_up_validity")
    assert found is not None and found.kind is SourceKind.RECOMMENDATIONS
    assert "Castilla-Llorente" in found.cite


def base_data() -> dict[str, Any]:
    return yaml.safe_load(protocol_path("cart-cd19-lupus").read_text(encoding="utf-8"))


def write(tmp_path: Path, data: object) -> Path:
    path = tmp_path / "p.yaml"
    path.write_text(yaml.safe_dump(data), encoding="utf-8")
    return path


def _untag(data: dict[str, Any], key: str) -> None:
    data[key] = data[key]["value"]


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        (
            lambda d: _untag(d["windows"], "work_up_validity"),
            "windows: work_up_validity has no source (write each as {value",
        ),
        (
            lambda d: _untag(d, "prednisone_max_mg_per_day"),
            "prednisone_max_mg_per_day has no source",
        ),
        (lambda d: d["washout"][2].pop("source"), "washout.2: stop_before has no source"),
        (lambda d: d["visits"][0].pop("source"), "visits.0: at has no source"),
        (lambda d: d["deadlines"][1].pop("source"), "deadlines.1: within has no source"),
        (
            lambda d: d["escalation"]["safety"]["steps"][1].pop("source"),
            "escalation.safety.steps.1: after has no source",
        ),
        (lambda d: _untag(d["safety_reporting"], "sponsor"), "sponsor has no source"),
        (lambda d: d["infusions"].pop("source"), "infusions: count has no source"),
        (
            lambda d: d["windows"]["thaw_to_infusion"].update(source="hearsay: a colleague"),
            "input should be 'recommendations', 'EBMT-ISCT', 'label', 'regulation' or 'assumption'",
        ),
        (
            lambda d: d["washout"][0].update(source="Greco 2024"),
            "a source reads '<kind>: <citation>'",
        ),
        (lambda d: d.pop("diseases"), "list the diseases this protocol is for"),
        (lambda d: d["diseases"][0].pop("source"), "diseases.0.source: field required"),
        (lambda d: d["diseases"][1].update(icd10=["lupus"]), "should be an ICD-10 code"),
    ],
)
def test_an_untagged_number_fails_naming_the_field(tmp_path: Path, change, expected) -> None:
    data = base_data()
    change(data)
    with pytest.raises(ProtocolFileError) as err:
        load_protocol(write(tmp_path, data))
    assert expected in str(err.value), str(err.value)


def test_a_recorded_protocol_without_sources_still_loads_from_a_workflow_input() -> None:
    """Histories recorded before source tags carry protocols without sources or diseases."""

    def strip(value: Any) -> Any:
        if isinstance(value, dict):
            return {k: strip(v) for k, v in value.items() if k not in {"sources", "diseases"}}
        if isinstance(value, list):
            return [strip(v) for v in value]
        return value

    cart = json.loads(load_protocol(protocol_path("cart-cd19-lupus")).model_dump_json())
    old = strip(cart)
    assert "sources" not in json.dumps(old)
    from tests.support.pathway_driver import referral

    ref = json.loads(referral("LUP-902").model_dump_json())
    del ref["icd10"], ref["orpha"]
    loaded = PathwayInput.model_validate_json(json.dumps({"protocol": old, "referral": ref}))
    assert loaded.protocol.windows.work_up_validity.days == 90
    assert loaded.protocol.diseases == []
    # The same shape in a file is refused: a file must say where its numbers come from.
    with pytest.raises(ValueError, match="no source|list the diseases"):
        Protocol.model_validate(old, context={"protocol_file": True})


def test_sources_survive_compression_and_json() -> None:
    for protocol in shipped_protocols():
        fast = protocol.compressed(seconds_per_day=2)
        assert fast.windows.sources == protocol.windows.sources
        assert fast.visits[-1].sources == protocol.visits[-1].sources
        assert Protocol.model_validate_json(fast.model_dump_json()) == fast


def test_the_pathway_docs_show_each_number_of_every_protocol_beside_its_source() -> None:
    from devtools.docs import PATHWAYS_MD
    from devtools.protocol_docs import numbers

    committed = (PROTOCOL_DIR.parent / PATHWAYS_MD).read_text(encoding="utf-8")
    for protocol in shipped_protocols():
        assert f"`protocols/{protocol.id}.yaml`" in committed
        rows = numbers(protocol)
        assert len(rows) >= 20
        for what, value, cited in rows:
            assert cited != "(no source recorded)", (protocol.id, what)
            assert f"| {what} | {value} | {cited} |" in committed, (protocol.id, what)
