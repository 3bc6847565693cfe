"""Signing in at the command line with the hospital's login: the OAuth 2.0 Device
Authorization Grant (RFC 8628).

``cellpath login --provider`` asks the provider for a user code, shows where to enter it
(on a phone or the ward computer's browser, where the provider's own MFA applies), then
polls the token endpoint at the interval the provider asks for — slower after
``slow_down``, giving up at ``expired_token``, ``access_denied`` or the code's expiry — and
checks the ID token it finally gets like the web app does (``signin.oidc``).

Usage::

    grant = start_device_login(login)                 # login: a HospitalLogin
    print(grant.verification_uri, grant.user_code)
    identity, authenticated_at, id_token = await_device_login(login, grant)
"""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from models.actor import StaffIdentity
from models.refusals import Refusal
from signin.hospital_login import HospitalLogin, TokenRefused
from signin.provider_http import ProviderUnavailable

DEVICE_GRANT = "urn:ietf:params:oauth:grant-type:device_code"
#: RFC 8628 §3.5: without an interval, 5 s; each ``slow_down`` adds 5 s
DEFAULT_INTERVAL = 5
SLOW_DOWN_STEP = 5


class DeviceLoginRefused(Refusal):
    """The device login was declined, expired, or cannot be had from this provider."""


class DeviceAuthorization(BaseModel):
    """The provider's answer to a device authorization request (RFC 8628 §3.2)."""

    model_config = ConfigDict(frozen=True, extra="ignore")

    device_code: str = Field(repr=False)
    user_code: str
    verification_uri: str
    verification_uri_complete: str | None = None
    expires_in: int = Field(gt=0)
    interval: int = Field(default=DEFAULT_INTERVAL, ge=0)


def start_device_login(login: HospitalLogin) -> DeviceAuthorization:
    """Ask the provider for a user code (scope ``openid profile``)."""
    endpoint = login.metadata().get("device_authorization_endpoint")
    if not isinstance(endpoint, str):
        raise DeviceLoginRefused(
            f"{login.name} does not offer sign-in from a terminal (no device authorization "
            "endpoint): sign in in the web app instead."
        )
    form = {"scope": "openid profile"}
    if login.client_auth is None:
        form["client_id"] = login.config.client_id
    status, answer = login.post(endpoint, form, auth=login.client_auth)
    try:
        if status != 200:
            raise ValueError(answer.get("error", status))
        return DeviceAuthorization.model_validate(answer)
    except (ValidationError, ValueError) as err:
        why = err if isinstance(err, ValueError) and not isinstance(err, ValidationError) else ""
        raise ProviderUnavailable(
            f"{login.name} did not start a device login{f' ({why})' if why else ''}."
        ) from None


def await_device_login(
    login: HospitalLogin,
    grant: DeviceAuthorization,
    *,
    sleep: Callable[[float], None] = time.sleep,
    monotonic: Callable[[], float] = time.monotonic,
) -> tuple[StaffIdentity, datetime, str]:
    """Poll until the person confirmed the code; who they are, when they authenticated, and
    the ID token (the credential of a signature, when it is fresh)."""
    interval = grant.interval
    deadline = monotonic() + grant.expires_in
    while True:
        if monotonic() >= deadline:
            raise _expired()
        sleep(interval)
        try:
            id_token = login.exchange(
                {"grant_type": DEVICE_GRANT, "device_code": grant.device_code}
            )
        except TokenRefused as refused:
            error = refused.error
            if error == "authorization_pending":
                continue
            if error == "slow_down":
                interval += SLOW_DOWN_STEP
                continue
            if error == "expired_token":
                raise _expired() from None
            if error == "access_denied":
                raise DeviceLoginRefused(
                    f"The sign-in was declined at {login.name}: nothing was signed in."
                ) from None
            raise
        identity, when = login.identity_of(id_token)
        return identity, when, id_token


def _expired() -> DeviceLoginRefused:
    return DeviceLoginRefused(
        "The code expired before it was confirmed: run `cellpath login --provider` again."
    )
