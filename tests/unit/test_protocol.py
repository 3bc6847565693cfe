"""Protocols are data: shipped files load, bad files fail clearly, compression keeps order."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path

import pytest
import yaml
from pydantic import ValidationError

from models.durations import format_duration, humanize, parse_duration
from models.pathway import PathwayInput
from models.protocol import (
    PROTOCOL_DIR,
    Protocol,
    ProtocolFileError,
    Therapy,
    load_default_protocol,
    load_protocol,
)

SHIPPED = sorted(PROTOCOL_DIR.glob("*.yaml"))


@pytest.mark.parametrize("path", SHIPPED, ids=[p.stem for p in SHIPPED])
def test_shipped_protocols_load_and_are_named_after_their_file(path: Path) -> None:
    protocol = load_protocol(path)
    assert protocol.id == path.stem
    assert protocol.time_scale == 1.0


def test_cart_protocol_carries_the_reference_values() -> None:
    cart = load_default_protocol(Therapy.CAR_T)
    assert cart.windows.work_up_validity == timedelta(days=90)
    assert cart.windows.afebrile_before_infusion == timedelta(hours=48)
    assert cart.windows.infusion_after_lymphodepletion_min == timedelta(days=2)
    assert cart.windows.infusion_after_lymphodepletion_max == timedelta(days=14)
    assert cart.washout_rule("Mycophenolate mofetil").stop_before == timedelta(weeks=2)  # type: ignore[union-attr]
    assert cart.washout_rule("cladribine").stop_before > timedelta(days=180)  # type: ignore[union-attr]
    assert cart.tocilizumab_min_doses >= 1
    labels = [v.label for v in cart.visits]
    assert labels[:6] == ["D7", "D14", "D28", "M3", "M6", "M12"] and labels[-1] == "Y15"
    assert cart.safety_reporting.sponsor == timedelta(hours=24)
    assert cart.safety_reporting.susar_fatal == timedelta(days=7)
    assert cart.safety_reporting.susar_other == timedelta(days=15)


def test_msc_protocol_has_no_washout_and_follows_to_two_years() -> None:
    msc = load_default_protocol(Therapy.MSC)
    assert msc.therapy is Therapy.MSC and msc.washout == []
    assert [v.label for v in msc.visits] == ["M3", "M6", "M9", "M12", "Y2"]


def write(tmp_path: Path, data: object) -> Path:
    path = tmp_path / "p.yaml"
    path.write_text(yaml.safe_dump(data) if not isinstance(data, str) else data)
    return path


def base_data() -> dict:
    return yaml.safe_load((PROTOCOL_DIR / "msc-systemic-sclerosis.yaml").read_text())


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        (
            lambda d: d["windows"].pop("work_up_validity"),
            "windows.work_up_validity: field required",
        ),
        (
            lambda d: d["windows"]["work_up_validity"].update(value="three months"),
            "windows.work_up_validity",
        ),
        (lambda d: d.update(therapy="gene-therapy"), "therapy"),
        (lambda d: d.update(colour="blue"), "colour: extra inputs are not permitted"),
        (lambda d: d["deadlines"][0].update(ladder="nowhere"), "unknown ladder 'nowhere'"),
        (lambda d: d["escalation"].pop("default"), "'default' ladder"),
        (lambda d: d["visits"].reverse(), "in order of 'at'"),
        (lambda d: d.update(visits=[]), "visits"),
        (lambda d: d["escalation"]["default"]["steps"][0].update(notify=["janitor"]), "notify"),
    ],
)
def test_a_bad_protocol_file_names_the_file_and_the_field(tmp_path: Path, change, expected) -> None:
    data = base_data()
    change(data)
    with pytest.raises(ProtocolFileError) as err:
        load_protocol(write(tmp_path, data))
    assert str(err.value).startswith(str(tmp_path / "p.yaml"))
    assert expected in str(err.value)


@pytest.mark.parametrize(
    ("text", "expected"),
    [("id: [unclosed", "not valid YAML"), ("- a list", "mapping of fields")],
)
def test_unreadable_files_fail_clearly(tmp_path: Path, text: str, expected: str) -> None:
    with pytest.raises(ProtocolFileError, match=expected):
        load_protocol(write(tmp_path, text))


def test_a_missing_file_fails_clearly(tmp_path: Path) -> None:
    with pytest.raises(ProtocolFileError, match="cannot read"):
        load_protocol(tmp_path / "absent.yaml")


def test_compression_scales_every_clinical_duration() -> None:
    cart = load_default_protocol(Therapy.CAR_T)
    fast = cart.compressed(seconds_per_day=2)
    assert fast.windows.work_up_validity == timedelta(seconds=180)
    assert fast.deadlines[0].within == cart.deadlines[0].within * (2 / 86400)
    assert fast.visits[-1].at == cart.visits[-1].at * (2 / 86400)
    assert fast.time_scale == pytest.approx(2 / 86400)
    # Operational retry settings are not clinical time.
    assert fast.notification_retry == cart.notification_retry


def test_floor_raises_only_sub_day_windows_and_keeps_day_windows_in_order() -> None:
    cart = load_default_protocol(Therapy.CAR_T)
    fast = cart.compressed(seconds_per_day=0.02, floor=timedelta(seconds=1))
    assert fast.windows.thaw_to_infusion == timedelta(seconds=1)
    w = fast.windows
    assert w.infusion_after_lymphodepletion_min < w.infusion_after_lymphodepletion_max
    assert w.infusion_after_lymphodepletion_min == timedelta(seconds=0.04)


def test_compression_must_be_positive() -> None:
    with pytest.raises(ValueError, match="positive"):
        load_default_protocol(Therapy.MSC).compressed(seconds_per_day=0)


def test_protocol_round_trips_through_json() -> None:
    cart = load_default_protocol(Therapy.CAR_T).compressed(seconds_per_day=3)
    assert Protocol.model_validate_json(cart.model_dump_json()) == cart


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        ("90d", 90 * 86400),
        ("48h", 172800),
        ("90min", 5400),
        ("2w", 14 * 86400),
        ("1.5s", 1.5),
        ("P3D", 3 * 86400),
    ],
)
def test_durations_read_as_protocols_write_them(text: str, seconds: float) -> None:
    from pydantic import TypeAdapter

    from models.durations import Duration

    assert TypeAdapter(Duration).validate_python(text).total_seconds() == pytest.approx(seconds)
    assert parse_duration(42) == 42


def test_durations_print_for_people() -> None:
    assert format_duration(timedelta(days=90)) == "90d"
    assert format_duration(timedelta(minutes=90)) == "90min"
    assert humanize(timedelta(days=3, hours=4)) == "3 d 4 h"
    assert humanize(-timedelta(hours=2)) == "-2 h"


class TestOneProtocolPerWorker:
    """Every run decodes its protocol from its input: the worker keeps one object per
    protocol content, and only ever hands a run the protocol its input carries."""

    def test_runs_of_one_protocol_share_it(self) -> None:
        cart = load_default_protocol(Therapy.CAR_T).compressed(seconds_per_day=7)
        first = PathwayInput.model_validate_json(self.input_for(cart))
        second = PathwayInput.model_validate_json(self.input_for(cart))
        assert first.protocol is second.protocol
        assert first.protocol == cart

    def test_another_protocol_is_another_object(self) -> None:
        cart = load_default_protocol(Therapy.CAR_T)
        slow = PathwayInput.model_validate_json(self.input_for(cart.compressed(seconds_per_day=7)))
        fast = PathwayInput.model_validate_json(self.input_for(cart.compressed(seconds_per_day=8)))
        assert slow.protocol is not fast.protocol
        assert slow.protocol.time_scale != fast.protocol.time_scale

    def test_a_bad_protocol_is_still_refused(self) -> None:
        data = json.loads(self.input_for(load_default_protocol(Therapy.MSC)))
        data["protocol"]["windows"]["work_up_validity"] = "soon"
        with pytest.raises(ValidationError, match="work_up_validity"):
            PathwayInput.model_validate_json(json.dumps(data))
        with pytest.raises(ValidationError, match="work_up_validity"):  # not cached either
            PathwayInput.model_validate_json(json.dumps(data))

    @staticmethod
    def input_for(protocol: Protocol) -> bytes:
        from tests.support.pathway_driver import referral

        ref = referral("LUP-901")
        return json.dumps(
            {
                "protocol": json.loads(protocol.model_dump_json()),
                "referral": json.loads(ref.model_dump_json()),
            }
        ).encode()
