"""One person, however their staff ID is typed: the two-person rules compare people."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from models.actions import person_key
from models.referral import Binome


@pytest.mark.parametrize(
    "spelling", ["dr.martin", "DR.MARTIN", "Dr. Martin", "  dr.martin ", "\uff44\uff52.martin"]
)
def test_spellings_of_one_person_have_one_key(spelling: str) -> None:
    assert person_key(spelling) == person_key("dr.martin")


def test_different_people_have_different_keys() -> None:
    assert person_key("dr.martin") != person_key("dr.martine")


def test_a_referral_binome_of_one_person_is_refused() -> None:
    with pytest.raises(ValidationError, match="two different people"):
        Binome(ard_specialist="dr.martin", cell_therapy_specialist="Dr. Martin")
