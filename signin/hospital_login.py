"""Signing in with the hospital's identity provider: its discovery document and keys
fetched and cached, the authorization-code flow with PKCE, state and nonce, and the fresh
login an electronic signature needs.

``signin.oidc`` checks ID tokens and maps groups, given the keys; this module is the part
that talks to the provider (``signin.provider_http``). The web app uses ``start`` and
``finish``; ``cellpath login --provider`` uses the device flow (``signin.device_login``).

Usage::

    login = HospitalLogin(ProviderConfig.from_settings(settings))
    url, pending = login.start(redirect_uri)            # keep ``pending`` for the callback
    identity, authenticated_at, id_token = login.finish(code, pending, redirect_uri)
    url, pending = login.start(redirect_uri, reauthenticate=True)   # prompt=login, max_age=0
    login.reauthenticate(actor, fresh_id_token, now)    # the ``Authenticator`` of a signature
    url, pending = login.start(redirect_uri, cosign=held_id, login_hint="dr.roux")  # 2nd
    identity, authenticated_at = login.fresh_login(their_fresh_id_token, now)
"""

from __future__ import annotations

import dataclasses
import secrets
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any, TypeVar

from authlib.oauth2.rfc7636 import create_s256_code_challenge
from joserfc import jws
from joserfc.errors import JoseError
from pydantic import BaseModel, ConfigDict

from models.actor import StaffIdentity
from models.settings import Settings
from models.signin_policy import SignInPolicy
from signin.oidc import GroupMapping, IdTokenRefused, OidcProvider
from signin.provider_http import ProviderUnavailable, get_json, post_form

_NEEDED = ("issuer", "authorization_endpoint", "token_endpoint", "jwks_uri")
T = TypeVar("T")


@dataclasses.dataclass(frozen=True)
class ProviderConfig:
    """The provider as configured (``CELLPATH_OIDC_*``)."""

    issuer: str
    client_id: str
    client_secret: str | None = dataclasses.field(repr=False)
    mapping: GroupMapping
    name: str = "the hospital login"
    redirect_uri: str | None = None

    @classmethod
    def from_settings(cls, settings: Settings) -> ProviderConfig | None:
        """The configured provider, None when there is none; ``ValueError`` when half set."""
        if not settings.oidc_issuer:
            if settings.oidc_client_id or settings.oidc_groups:
                raise ValueError(
                    "CELLPATH_OIDC_CLIENT_ID/GROUPS are set without CELLPATH_OIDC_ISSUER"
                )
            return None
        if not settings.oidc_client_id or not settings.oidc_groups:
            raise ValueError(
                "CELLPATH_OIDC_ISSUER needs CELLPATH_OIDC_CLIENT_ID and CELLPATH_OIDC_GROUPS "
                "(the group mapping file): see docs/security.md"
            )
        secret = settings.oidc_client_secret
        return cls(
            issuer=settings.oidc_issuer,
            client_id=settings.oidc_client_id,
            client_secret=secret.get_secret_value() if secret else None,
            mapping=GroupMapping.load(settings.oidc_groups),
            name=settings.oidc_name,
            redirect_uri=settings.oidc_redirect_uri,
        )


class TokenRefused(IdTokenRefused):
    """The token endpoint gave no ID token; ``error`` is its OAuth error code."""

    def __init__(self, message: str, *, error: str):
        super().__init__(message)
        self.error = error


class PendingLogin(BaseModel):
    """What the callback needs from the start of a login (kept in a signed cookie)."""

    model_config = ConfigDict(frozen=True)

    state: str
    nonce: str
    verifier: str
    reauthenticate: bool = False
    #: the second person of a two-person action logs in to co-sign the action held under
    #: this ID (``web.held_actions``): no session is opened for them, the signer's stays
    cosign: str = ""
    #: where to go back to afterwards (a path of the web app)
    back: str = "/"


