"""A referral gets the protocol it names or the one matching its therapy and disease: never a default."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from client import pathways as operations
from models.disease_codes import covers
from models.protocol import Protocol, load_protocol, protocol_path, shipped_protocols
from models.protocol_choice import (
    AmbiguousProtocol,
    MissingDiseaseCode,
    NoMatchingProtocol,
    ProtocolMismatch,
    UnknownProtocol,
    check_protocol,
    choose_protocol,
)
from models.referral import Referral
from models.refusals import Outcome
from tests.support.pathway_driver import referral


class TestMatchingByDisease:
    """Without protocol_id, therapy and disease codes pick exactly one shipped protocol."""

    def test_msc_lupus_gets_the_lupus_protocol_not_the_sclerosis_one(self) -> None:
        # The bug of issue 12: this referral silently got msc-systemic-sclerosis (one infusion).
        chosen = operations.protocol_for(referral("LUP-001", therapy="msc"))
        assert chosen.id == "msc-lupus-repeated"
        assert chosen.infusions.count == 2

    def test_msc_sclerosis_gets_the_sclerosis_protocol(self) -> None:
        ref = referral("SSC-001", therapy="msc", disease="systemic sclerosis")
        assert choose_protocol(ref).id == "msc-systemic-sclerosis"

    @pytest.mark.parametrize(
        ("codes", "expected"),
        [
            ({"icd10": "M32.1"}, "msc-lupus-repeated"),
            ({"icd10": "m32.8"}, "msc-lupus-repeated"),  # any M32.x, lower case normalised
            ({"orpha": "ORPHA:536"}, "msc-lupus-repeated"),
            ({"orpha": "ORPHA:90291"}, "msc-systemic-sclerosis"),
            ({"icd10": "M34.0", "orpha": "ORPHA:90291"}, "msc-systemic-sclerosis"),
            ({"icd10": "M33.1", "orpha": "ORPHA:221"}, "msc-other-ard"),  # MYO-003
            ({"orpha": "ORPHA:732"}, "msc-other-ard"),
            ({"icd10": "M31.3", "orpha": "ORPHA:900"}, "msc-other-ard"),  # VAS-004
            ({"icd10": "M31.7"}, "msc-other-ard"),
        ],
    )
    def test_either_code_is_enough(self, codes: dict[str, str], expected: str) -> None:
        ref = referral("XYZ-001", therapy="msc", **{"icd10": None, **codes})
        assert choose_protocol(ref).id == expected

    def test_car_t_for_vasculitis_gets_the_car_t_protocol(self) -> None:
        ref = referral("VAS-001", disease="ANCA-associated vasculitis", icd10="M31.3")
        assert choose_protocol(ref).id == "cart-cd19-lupus"

    def test_no_protocol_for_the_disease_is_refused_naming_the_candidates(self) -> None:
        ref = referral("SJO-001", therapy="msc", disease="Sjogren syndrome")
        ref = ref.model_copy(update={"icd10": "M35.0", "orpha": None})
        with pytest.raises(NoMatchingProtocol) as err:
            choose_protocol(ref)
        assert err.value.outcome is Outcome.REFUSED
        text = str(err.value)
        assert "No msc protocol is for M35.0" in text
        assert "msc-other-ard (msc: idiopathic inflammatory myopathy M33" in text
        assert "msc-lupus-repeated (msc: systemic lupus erythematosus M32, ORPHA:536)" in text
        assert "msc-systemic-sclerosis (msc: systemic sclerosis M34, ORPHA:90291)" in text
        assert "cart-cd19-lupus" not in text  # another therapy is no candidate

    def test_a_code_outside_the_listed_category_matches_nothing(self) -> None:
        ref = referral("VAS-002", therapy="car-t", icd10="M31.4")  # Takayasu: not listed
        with pytest.raises(NoMatchingProtocol):
            choose_protocol(ref)

    def test_several_matching_protocols_are_refused_naming_them(self) -> None:
        lupus = load_protocol(protocol_path("msc-lupus-repeated"))
        twin = lupus.model_copy(update={"id": "msc-lupus-single"})
        ref = referral("LUP-002", therapy="msc")
        with pytest.raises(AmbiguousProtocol) as err:
            choose_protocol(ref, [*shipped_protocols(), twin])
        assert err.value.outcome is Outcome.BAD_INPUT
        assert "msc-lupus-repeated" in str(err.value) and "msc-lupus-single" in str(err.value)
        assert "Name one with protocol_id" in str(err.value)

    def test_every_shipped_protocol_is_reachable_by_its_own_diseases(self) -> None:
        for protocol in shipped_protocols():
            for disease in protocol.diseases:
                for code in disease.icd10:
                    ref = referral("XYZ-002", therapy=protocol.therapy.value, icd10=code)
                    assert choose_protocol(ref).id == protocol.id, (protocol.id, code)


class TestNamedProtocol:
    """An explicit protocol_id is checked against the referral's therapy and disease."""

    def test_a_matching_named_protocol_is_used(self) -> None:
        ref = referral("LUP-003", therapy="msc", protocol_id="msc-lupus-repeated")
        assert choose_protocol(ref).id == "msc-lupus-repeated"

    def test_a_named_protocol_for_another_disease_is_refused(self) -> None:
        ref = referral("LUP-004", therapy="msc", protocol_id="msc-systemic-sclerosis")
        with pytest.raises(ProtocolMismatch, match="is not for M32.1"):
            choose_protocol(ref)

    def test_a_named_protocol_for_another_therapy_is_refused(self) -> None:
        ref = referral("LUP-005", protocol_id="msc-lupus-repeated")
        with pytest.raises(ProtocolMismatch, match="is for msc, the referral is for car-t"):
            choose_protocol(ref)

    @pytest.mark.parametrize("name", ["nowhere", "../protocols/cart-cd19-lupus", "/etc/passwd"])
    def test_an_unknown_or_path_like_protocol_id_is_refused(self, name: str) -> None:
        with pytest.raises(UnknownProtocol, match="cart-cd19-lupus"):
            choose_protocol(referral("LUP-006", protocol_id=name))

    def test_a_protocol_handed_over_is_checked_too(self) -> None:
        # The demo and tests hand a (compressed) protocol to operations.refer.
        sclerosis = load_protocol(protocol_path("msc-systemic-sclerosis")).compressed(
            seconds_per_day=2
        )
        with pytest.raises(ProtocolMismatch):
            check_protocol(referral("LUP-007", therapy="msc"), sclerosis)


