"""Every rule of the centre policy carries its source; a rule stated without one does not load."""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import yaml

from devtools.centre_policy_docs import rules, therapy_rules
from devtools.docs import PATHWAYS_MD
from models.centre_files import CENTRE_DIR, POLICY_FILE, CentreFileError, load_centre_policy
from models.centre_policy import ALL_BODIES, CentrePolicy
from models.centre_record import CentreInput
from models.evidence import Centre
from models.protocol import Therapy
from models.readiness import readiness
from models.sources import SourceKind

NOW = datetime(2026, 11, 26, 12, 0, tzinfo=UTC)
POLICY = load_centre_policy()
# The centre histories recorded before policies named their sources (later ones carry them).
HISTORIES = sorted((Path(__file__).parents[1] / "histories").glob("centre-full-v1-*.json"))


def shipped_data() -> dict[str, Any]:
    data = yaml.safe_load((CENTRE_DIR / POLICY_FILE).read_text(encoding="utf-8"))
    assert isinstance(data, dict)
    return data


def write(tmp_path: Path, data: dict[str, Any]) -> Path:
    path = tmp_path / "policy.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")
    return path


def untag(part: dict[str, Any], name: str) -> None:
    part[name] = part[name]["value"]


def test_every_rule_of_the_shipped_policy_has_a_source() -> None:
    parts = [("policy", POLICY)] + [(t.value, r) for t, r in POLICY.requirements.items()]
    for where, part in parts:
        for name in part.NUMBERS:
            found = part.source_of(name)
            assert found is not None, f"{where}.{name}"
            assert found.kind in SourceKind and len(found.cite) >= 3
    # The rules the issue names are stated in the file, not taken by default.
    stated = POLICY.sources["accreditation_bodies"]
    assert stated.kind is SourceKind.RECOMMENDATIONS and "SFGM-TC" in stated.cite
    assert POLICY.sources["warn_before"].cite.startswith("one month")
    cart = POLICY.requirements[Therapy.CAR_T]
    assert cart.sources["tocilizumab_min_doses"].kind is SourceKind.LABEL
    assert cart.sources["tocilizumab_resupply_within"].kind is SourceKind.LABEL


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        (lambda d: untag(d, "warn_before"), "warn_before has no source"),
        (lambda d: untag(d, "accreditation_bodies"), "accreditation_bodies has no source"),
        (lambda d: untag(d, "notify"), "notify has no source"),
        (
            lambda d: untag(d["requirements"]["car-t"], "tocilizumab_min_doses"),
            "requirements.car-t: tocilizumab_min_doses has no source",
        ),
        (
            lambda d: untag(d["requirements"]["car-t"], "tocilizumab_resupply_within"),
            "requirements.car-t: tocilizumab_resupply_within has no source",
        ),
        (
            lambda d: untag(d["requirements"]["msc"], "prerequisites"),
            "requirements.msc: prerequisites has no source",
        ),
        (
            lambda d: untag(d["requirements"]["msc"], "staff_roles"),
            "requirements.msc: staff_roles has no source",
        ),
        (
            lambda d: d["warn_before"].update(source="one month"),
            "a source reads '<kind>: <citation>'",
        ),
        (lambda d: d["accreditation_bodies"].update(value=["AABB"]), "accreditation_bodies"),
    ],
)
def test_a_rule_without_a_source_fails_naming_the_field(tmp_path: Path, change, expected) -> None:
    data = shipped_data()
    change(data)
    with pytest.raises(CentreFileError) as err:
        load_centre_policy(write(tmp_path, data))
    assert expected in str(err.value), str(err.value)


def test_a_rule_left_out_takes_the_default_with_the_defaults_source(tmp_path: Path) -> None:
    data = shipped_data()
    del data["warn_before"], data["accreditation_bodies"]
    del data["requirements"]["car-t"]["tocilizumab_min_doses"]
    policy = load_centre_policy(write(tmp_path, data))
    assert policy.warn_before == timedelta(days=30)
    assert policy.accreditation_bodies == ALL_BODIES
    assert policy.sources["warn_before"].kind is SourceKind.ASSUMPTION
    # The tocilizumab minimum then comes from the therapy's protocol, with its source.
    cart = policy.requirements[Therapy.CAR_T]
    assert cart.tocilizumab_min_doses == 1
    assert cart.sources["tocilizumab_min_doses"].kind is SourceKind.LABEL


