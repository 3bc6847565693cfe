"""A small but real OpenID Connect provider for tests: discovery, JWKS (a joserfc EC key),
authorize (auto-approves its one configured user), token (authorization code with PKCE,
and the device code grant) and device authorization, served by uvicorn on a free loopback
port in a thread.

Usage::

    with serving_provider(groups=["CELLPATH-NURSES-A"]) as idp:
        idp.issuer                          # http://127.0.0.1:<port>
        idp.groups = ["Everyone"]           # the next login is in no mapped group
        idp.forge = True                    # the next ID token is signed by a stranger's key
        idp.authorize_params                # what the last authorize request asked for
        idp.next_logins = [("dr.roux", ["CELLPATH-CTS-A"])]   # who logs in next, in turn

It checks what a real provider checks (client secret, redirect URI, single-use codes, the
PKCE verifier) so that a client that skips a step fails here too.
"""

from __future__ import annotations

import base64
import secrets
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Annotated, Any
from urllib.parse import urlencode

import uvicorn
from authlib.oauth2.rfc7636 import create_s256_code_challenge
from fastapi import FastAPI, Form, Request
from fastapi.responses import JSONResponse, RedirectResponse
from joserfc import jwt
from joserfc.jwk import ECKey

CLIENT_ID = "cellpath-web"
CLIENT_SECRET = "test-client-secret-not-for-production"
MAPPING = """
actor_claim: preferred_username
groups_claim: groups
groups:
  CELLPATH-NURSES-A: {roles: [nurse], centres: [centre-a]}
  CELLPATH-CTU:      {roles: [ctu_technician], centres: [centre-a, centre-b]}
  CELLPATH-ARD-A:    {roles: [ard_specialist], centres: [centre-a]}
  CELLPATH-CTS-A:    {roles: [cell_therapy_specialist], centres: [centre-a]}
"""


@dataclass
class _Device:
    user_code: str
    polls_pending: int
    slow_down: bool
    denied: bool