class TestDiseaseCodes:
    """Codes are required for a new referral, optional for one recorded before they existed."""

    def test_a_recorded_referral_without_codes_still_loads(self) -> None:
        old = referral("LUP-008").model_dump(mode="json")
        del old["icd10"], old["orpha"]
        assert Referral.model_validate(old).disease_codes is None

    def test_a_new_referral_without_codes_gets_no_protocol(self) -> None:
        with pytest.raises(MissingDiseaseCode, match="gives no disease code"):
            choose_protocol(referral("LUP-009", icd10=None))
        with pytest.raises(operations.BadInput) as err:
            operations.protocol_for(referral("LUP-009", icd10=None))
        assert err.value.rule == "MissingDiseaseCode"
        assert err.value.outcome is Outcome.BAD_INPUT

    @pytest.mark.parametrize(
        ("field", "value"),
        [("icd10", "lupus"), ("icd10", "32.1"), ("icd10", "M32.12345"), ("orpha", "536")],
    )
    def test_malformed_codes_are_refused(self, field: str, value: str) -> None:
        with pytest.raises(ValidationError, match=field):
            referral("LUP-010", **{field: value})

    @pytest.mark.parametrize(
        ("listed", "given", "expected"),
        [
            ("M32", "M32.1", True),
            ("M32", "M32", True),
            ("M32.1", "M32.8", False),
            ("M3", "M32.1", False),
            ("M32", "M320", False),
        ],
    )
    def test_icd10_categories_cover_their_subcodes_only(
        self, listed: str, given: str, expected: bool
    ) -> None:
        assert covers(listed, given) is expected

    def test_shipped_protocols_list_coded_sourced_diseases(self) -> None:
        protocols: list[Protocol] = shipped_protocols()
        assert {p.id for p in protocols} >= {
            "cart-cd19-lupus",
            "msc-lupus-repeated",
            "msc-other-ard",
        }
        for protocol in protocols:
            assert protocol.diseases, protocol.id
            for disease in protocol.diseases:
                assert disease.icd10 or disease.orpha
                assert disease.source.cite
