"""Talking to the hospital's identity provider over HTTP: JSON documents (discovery, keys)
and form posts (the token and device endpoints), with the standard library only.

Usage::

    metadata = get_json(f"{issuer}/.well-known/openid-configuration")
    status, answer = post_form(token_endpoint, {"grant_type": ...}, auth=(client_id, secret))

Only ``https://`` addresses are used, except a loopback ``http://`` one (a provider on this
machine: the tests', a developer's). Nothing here logs: the answers carry tokens.
"""

from __future__ import annotations

import base64
import json
import urllib.error
import urllib.parse
import urllib.request
from typing import Any

from models.refusals import Refusal

TIMEOUT_SECONDS = 10
_LOOPBACK = {"127.0.0.1", "localhost", "::1"}


class ProviderUnavailable(Refusal):
    """The hospital login cannot be reached, or answered something that is not OIDC."""


def _checked(url: str) -> str:
    parts = urllib.parse.urlsplit(url)
    if parts.scheme == "https" or (parts.scheme == "http" and parts.hostname in _LOOPBACK):
        return url
    raise ProviderUnavailable(
        f"The hospital login's address {url!r} is not https: cellpath does not send sign-ins "
        "over plain http (except to this machine)."
    )


def _unreachable(url: str, why: object) -> ProviderUnavailable:
    host = urllib.parse.urlsplit(url).netloc
    return ProviderUnavailable(
        f"The hospital login ({host}) cannot be reached ({why}): try again in a moment."
    )


def _document(body: bytes, url: str) -> dict[str, Any]:
    try:
        data = json.loads(body)
    except ValueError:
        data = None
    if not isinstance(data, dict):
        raise _unreachable(url, "its answer is not a JSON object")
    return data


def get_json(url: str, *, timeout: float = TIMEOUT_SECONDS) -> dict[str, Any]:
    """The JSON object at ``url``."""
    request = urllib.request.Request(_checked(url), headers={"Accept": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=timeout) as answer:  # noqa: S310 (checked)
            return _document(answer.read(), url)
    except urllib.error.HTTPError as err:
        raise _unreachable(url, f"HTTP {err.code}") from None
    except (urllib.error.URLError, OSError) as err:
        raise _unreachable(url, getattr(err, "reason", err)) from None


def post_form(
    url: str,
    form: dict[str, str],
    *,
    auth: tuple[str, str] | None = None,
    timeout: float = TIMEOUT_SECONDS,
) -> tuple[int, dict[str, Any]]:
    """POST ``form`` (client_secret_basic with ``auth``); the status and the JSON answer
    (an OAuth error answer, 400 or 401, is returned, not raised)."""
    headers = {
        "Accept": "application/json",
        "Content-Type": "application/x-www-form-urlencoded",
    }
    if auth is not None:
        pair = ":".join(urllib.parse.quote(part, safe="") for part in auth)
        headers["Authorization"] = "Basic " + base64.b64encode(pair.encode()).decode("ascii")
    body = urllib.parse.urlencode(form).encode("ascii")
    request = urllib.request.Request(_checked(url), data=body, headers=headers, method="POST")
    try:
        with urllib.request.urlopen(request, timeout=timeout) as answer:  # noqa: S310 (checked)
            return answer.status, _document(answer.read(), url)
    except urllib.error.HTTPError as err:
        if err.code in (400, 401, 403):
            return err.code, _document(err.read(), url)
        raise _unreachable(url, f"HTTP {err.code}") from None
    except (urllib.error.URLError, OSError) as err:
        raise _unreachable(url, getattr(err, "reason", err)) from None