def recorded_policies() -> list[dict[str, Any]]:
    found = []
    for path in HISTORIES:
        first = json.loads(path.read_text(encoding="utf-8"))["events"][0]
        payload = first["workflowExecutionStartedEventAttributes"]["input"]["payloads"][0]
        found.append(json.loads(base64.b64decode(payload["data"])))
    return found


def test_a_policy_recorded_before_sources_still_loads_and_decides_as_it_did() -> None:
    inputs = recorded_policies()
    assert inputs, "no committed centre history"
    for recorded in inputs:
        assert "sources" not in json.dumps(recorded["policy"])
        loaded = CentreInput.model_validate(recorded)
        assert loaded.policy.accreditation_bodies == ALL_BODIES
        assert all(
            r.tocilizumab_resupply_within is None for r in loaded.policy.requirements.values()
        )
        # The same shape in a file is refused: a file must say where its rules come from.
        with pytest.raises(ValueError, match="no source"):
            CentrePolicy.model_validate(recorded["policy"], context={"protocol_file": True})


def test_sources_survive_compression_and_json() -> None:
    fast = POLICY.compressed(seconds_per_day=6)
    assert fast.sources == POLICY.sources
    assert CentrePolicy.model_validate_json(fast.model_dump_json()) == fast


def centre(**changes: Any) -> Centre:
    data = yaml.safe_load((CENTRE_DIR / "centre-a.yaml").read_text(encoding="utf-8"))
    data.update(accreditation={**data["accreditation"], "valid_until": "2099-01-01"})
    data.update(changes)
    from models.centre_files import resolve_relative

    return Centre.model_validate(resolve_relative(data, now=NOW))


def test_an_accreditation_by_a_body_the_policy_does_not_count_is_missing() -> None:
    fact_only = centre(
        accreditation={"body": "FACT", "scope": ["car-t", "msc"], "valid_until": "2099-01-01"}
    )
    for therapy in Therapy:
        r = readiness(fact_only, POLICY, therapy, NOW)
        assert not r.ready
        assert [m.key for m in r.missing] == ["accreditation"]
        assert "FACT accreditation does not count" in r.missing_text()
        assert "JACIE, FACT-JACIE, SFGM-TC" in r.missing_text()
    # A policy that counts FACT accepts it.
    counting = POLICY.model_copy(update={"accreditation_bodies": ["FACT"]})
    assert readiness(fact_only, counting, Therapy.CAR_T, NOW).ready


def test_a_slow_tocilizumab_resupply_holds_car_t_only() -> None:
    slow = centre(
        tocilizumab={"doses_on_site": 6, "resupply_within": "24h", "valid_until": "2099-01-01"}
    )
    r = readiness(slow, POLICY, Therapy.CAR_T, NOW)
    assert [m.key for m in r.missing] == ["tocilizumab"]
    assert (
        r.missing_text() == "tocilizumab on site: resupply within 24 hours; within 8 hours required"
    )
    assert readiness(slow, POLICY, Therapy.MSC, NOW).ready
    unknown = centre(tocilizumab={"doses_on_site": 6, "valid_until": "2099-01-01"})
    assert (
        "no resupply time on file" in readiness(unknown, POLICY, Therapy.CAR_T, NOW).missing_text()
    )


def test_the_pathway_docs_show_each_rule_beside_its_source() -> None:
    committed = (CENTRE_DIR.parent / PATHWAYS_MD).read_text(encoding="utf-8")
    assert "## Centre policy" in committed
    shown = rules(POLICY) + [
        rule for t, r in POLICY.requirements.items() for rule in therapy_rules(t, r)
    ]
    assert len(shown) >= 10
    for what, value, cited in shown:
        assert cited != "(no source recorded)", what
        assert f"| {what} | {value} | {cited} |" in committed, what