@dataclass
class LoopbackProvider:
    """The provider's state; the tests turn its knobs between requests."""

    issuer: str = ""
    username: str = "n.bernard"
    groups: list[str] = field(default_factory=lambda: ["CELLPATH-NURSES-A", "Everyone"])
    #: sign the next ID tokens with a key the provider does not publish
    forge: bool = False
    #: put another issuer in the next ID tokens
    foreign_issuer: str | None = None
    #: device flow: polls answered ``authorization_pending`` before the user confirms
    device_polls_pending: int = 1
    device_slow_down: bool = False
    device_denied: bool = False
    device_interval: int = 0
    key: ECKey = field(
        default_factory=lambda: ECKey.generate_key("P-256", parameters={"kid": "idp-1"})
    )
    stranger: ECKey = field(
        default_factory=lambda: ECKey.generate_key("P-256", parameters={"kid": "idp-1"})
    )
    authorize_params: dict[str, str] = field(default_factory=dict)
    #: the people who log in next (username, groups), one per login, before ``username``
    next_logins: list[tuple[str, list[str]]] = field(default_factory=list)
    logged_in_at: int | None = None
    _codes: dict[str, dict[str, Any]] = field(default_factory=dict)
    _devices: dict[str, _Device] = field(default_factory=dict)

    def who_logs_in(self) -> tuple[str, list[str]]:
        """The next person in ``next_logins``, else ``username`` in ``groups``."""
        if self.next_logins:
            return self.next_logins.pop(0)
        return self.username, list(self.groups)

    def id_token(
        self, *, nonce: str | None, auth_time: int, person: tuple[str, list[str]] | None = None
    ) -> str:
        now = int(time.time())
        username, groups = person or (self.username, list(self.groups))
        claims: dict[str, Any] = {
            "iss": self.foreign_issuer or self.issuer,
            "aud": CLIENT_ID,
            "sub": f"uid-{username}",
            "preferred_username": username,
            "name": "Nathalie Bernard" if username == "n.bernard" else username,
            "groups": list(groups),
            "iat": now,
            "exp": now + 300,
            "auth_time": auth_time,
        }
        if nonce is not None:
            claims["nonce"] = nonce
        key = self.stranger if self.forge else self.key
        return jwt.encode({"alg": "ES256", "kid": key.kid}, claims, key, algorithms=["ES256"])

    def app(self) -> FastAPI:
        app = FastAPI()

        @app.get("/.well-known/openid-configuration")
        async def discovery() -> dict[str, Any]:
            return {
                "issuer": self.issuer,
                "authorization_endpoint": f"{self.issuer}/authorize",
                "token_endpoint": f"{self.issuer}/token",
                "jwks_uri": f"{self.issuer}/jwks",
                "device_authorization_endpoint": f"{self.issuer}/device",
                "response_types_supported": ["code"],
                "code_challenge_methods_supported": ["S256"],
                "id_token_signing_alg_values_supported": ["ES256"],
            }

        @app.get("/jwks")
        async def jwks() -> dict[str, Any]:
            return {"keys": [self.key.as_dict(private=False)]}

        @app.get("/authorize")
        async def authorize(request: Request) -> Any:
            params = dict(request.query_params)
            self.authorize_params = params
            if (
                params.get("client_id") != CLIENT_ID
                or params.get("response_type") != "code"
                or params.get("code_challenge_method") != "S256"
                or not params.get("code_challenge")
                or not params.get("redirect_uri")
            ):
                return JSONResponse({"error": "invalid_request"}, status_code=400)
            now = int(time.time())
            if self.logged_in_at is None or params.get("prompt") == "login":
                self.logged_in_at = now  # the user typed their password (and MFA) now
            code = secrets.token_urlsafe(16)
            self._codes[code] = {
                **params,
                "auth_time": self.logged_in_at,
                "person": self.who_logs_in(),
            }
            query = urlencode({"code": code, "state": params.get("state", "")})
            return RedirectResponse(f"{params['redirect_uri']}?{query}", status_code=302)

        @app.post("/device")
        async def device(request: Request) -> Any:
            if not self._client_ok(request, dict(await request.form())):
                return JSONResponse({"error": "invalid_client"}, status_code=401)
            device_code = secrets.token_urlsafe(24)
            self._devices[device_code] = _Device(
                user_code="WDJB-MJHT",
                polls_pending=self.device_polls_pending,
                slow_down=self.device_slow_down,
                denied=self.device_denied,
            )
            return {
                "device_code": device_code,
                "user_code": "WDJB-MJHT",
                "verification_uri": f"{self.issuer}/activate",
                "verification_uri_complete": f"{self.issuer}/activate?user_code=WDJB-MJHT",
                "expires_in": 600,
                "interval": self.device_interval,
            }

        @app.post("/token")
        async def token(request: Request, grant_type: Annotated[str, Form()]) -> Any:
            form = dict(await request.form())
            if not self._client_ok(request, form):
                return JSONResponse({"error": "invalid_client"}, status_code=401)
            if grant_type == "authorization_code":
                return self._code_grant(form)
            if grant_type == "urn:ietf:params:oauth:grant-type:device_code":
                return self._device_grant(form)
            return JSONResponse({"error": "unsupported_grant_type"}, status_code=400)

        return app

    def _client_ok(self, request: Request, form: dict[str, Any]) -> bool:
        header = request.headers.get("authorization", "")
        if header.startswith("Basic "):
            pair = base64.b64decode(header[6:]).decode()
            return pair == f"{CLIENT_ID}:{CLIENT_SECRET}"
        return form.get("client_id") == CLIENT_ID and form.get("client_secret") == CLIENT_SECRET

    def _code_grant(self, form: dict[str, Any]) -> Any:
        issued = self._codes.pop(str(form.get("code")), None)  # single use
        verifier = str(form.get("code_verifier", ""))
        if (
            issued is None
            or form.get("redirect_uri") != issued["redirect_uri"]
            or create_s256_code_challenge(verifier) != issued["code_challenge"]
        ):
            return JSONResponse({"error": "invalid_grant"}, status_code=400)
        return self._tokens(
            nonce=issued.get("nonce"), auth_time=issued["auth_time"], person=issued["person"]
        )

    def _device_grant(self, form: dict[str, Any]) -> Any:
        device = self._devices.get(str(form.get("device_code")))
        if device is None:
            return JSONResponse({"error": "expired_token"}, status_code=400)
        if device.denied:
            return JSONResponse({"error": "access_denied"}, status_code=400)
        if device.slow_down:
            device.slow_down = False
            return JSONResponse({"error": "slow_down"}, status_code=400)
        if device.polls_pending > 0:
            device.polls_pending -= 1
            return JSONResponse({"error": "authorization_pending"}, status_code=400)
        del self._devices[str(form.get("device_code"))]
        return self._tokens(nonce=None, auth_time=int(time.time()), person=self.who_logs_in())

    def _tokens(
        self, *, nonce: str | None, auth_time: int, person: tuple[str, list[str]]
    ) -> dict[str, Any]:
        return {
            "access_token": secrets.token_urlsafe(16),
            "token_type": "Bearer",
            "expires_in": 300,
            "id_token": self.id_token(nonce=nonce, auth_time=auth_time, person=person),
        }


@contextmanager
def serving_provider(**knobs: Any) -> Iterator[LoopbackProvider]:
    """The provider on a free loopback port while the block runs."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    provider = LoopbackProvider(issuer=f"http://127.0.0.1:{sock.getsockname()[1]}", **knobs)
    server = uvicorn.Server(
        uvicorn.Config(provider.app(), log_level="warning", access_log=False, lifespan="off")
    )
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    try:
        deadline = time.monotonic() + 10
        while not server.started:  # a condition, polled; the deadline only bounds a failure
            if not thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError("the test OIDC provider did not start")
            thread.join(0.01)
        yield provider
    finally:
        server.should_exit = True
        thread.join(10)
        sock.close()