class HospitalLogin:
    """One provider: metadata and keys fetched once (keys again when they rotate)."""

    def __init__(
        self,
        config: ProviderConfig,
        *,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
        policy: SignInPolicy | None = None,
        get: Callable[[str], dict[str, Any]] = get_json,
        post: Callable[..., tuple[int, dict[str, Any]]] = post_form,
    ) -> None:
        self.config = config
        self.clock = clock
        self.policy = policy or SignInPolicy()
        self.get = get
        self.post = post
        self._lock = threading.Lock()
        self._metadata: dict[str, Any] | None = None
        self._verifier: OidcProvider | None = None
        self._keys_fetched = 0.0

    @property
    def name(self) -> str:
        return self.config.name

    @property
    def client_auth(self) -> tuple[str, str] | None:
        secret = self.config.client_secret
        return (self.config.client_id, secret) if secret else None

    def metadata(self) -> dict[str, Any]:
        """The provider's discovery document (fetched once)."""
        with self._lock:
            if self._metadata is None:
                url = self.config.issuer.rstrip("/") + "/.well-known/openid-configuration"
                found = self.get(url)
                missing = [k for k in _NEEDED if not isinstance(found.get(k), str)]
                if missing:
                    raise ProviderUnavailable(
                        f"The hospital login's discovery document lacks {', '.join(missing)}."
                    )
                if found["issuer"] != self.config.issuer:
                    raise ProviderUnavailable(
                        f"The hospital login says it is {found['issuer']!r}, not the configured "
                        f"{self.config.issuer!r}: check CELLPATH_OIDC_ISSUER."
                    )
                self._metadata = found
            return self._metadata

    def _provider(self, *, refresh: bool = False) -> OidcProvider:
        metadata = self.metadata()
        with self._lock:
            if self._verifier is None or refresh:
                self._verifier = OidcProvider(
                    issuer=self.config.issuer,
                    client_id=self.config.client_id,
                    jwks=self.get(metadata["jwks_uri"]),
                    mapping=self.config.mapping,
                    clock=self.clock,
                )
                self._keys_fetched = time.monotonic()
            return self._verifier

    def _verified(self, id_token: str, check: Callable[[OidcProvider], T]) -> T:
        """``check`` with the provider's keys; once more with fresh keys when the token
        names a key we do not have (the provider rotated its keys)."""
        provider = self._provider()
        try:
            return check(provider)
        except IdTokenRefused:
            if not self._names_unknown_key(provider, id_token):
                raise
            refetch_after = self.policy.provider_keys_refetch_after.total_seconds()
            if time.monotonic() - self._keys_fetched < refetch_after:
                raise
            return check(self._provider(refresh=True))

    @staticmethod
    def _names_unknown_key(provider: OidcProvider, id_token: str) -> bool:
        try:
            kid = jws.extract_compact(id_token.encode("ascii")).headers().get("kid")
        except (JoseError, ValueError, UnicodeError):
            return False
        return bool(kid) and all(key.kid != kid for key in provider.keys.keys)

    def start(
        self,
        redirect_uri: str,
        *,
        reauthenticate: bool = False,
        back: str = "/",
        cosign: str = "",
        login_hint: str | None = None,
    ) -> tuple[str, PendingLogin]:
        """Where to send the browser, and what to keep for the callback; ``cosign``: the
        second person of a two-person action logs in to co-sign the action held under this
        ID (always a forced login), ``login_hint`` the person the provider should ask for."""
        pending = PendingLogin(
            state=secrets.token_urlsafe(24),
            nonce=secrets.token_urlsafe(24),
            verifier=secrets.token_urlsafe(48),
            reauthenticate=reauthenticate or bool(cosign),
            cosign=cosign,
            back=back,
        )
        url = self._provider().authorization_url(
            self.metadata()["authorization_endpoint"],
            redirect_uri,
            state=pending.state,
            nonce=pending.nonce,
            code_challenge=create_s256_code_challenge(pending.verifier),
            reauthenticate=pending.reauthenticate,
            login_hint=login_hint,
        )
        return url, pending

    def exchange(self, form: dict[str, str]) -> str:
        """The ID token the token endpoint gives for ``form`` (a code, or a device code)."""
        if self.client_auth is None:
            form = {**form, "client_id": self.config.client_id}
        status, answer = self.post(self.metadata()["token_endpoint"], form, auth=self.client_auth)
        token = answer.get("id_token")
        if status != 200 or not isinstance(token, str):
            error = str(answer.get("error", status))
            raise TokenRefused(
                f"The hospital login did not complete ({error}): sign in again.", error=error
            )
        return token

    def finish(
        self, code: str, pending: PendingLogin, redirect_uri: str
    ) -> tuple[StaffIdentity, datetime, str]:
        """After the callback: the person, when they authenticated, and their ID token."""
        id_token = self.exchange(
            {
                "grant_type": "authorization_code",
                "code": code,
                "redirect_uri": redirect_uri,
                "code_verifier": pending.verifier,
            }
        )
        identity, when = self._verified(
            id_token, lambda provider: provider.sign_in(id_token, nonce=pending.nonce)
        )
        return identity, when, id_token

    def identity_of(self, id_token: str) -> tuple[StaffIdentity, datetime]:
        """The person an ID token without nonce names (the device flow's)."""
        return self._verified(id_token, lambda provider: provider.sign_in(id_token, nonce=None))

    def fresh_login(self, credential: str, now: datetime) -> tuple[StaffIdentity, datetime]:
        """Who logged in moments ago with ``credential`` (a fresh ID token), and when."""
        return self._verified(credential, lambda provider: provider.fresh_login(credential, now))

    def reauthenticate(self, actor: str, credential: str, now: datetime) -> datetime:
        """A signature's re-authentication: ``credential`` is a fresh ID token of ``actor``."""
        return self._verified(
            credential, lambda provider: provider.reauthenticate(actor, credential, now)
        )
