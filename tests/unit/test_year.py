"""One year in cellpath (models/durations.py ``YEAR``): the protocol's ``y`` unit, the
follow-up years that start a new run, the oldest possible birth date."""

from __future__ import annotations

from datetime import timedelta

import pytest

from models.durations import YEAR, parse_duration
from models.protocol import DEFAULT_PROTOCOLS, Therapy, load_default_protocol
from workflows.follow_up_years import LEGACY_YEAR


def test_a_year_is_the_mean_julian_year() -> None:
    assert timedelta(days=365.25) == YEAR
    assert parse_duration("15y") == 15 * YEAR


@pytest.mark.parametrize("therapy", sorted(DEFAULT_PROTOCOLS, key=str))
def test_default_protocols_have_the_same_follow_up_years_as_under_365_days(
    therapy: Therapy,
) -> None:
    # Where the two years agree the workflow asks no patch: committed histories unchanged.
    protocol = load_default_protocol(therapy)
    yearly = {v.label for v in protocol.visits if v.at >= YEAR}
    assert yearly, "a positive control: the protocol has follow-up years"
    assert yearly == {v.label for v in protocol.visits if v.at >= LEGACY_YEAR}
