"""The webhook channel: each escalation POSTed as JSON to one URL.

Usage::

    channel = WebhookChannel("https://hooks.hospital.example/cellpath", token="…")
    await channel.deliver(escalation)

For a chat bridge, paging service or ticketing system. The receiver deduplicates on the
``Idempotency-Key`` header. urllib blocks, so the request runs in a thread; cancelling the
activity does not recall a request already sent (``timeout`` bounds it).
"""

from __future__ import annotations

import asyncio
import http.client
import json
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from email.utils import parsedate_to_datetime
from typing import Any

import structlog
from temporalio import activity
from temporalio.exceptions import ApplicationError

from activities.channels import one_line, rejected, undelivered
from models.notifications import Escalation

log = structlog.get_logger("cellpath.notifications")


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    # urllib turns a redirected POST into a GET without the body: a "success" that
    # delivered nothing. A redirect is refused instead, and reported.
    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None


class WebhookChannel:
    """POSTs each escalation as JSON to one URL (chat bridge, paging service, ticketing).

    The body is the escalation (``model_dump(mode="json")``) plus ``text`` and
    ``idempotency_key``; the key is also sent as the ``Idempotency-Key`` header. Any 2xx
    is delivered. Redirects are not followed; 4xx other than 408/429 is not retried.
    """

    name = "webhook"

    def __init__(
        self,
        url: str,
        *,
        timeout: float = 10.0,
        token: str | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        parts = urllib.parse.urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError("webhook URL must look like https://host/path")
        if timeout <= 0:
            raise ValueError(f"webhook timeout must be positive, got {timeout}")
        extra = dict(headers or {})
        for key, value in extra.items():
            if any(c in key + value for c in "\r\n") or not key.strip():
                raise ValueError(f"webhook header {key!r} is empty or contains a line break")
        self.url = url
        self.timeout = timeout
        # Webhook paths and queries often carry a secret: messages and logs show the origin.
        self.target = _origin(url)
        self._headers = {
            "Content-Type": "application/json",
            "Accept": "application/json, */*;q=0.5",
            "User-Agent": "cellpath-notifications",
            **extra,
        }
        if token:
            self._headers["Authorization"] = f"Bearer {token}"
        self._opener = urllib.request.build_opener(_NoRedirect())
        if parts.scheme == "http" and parts.hostname not in ("127.0.0.1", "localhost", "::1"):
            log.warning("webhook URL is not https; escalations travel in clear", target=self.target)

    @staticmethod
    def body(escalation: Escalation) -> dict[str, Any]:
        body = escalation.model_dump(mode="json")
        body["text"] = escalation.text()
        body["idempotency_key"] = escalation.idempotency_key
        return body

    async def deliver(self, escalation: Escalation) -> None:
        request = urllib.request.Request(
            self.url,
            data=json.dumps(self.body(escalation)).encode(),
            headers={**self._headers, "Idempotency-Key": escalation.idempotency_key},
            method="POST",
        )
        await asyncio.to_thread(self._post, request, _retry_after_cap())

    def _post(self, request: urllib.request.Request, cap: timedelta) -> None:
        try:
            with self._opener.open(request, timeout=self.timeout) as response:
                response.read(64 * 1024)
        except urllib.error.HTTPError as err:
            try:
                raise self._refusal(err, cap) from None
            finally:
                err.close()
        except (urllib.error.URLError, OSError, http.client.HTTPException) as err:
            reason = err.reason if isinstance(err, urllib.error.URLError) else err
            raise undelivered(
                f"webhook {self.target} unreachable: {one_line(str(reason)) or type(reason).__name__}"
            ) from err

    def _refusal(self, err: urllib.error.HTTPError, cap: timedelta) -> ApplicationError:
        status = err.code
        try:
            said = one_line(err.read(1024).decode("utf-8", "replace"))[:200]
        except (OSError, http.client.HTTPException):
            said = ""
        answer = f"webhook {self.target} answered {status} {err.reason}" + (
            f": {said}" if said else ""
        )
        if 300 <= status < 400:
            where = _origin(_header(err, "Location") or "") or "elsewhere"
            return rejected(f"{answer} (redirect to {where} not followed: configure the final URL)")
        if 400 <= status < 500 and status not in (408, 429):
            return rejected(
                f"{answer}; a refused request is not retried: check the webhook URL, token "
                "and the receiver's expected payload"
            )
        return undelivered(answer, retry_after=_retry_after(_header(err, "Retry-After"), cap))


def _origin(url: str) -> str:
    parts = urllib.parse.urlsplit(url)
    if not parts.hostname:
        return ""
    return f"{parts.scheme}://{parts.hostname}" + (f":{parts.port}" if parts.port else "")


def _header(err: urllib.error.HTTPError, name: str) -> str | None:
    return err.headers.get(name) if err.headers is not None else None


def _retry_after_cap() -> timedelta:
    # A receiver asking for an hour's pause must not hold an escalation past the protocol's
    # own retry ceiling.
    if activity.in_activity():
        policy = activity.info().retry_policy
        if policy and policy.maximum_interval:
            return policy.maximum_interval
    return timedelta(minutes=5)


def _retry_after(value: str | None, cap: timedelta) -> timedelta | None:
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        delay = timedelta(seconds=int(value))
    else:
        try:
            delay = parsedate_to_datetime(value) - datetime.now(UTC)
        except (TypeError, ValueError):
            return None
    return min(max(delay, timedelta(0)), cap)
