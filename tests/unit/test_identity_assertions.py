"""Actor assertions are refused, with a reason, unless signed by a trusted key for this very
action: missing, forged, expired, not yet valid, for another pathway or action, replayed."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from models.actor import (
    ASSERTION_TYPE,
    ISSUER,
    AssertionExpired,
    AssertionForAnotherAction,
    AssertionForAnotherPathway,
    AssertionForged,
    AssertionMissing,
    AssertionNotYetValid,
    AssertionReplayed,
    ReauthenticationRequired,
    to_numeric_date,
    verify_assertion,
)
from models.actor_keys import ActorKeyConfigError, ActorKeyRing
from models.refusals import Outcome, Refusal
from models.roles import Role
from signin.keys import SigningKeys

NOW = datetime(2026, 12, 1, 10, 0, tzinfo=UTC)
PATHWAY = "pathway-centre-a-LUP-001"


def claims(**changes: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "iss": ISSUER,
        "sub": "n.bernard",
        "name": "Nathalie Bernard",
        "roles": ["nurse"],
        "centres": ["centre-a"],
        "iat": to_numeric_date(NOW - timedelta(seconds=5)),
        "exp": to_numeric_date(NOW + timedelta(minutes=2)),
        "pathway": PATHWAY,
        "action": "start_lymphodepletion",
        "update": "upd-1",
    }
    base.update(changes)
    return {k: v for k, v in base.items() if v is not None}


def verify(token: str | None, ring: ActorKeyRing, **kw: Any) -> Any:
    args: dict[str, Any] = {
        "pathway_id": PATHWAY,
        "action": "start_lymphodepletion",
        "update_id": "upd-1",
        "now": NOW,
    }
    args.update(kw)
    return verify_assertion(token, ring, **args)


@pytest.fixture(scope="module")
def keys() -> SigningKeys:
    return SigningKeys.generate("k2026")


@pytest.fixture(scope="module")
def ring(keys: SigningKeys) -> ActorKeyRing:
    return keys.public_ring()


class TestAGoodAssertion:
    """A well-formed assertion proves who, in which roles and centres."""

    def test_verifies_to_the_signed_identity(self, keys: SigningKeys, ring: ActorKeyRing):
        actor = verify(keys.sign(ASSERTION_TYPE, claims()), ring)
        assert actor.actor == "n.bernard"
        assert actor.roles == (Role.NURSE,)
        assert actor.centres == ("centre-a",)
        assert actor.key_id == "k2026"
        assert actor.update_id == "upd-1"

    def test_a_rotated_key_still_verifies_while_listed(self, keys: SigningKeys):
        new = SigningKeys.generate("k2027")
        both = ActorKeyRing({**new.public_ring().keys, **keys.public_ring().keys}, "k2027")
        assert verify(keys.sign(ASSERTION_TYPE, claims()), both).key_id == "k2026"
        assert verify(new.sign(ASSERTION_TYPE, claims()), both).key_id == "k2027"
        with pytest.raises(AssertionForged, match="does not trust"):
            verify(keys.sign(ASSERTION_TYPE, claims()), new.public_ring())

    def test_the_ring_round_trips_through_its_spec(self, ring: ActorKeyRing):
        assert ActorKeyRing.parse(ring.to_spec()).keys == ring.keys
        with pytest.raises(ActorKeyConfigError, match="32"):
            ActorKeyRing.parse("k:AAAA")


class TestRefusals:
    """Each way of being wrong has its own rule and a message that says what to do."""

    def test_missing(self, ring: ActorKeyRing):
        for token in (None, "", "  "):
            with pytest.raises(AssertionMissing, match="sign in") as err:
                verify(token, ring)
        assert err.value.outcome is Outcome.BAD_INPUT

    def test_signed_by_an_unknown_key(self, ring: ActorKeyRing):
        stranger = SigningKeys.generate("k2026")  # same key ID, another key
        with pytest.raises(AssertionForged, match="signature does not match"):
            verify(stranger.sign(ASSERTION_TYPE, claims()), ring)

    def test_altered_after_signing(self, keys: SigningKeys, ring: ActorKeyRing):
        other = keys.sign(ASSERTION_TYPE, claims(roles=["pharmacist"]))
        header, _, sig = keys.sign(ASSERTION_TYPE, claims()).split(".")
        tampered = f"{header}.{other.split('.')[1]}.{sig}"
        with pytest.raises(AssertionForged):
            verify(tampered, ring)

    @pytest.mark.parametrize("token", ["garbage", "a.b.c", "x" * 9000])
    def test_unreadable(self, token: str, ring: ActorKeyRing):
        with pytest.raises(AssertionForged):
            verify(token, ring)

    def test_a_session_token_is_not_an_assertion(self, keys: SigningKeys, ring: ActorKeyRing):
        with pytest.raises(AssertionForged, match="not an actor assertion"):
            verify(keys.sign("cellpath-session+jwt", claims()), ring)

    def test_another_issuer(self, keys: SigningKeys, ring: ActorKeyRing):
        with pytest.raises(AssertionForged, match="issued by"):
            verify(keys.sign(ASSERTION_TYPE, claims(iss="elsewhere")), ring)

    def test_an_unknown_role(self, keys: SigningKeys, ring: ActorKeyRing):
        with pytest.raises(AssertionForged):
            verify(keys.sign(ASSERTION_TYPE, claims(roles=["surgeon"])), ring)

    def test_expired(self, keys: SigningKeys, ring: ActorKeyRing):
        token = keys.sign(ASSERTION_TYPE, claims(exp=to_numeric_date(NOW - timedelta(minutes=3))))
        with pytest.raises(AssertionExpired, match="expired 3 min ago"):
            verify(token, ring)

    def test_not_yet_valid(self, keys: SigningKeys, ring: ActorKeyRing):
        later = NOW + timedelta(minutes=5)
        token = keys.sign(
            ASSERTION_TYPE,
            claims(iat=to_numeric_date(later), exp=to_numeric_date(later + timedelta(minutes=2))),
        )
        with pytest.raises(AssertionNotYetValid, match="future"):
            verify(token, ring)

    def test_small_clock_skew_is_tolerated(self, keys: SigningKeys, ring: ActorKeyRing):
        token = keys.sign(ASSERTION_TYPE, claims(iat=to_numeric_date(NOW + timedelta(seconds=10))))
        assert verify(token, ring).actor == "n.bernard"

    def test_too_long_lived(self, keys: SigningKeys, ring: ActorKeyRing):
        token = keys.sign(ASSERTION_TYPE, claims(exp=to_numeric_date(NOW + timedelta(days=1))))
        with pytest.raises(AssertionForged, match="longer"):
            verify(token, ring)

    def test_for_another_pathway(self, keys: SigningKeys, ring: ActorKeyRing):
        token = keys.sign(ASSERTION_TYPE, claims(pathway="pathway-centre-a-LUP-002"))
        with pytest.raises(AssertionForAnotherPathway, match="LUP-002"):
            verify(token, ring)

    def test_for_another_action(self, keys: SigningKeys, ring: ActorKeyRing):
        token = keys.sign(ASSERTION_TYPE, claims(action="record_consent"))
        with pytest.raises(AssertionForAnotherAction, match="record_consent"):
            verify(token, ring)

    def test_replayed_under_another_update_id(self, keys: SigningKeys, ring: ActorKeyRing):
        token = keys.sign(ASSERTION_TYPE, claims())
        verify(token, ring, update_id="upd-1")
        with pytest.raises(AssertionReplayed) as err:
            verify(token, ring, update_id="upd-2")
        assert isinstance(err.value, Refusal)
        assert err.value.rule == "AssertionReplayed"


class TestElectronicSignatures:
    """A critical action needs a meaning and a password entered just before signing."""

    def signed(self, keys: SigningKeys, **changes: Any) -> str:
        return keys.sign(ASSERTION_TYPE, claims(action="infuse", **changes))

    def test_with_meaning_and_fresh_password(self, keys: SigningKeys, ring: ActorKeyRing):
        token = self.signed(
            keys, meaning="administered", auth_time=to_numeric_date(NOW - timedelta(seconds=20))
        )
        actor = verify(token, ring, action="infuse")
        assert actor.meaning == "administered"
        assert actor.authenticated_at is not None

    def test_without_re_authentication(self, keys: SigningKeys, ring: ActorKeyRing):
        with pytest.raises(ReauthenticationRequired, match="password"):
            verify(self.signed(keys, meaning="administered"), ring, action="infuse")

    def test_with_a_stale_password(self, keys: SigningKeys, ring: ActorKeyRing):
        stale = to_numeric_date(NOW - timedelta(hours=2))
        token = self.signed(keys, meaning="administered", auth_time=stale)
        with pytest.raises(ReauthenticationRequired):
            verify(token, ring, action="infuse")

    def test_with_a_meaning_this_action_cannot_have(self, keys: SigningKeys, ring: ActorKeyRing):
        token = self.signed(keys, meaning="approved", auth_time=to_numeric_date(NOW))
        with pytest.raises(ReauthenticationRequired, match="administered"):
            verify(token, ring, action="infuse")
