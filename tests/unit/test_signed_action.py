"""The verified signer and the typed action: who may send it, and what the audit keeps.

``check_sender`` refuses a typed actor or role that is not the signer's, ``check_signer_named``
a two-person action whose signer is not one of the people it names; ``signed_claims`` reads
back the claims of a token (handlers, replay) and never raises; ``trusted_signers`` is the
per-queue switch that turns checking on; a service account signs and re-signs in."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from argon2 import PasswordHasher
from argon2.profiles import CHEAPEST

from models.actions import parse_action
from models.actor import verify_assertion
from models.signed_action import (
    RoleNotHeld,
    SignedForSomeoneElse,
    SignerNotNamed,
    check_sender,
    check_signer_named,
    signed_claims,
)
from models.trusted_signers import trust_signers, trusted_signers
from signin.accounts import demo_accounts
from signin.keys import SigningKeys
from signin.service import AssertionService
from signin.service_accounts import service_account

PATHWAY = "pathway-centre-a-LUP-001"
MDTM = {"ard_specialist": "dr.martin", "cell_therapy_specialist": "dr.roux"}


@pytest.fixture(scope="module")
def signed() -> tuple[AssertionService, dict[str, str]]:
    book, passwords = demo_accounts(hasher=PasswordHasher.from_parameters(CHEAPEST))
    return AssertionService(SigningKeys.generate("k1"), authenticator=book), passwords


def verified_as(service: AssertionService, password: str, actor: str, event: str):
    signer = service_account(service, actor, password)
    token = signer.assertion_for(pathway_id=PATHWAY, event=event, update_id="u-1")
    return token, verify_assertion(
        token,
        service.keys.public_ring(),
        pathway_id=PATHWAY,
        action=event,
        update_id="u-1",
        now=datetime.now(UTC),
    )


class TestSender:
    """The typed actor and role must be the signer's."""

    def test_the_signer_in_their_role_passes(self, signed) -> None:
        service, passwords = signed
        _, verified = verified_as(service, passwords["dr.martin"], "dr.martin", "record_consent")
        action = parse_action("record_consent", {"actor": "Dr.Martin", "role": "ard_specialist"})
        check_sender(action, verified)  # case does not make another person

    def test_someone_else_is_refused(self, signed) -> None:
        service, passwords = signed
        _, verified = verified_as(service, passwords["dr.roux"], "dr.roux", "record_consent")
        action = parse_action("record_consent", {"actor": "dr.martin", "role": "ard_specialist"})
        with pytest.raises(SignedForSomeoneElse, match="signed by dr.roux"):
            check_sender(action, verified)

    def test_a_role_not_held_is_refused(self, signed) -> None:
        service, passwords = signed
        _, verified = verified_as(service, passwords["n.bernard"], "n.bernard", "record_fever")
        action = parse_action(
            "record_fever", {"actor": "n.bernard", "role": "programme_lead", "temperature_c": 39}
        )
        with pytest.raises(RoleNotHeld, match="not as programme lead"):
            check_sender(action, verified)

    def test_a_two_person_action_is_signed_by_one_of_the_two(self, signed) -> None:
        service, passwords = signed
        _, verified = verified_as(service, passwords["dr.martin"], "dr.martin", "approve_at_mdtm")
        action = parse_action(
            "approve_at_mdtm", {"actor": "dr.martin", "role": "ard_specialist", **MDTM}
        )
        check_signer_named(action, verified)
        other = action.model_copy(update={"cell_therapy_specialist": "dr.blanc"})
        check_signer_named(other, verified)
        neither = action.model_copy(update={"ard_specialist": "dr.noir"})
        with pytest.raises(SignerNotNamed):
            check_signer_named(neither, verified)

    def test_the_bedside_check_is_signed_by_one_of_the_checkers(self, signed) -> None:
        service, passwords = signed
        _, verified = verified_as(service, passwords["n.bernard"], "n.bernard", "infuse")
        data = {"actor": "n.bernard", "role": "nurse", "bag_coi_id": "COI-1"}
        check_signer_named(
            parse_action("infuse", {**data, "checked_by": ["n.bernard", "dr.roux"]}), verified
        )
        with pytest.raises(SignerNotNamed):
            check_signer_named(
                parse_action("infuse", {**data, "checked_by": ["a.b", "c.d"]}), verified
            )


class TestSignedClaims:
    """What a handler reads back from the payload, without any key."""

    def test_reads_the_verified_claims(self, signed) -> None:
        service, passwords = signed
        token, verified = verified_as(
            service, passwords["dr.martin"], "dr.martin", "approve_at_mdtm"
        )
        claims = signed_claims(token)
        assert claims is not None
        assert (claims.sub, claims.meaning, claims.update) == ("dr.martin", "approved", "u-1")
        assert verified.meaning == "approved"

    @pytest.mark.parametrize("token", [None, "", "x", "a.b.c", "a.!!!.c", "a.e30.c"])
    def test_unreadable_is_none(self, token: str | None) -> None:
        assert signed_claims(token) is None


def test_a_queue_with_a_ring_checks_and_one_without_does_not() -> None:
    ring = SigningKeys.generate("k9").public_ring()
    trust_signers("tq-unit-identity", ring)
    assert trusted_signers("tq-unit-identity") is ring
    trust_signers("tq-unit-identity", None)
    assert trusted_signers("tq-unit-identity") is None


def test_a_service_account_signs_in_again_when_its_session_ends(signed) -> None:
    service, passwords = signed
    now = [datetime.now(UTC)]
    timed = AssertionService(
        service.keys, authenticator=service.authenticator, clock=lambda: now[0]
    )
    signer = service_account(timed, "n.bernard", passwords["n.bernard"])
    first = signer.session.token
    now[0] += timedelta(minutes=29)
    signer.assertion_for(pathway_id=PATHWAY, event="record_fever", update_id="u-2")
    assert signer.session.token != first
