"""Hospital sign-in: OpenID Connect ID tokens, with roles and centres mapped from groups.

The hospital's identity provider proves who the person is (its own password and MFA
policy); a mapping file says what its groups mean in cellpath::

    # signin-groups.yaml
    actor_claim: preferred_username     # the staff ID
    groups_claim: groups
    groups:
      CELLPATH-NURSES-A:  {roles: [nurse], centres: [centre-a]}
      CELLPATH-BINOME:    {roles: [ard_specialist], centres: [centre-a, centre-b]}

Usage::

    provider = OidcProvider(issuer=..., client_id=..., jwks=jwks_dict,
                            mapping=GroupMapping.load(path))
    url = provider.authorization_url(authorize_endpoint, redirect_uri, state=s, nonce=n,
                                     code_challenge=create_s256_code_challenge(verifier))
    identity, authenticated_at = provider.sign_in(id_token, nonce=n)   # after the code flow
    service.open_session(identity, authenticated_at=authenticated_at)

To sign a critical action, the person logs in again with the provider
(``authorization_url(..., reauthenticate=True)`` asks for ``prompt=login``, ``max_age=0``)
and the fresh ID token is the ``credential`` of ``AssertionService.assert_action``.

This module is pure, given the keys: fetching the provider's metadata and keys, exchanging
the code and the device flow are ``signin.hospital_login``'s and ``signin.device_login``'s.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from authlib.oauth2.rfc6749.parameters import prepare_grant_uri
from authlib.oidc.core import CodeIDToken
from joserfc import jwt
from joserfc.errors import JoseError
from joserfc.jwk import KeySet
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from models import yaml_files
from models.actor import StaffIdentity, to_numeric_date
from models.refusals import Refusal
from models.roles import Role
from models.signatures import REAUTHENTICATION_WINDOW

#: what a hospital provider may sign ID tokens with (never "none" or a shared secret)
ID_TOKEN_ALGORITHMS = ("RS256", "PS256", "ES256", "Ed25519", "EdDSA")
LEEWAY = timedelta(seconds=60)


class IdTokenRefused(Refusal):
    """The provider's answer cannot be trusted (signature, issuer, audience, time, nonce)."""


class NoCellpathAccess(Refusal):
    """Signed in at the hospital, but in no group the mapping gives a cellpath role."""


