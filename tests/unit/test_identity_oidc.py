"""Hospital sign-in without a network: ID tokens signed by a test provider key are checked
(signature, issuer, audience, time, nonce) and their groups mapped to roles and centres."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from joserfc import jwt
from joserfc.jwk import RSAKey

from models.actor import to_numeric_date, verify_assertion
from models.roles import Role
from signin.keys import SigningKeys
from signin.oidc import GroupMapping, IdTokenRefused, NoCellpathAccess, OidcProvider
from signin.service import AssertionService

ISSUER = "https://idp.hospital.test/realms/staff"
CLIENT = "cellpath"
NOW = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)
MAPPING = """
actor_claim: preferred_username
groups:
  CELLPATH-NURSES-A: {roles: [nurse], centres: [centre-a]}
  CELLPATH-NURSES-B: {roles: [nurse], centres: [centre-b]}
  CELLPATH-CTU: {roles: [ctu_technician], centres: [centre-a]}
"""


@pytest.fixture(scope="module")
def provider_key() -> RSAKey:
    return RSAKey.generate_key(2048, parameters={"kid": "idp-1"})


@pytest.fixture
def provider(provider_key: RSAKey, tmp_path: Path) -> OidcProvider:
    (tmp_path / "groups.yaml").write_text(MAPPING)
    return OidcProvider(
        issuer=ISSUER,
        client_id=CLIENT,
        jwks={"keys": [provider_key.as_dict(private=False)]},
        mapping=GroupMapping.load(tmp_path / "groups.yaml"),
        clock=lambda: NOW,
    )


def id_token(key: RSAKey, **changes: Any) -> str:
    claims: dict[str, Any] = {
        "iss": ISSUER,
        "aud": CLIENT,
        "sub": "5f1c-uuid",
        "preferred_username": "n.bernard",
        "name": "Nathalie Bernard",
        "groups": ["CELLPATH-NURSES-A", "CELLPATH-NURSES-B", "Everyone"],
        "iat": to_numeric_date(NOW - timedelta(seconds=10)),
        "exp": to_numeric_date(NOW + timedelta(minutes=5)),
        "auth_time": to_numeric_date(NOW - timedelta(seconds=10)),
        "nonce": "n-1",
    }
    claims.update(changes)
    return jwt.encode({"alg": "RS256", "kid": key.kid}, claims, key, algorithms=["RS256"])


class TestIdTokens:
    """Only a token the provider signed, for us, now, with our nonce, is accepted."""

    def test_groups_map_to_roles_and_centres(self, provider: OidcProvider, provider_key: RSAKey):
        identity, when = provider.sign_in(id_token(provider_key), nonce="n-1")
        assert identity.actor == "n.bernard"
        assert identity.roles == (Role.NURSE,)
        assert identity.centres == ("centre-a", "centre-b")
        assert when == NOW - timedelta(seconds=10)

    @pytest.mark.parametrize(
        "changes",
        [
            {"iss": "https://evil.test"},
            {"aud": "another-app"},
            {"exp": to_numeric_date(NOW - timedelta(minutes=5))},
            {"nonce": "n-2"},
        ],
        ids=["issuer", "audience", "expired", "nonce"],
    )
    def test_wrong_claims_are_refused(
        self, changes: dict[str, Any], provider: OidcProvider, provider_key: RSAKey
    ):
        with pytest.raises(IdTokenRefused, match="sign in again"):
            provider.sign_in(id_token(provider_key, **changes), nonce="n-1")

    def test_a_token_signed_by_another_key_is_refused(self, provider: OidcProvider):
        impostor = RSAKey.generate_key(2048, parameters={"kid": "idp-1"})
        with pytest.raises(IdTokenRefused):
            provider.sign_in(id_token(impostor), nonce="n-1")

    def test_no_mapped_group_means_no_access(self, provider: OidcProvider, provider_key: RSAKey):
        with pytest.raises(NoCellpathAccess, match="none of your groups"):
            provider.sign_in(id_token(provider_key, groups=["Everyone"]), nonce="n-1")

    def test_re_authentication_asks_for_a_fresh_login(self, provider: OidcProvider):
        url = provider.authorization_url(
            "https://idp.hospital.test/auth",
            "https://cellpath.test/cb",
            state="s",
            nonce="n",
            reauthenticate=True,
        )
        query = parse_qs(urlsplit(url).query)
        assert query["prompt"] == ["login"]
        assert query["max_age"] == ["0"]
        assert query["client_id"] == [CLIENT]


class TestSigningWithTheProvider:
    """A critical action is signed with a fresh provider login of the same person."""

    def test_fresh_login_signs_and_an_old_one_does_not(
        self, provider: OidcProvider, provider_key: RSAKey
    ):
        service = AssertionService(
            SigningKeys.generate("k1"), authenticator=provider, clock=lambda: NOW
        )
        identity, when = provider.sign_in(id_token(provider_key), nonce="n-1")
        session = service.open_session(identity, authenticated_at=when)
        ask = {"pathway_id": "pathway-centre-a-LUP-001", "action": "infuse", "update_id": "u"}
        old = id_token(provider_key, auth_time=to_numeric_date(NOW - timedelta(hours=3)))
        with pytest.raises(IdTokenRefused, match="log in again"):
            service.assert_action(session.token, credential=old, **ask)
        other = id_token(provider_key, preferred_username="t.moreau", groups=["CELLPATH-CTU"])
        with pytest.raises(IdTokenRefused, match="not 'n.bernard'"):
            service.assert_action(session.token, credential=other, **ask)
        token = service.assert_action(session.token, credential=id_token(provider_key), **ask)
        actor = verify_assertion(token, service.keys.public_ring(), now=NOW, **ask)
        assert (actor.actor, actor.meaning) == ("n.bernard", "administered")
