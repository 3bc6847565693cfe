"""What a pathway's page shows and who may see it: the state in words, with its phases;
a pathway at another centre is refused."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from models.protocol import Therapy
from models.record import PathwayRecord
from models.referral import Binome
from models.roles import Role
from web.pathway_view import NotYourCentre, action_form, check_centre, incidents_of, state_words


def record(**kw) -> PathwayRecord:
    return PathwayRecord(
        pathway_id="pathway-centre-b-LUP-900",
        pseudonym="LUP-900",
        centre="centre-b",
        therapy=Therapy.CAR_T,
        disease="systemic lupus erythematosus",
        protocol_id="cart-cd19-lupus",
        binome=Binome(ard_specialist="dr.martin", cell_therapy_specialist="dr.roux"),
        referred_at=datetime(2026, 3, 2, tzinfo=UTC),
        **kw,
    )


def test_a_pathway_at_another_centre_is_refused() -> None:
    check_centre(record(), ("centre-a", "centre-b"))
    with pytest.raises(NotYourCentre, match="is at centre-b; you work at centre-a"):
        check_centre(record(), ("centre-a",))


def test_the_state_reads_in_words_with_its_phases() -> None:
    words, phases = state_words(record(configuration=["pathway", "treatment", "cleared"]))
    assert words == "Cleared for lymphodepletion" and phases == ["Pathway", "Treatment"]


def test_a_record_without_an_incident_log_has_no_incidents() -> None:
    assert incidents_of(record()) == []


def test_a_signature_form_asks_for_its_meaning() -> None:
    form = action_form("thaw_product", Role.NURSE, any_time=False)
    assert form.signature and form.meanings[0] == "thawed" and "verified" in form.meanings
    assert form.cosign == "optional"
    # "verified" is the second person's co-signature of a two-person action, on the form
    form = action_form("infuse", Role.NURSE, any_time=False)
    assert form.signature and form.meanings == ("administered",) and form.cosign == "required"
    assert not action_form("start_lymphodepletion", Role.NURSE, any_time=False).signature


def test_an_incident_log_reads_in_words() -> None:
    class Incident:
        at = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
        actor = "n.bernard"
        role = Role.NURSE

        def describe(self) -> str:
            return "refused thaw_product (IdentityMismatch): the bag is not this patient's"

    class WithLog:
        incidents = [Incident()]

    shown = incidents_of(WithLog())  # type: ignore[arg-type]
    assert shown == [{"at": Incident.at, "who": "n.bernard (nurse)",
                      "what": Incident().describe()}]  # fmt: skip