class GroupGrant(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    roles: tuple[Role, ...] = ()
    centres: tuple[str, ...] = ()


class GroupMapping(BaseModel):
    """Provider groups → cellpath roles and centres (a person gets the union of theirs)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    actor_claim: str = "preferred_username"
    name_claim: str = "name"
    groups_claim: str = "groups"
    groups: dict[str, GroupGrant] = Field(default_factory=dict)

    @classmethod
    def load(cls, path: Path) -> GroupMapping:
        try:
            data = yaml_files.safe_load(path.read_text(encoding="utf-8")) or {}
        except OSError as err:
            raise ValueError(f"cannot read the group mapping {path}: {err.strerror}") from None
        try:
            return cls.model_validate(data)
        except ValidationError as err:
            raise ValueError(f"{path}: {err}") from None

    def identity_from_claims(self, claims: Mapping[str, Any]) -> StaffIdentity:
        actor = claims.get(self.actor_claim) or claims.get("sub")
        groups = claims.get(self.groups_claim) or []
        if isinstance(groups, str):
            groups = [groups]
        roles: dict[Role, None] = {}
        centres: dict[str, None] = {}
        for group in groups:
            grant = self.groups.get(group)
            if grant:
                roles.update(dict.fromkeys(grant.roles))
                centres.update(dict.fromkeys(grant.centres))
        if not roles or not isinstance(actor, str):
            raise NoCellpathAccess(
                f"You are signed in at the hospital as {actor!r}, but none of your groups gives "
                "a role in cellpath: ask the programme lead to add you to the right group."
            )
        name = claims.get(self.name_claim)
        return StaffIdentity(
            actor=actor,
            name=name if isinstance(name, str) else "",
            roles=tuple(roles),
            centres=tuple(centres),
        )


class OidcProvider:
    """One hospital provider: verifies its ID tokens and maps them to staff identities."""

    def __init__(
        self,
        *,
        issuer: str,
        client_id: str,
        jwks: Mapping[str, Any],
        mapping: GroupMapping,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self.issuer = issuer
        self.client_id = client_id
        self.keys = KeySet.import_key_set(dict(jwks))  # type: ignore[arg-type]
        self.mapping = mapping
        self.clock = clock

    def authorization_url(
        self,
        authorize_endpoint: str,
        redirect_uri: str,
        *,
        state: str,
        nonce: str,
        code_challenge: str | None = None,
        reauthenticate: bool = False,
        login_hint: str | None = None,
    ) -> str:
        """Where to send the person's browser (authorization code flow; with PKCE when
        ``code_challenge`` is the S256 challenge of the verifier kept for the callback;
        ``login_hint``: whom the provider should ask, e.g. the named second person)."""
        extra: dict[str, Any] = {"nonce": nonce}
        if login_hint:
            extra["login_hint"] = login_hint
        if code_challenge:
            extra.update(code_challenge=code_challenge, code_challenge_method="S256")
        if reauthenticate:
            # Part 11 §11.200: each signing executes both components, so no single sign-on.
            extra.update(prompt="login", max_age=0)
        return prepare_grant_uri(
            authorize_endpoint,
            self.client_id,
            "code",
            redirect_uri=redirect_uri,
            scope="openid profile",
            state=state,
            **extra,
        )

    def verify_id_token(self, id_token: str, *, nonce: str | None = None) -> dict[str, Any]:
        """The claims of ``id_token`` if the provider signed it for us, now."""
        try:
            token = jwt.decode(id_token, self.keys, algorithms=list(ID_TOKEN_ALGORITHMS))
            claims = CodeIDToken(
                token.claims,
                token.header,
                options={
                    "iss": {"essential": True, "value": self.issuer},
                    "aud": {"essential": True, "value": self.client_id},
                },
                params={"nonce": nonce, "client_id": self.client_id},
            )
            claims.validate(now=to_numeric_date(self.clock()), leeway=int(LEEWAY.seconds))
        except (JoseError, ValueError) as err:
            raise IdTokenRefused(
                "The hospital sign-in could not be confirmed "
                f"({type(err).__name__}): sign in again."
            ) from None
        return dict(claims)

    def sign_in(self, id_token: str, *, nonce: str | None) -> tuple[StaffIdentity, datetime]:
        """Who the ID token names, in cellpath's terms, and when they authenticated
        (``nonce`` is None only for the device flow, which has none)."""
        claims = self.verify_id_token(id_token, nonce=nonce)
        when = claims.get("auth_time") or claims["iat"]
        return self.mapping.identity_from_claims(claims), datetime.fromtimestamp(when, UTC)

    def fresh_login(self, credential: str, now: datetime) -> tuple[StaffIdentity, datetime]:
        """Who logged in moments ago (``credential``: their fresh ID token), and when: the
        signer again, or the second person of a two-person action; a login older than
        ``REAUTHENTICATION_WINDOW`` (an open session reused, not a login) is refused."""
        claims = self.verify_id_token(credential)
        identity = self.mapping.identity_from_claims(claims)
        auth_time = claims.get("auth_time")
        authenticated = datetime.fromtimestamp(auth_time, UTC) if auth_time else None
        if authenticated is None or now - authenticated > REAUTHENTICATION_WINDOW:
            raise IdTokenRefused(
                "To sign, log in again with the hospital login (a session that is already "
                "open does not count)."
            )
        return identity, authenticated

    def reauthenticate(self, actor: str, credential: str, now: datetime) -> datetime:
        """Re-authentication for an electronic signature: ``credential`` is a fresh ID token
        of the same person, who logged in again moments ago."""
        claims = self.verify_id_token(credential)
        identity = self.mapping.identity_from_claims(claims)
        if identity.actor != actor:
            raise IdTokenRefused(
                f"The hospital login was for {identity.actor!r}, not {actor!r}: sign it yourself."
            )
        return self.fresh_login(credential, now)[1]
