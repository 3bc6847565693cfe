"""Notification channels: how one escalation is delivered, and how a delivery fails.

A ``Channel`` delivers one ``Escalation``: ``channels.log.LogChannel`` (the structured log;
the default and the fallback), ``channels.webhook.WebhookChannel`` (a JSON POST) or
``channels.smtp.SmtpChannel`` (e-mail to the addresses of the roles on the ladder);
``channels.configuration.channel_from_env`` builds one from ``CELLPATH_NOTIFY_*`` settings.

A failed delivery raises an ``ApplicationError`` that the workflow's retry policy
understands: ``undelivered`` (type ``NotificationUndelivered``, retried: network error,
timeout, HTTP 5xx/408/429, SMTP 4xx) or ``rejected`` (``NotificationRejected`` /
``NoRecipients``, non-retryable: a request the receiver will never accept, or no address
for anyone).

Usage::

    class PagerChannel:
        name = "pager"

        async def deliver(self, escalation: Escalation) -> None:
            ...
            raise undelivered("pager gateway unreachable")
"""

from __future__ import annotations

from datetime import timedelta
from typing import Protocol

from temporalio.exceptions import ApplicationError

from models.notifications import Escalation

UNDELIVERED = "NotificationUndelivered"
REJECTED = "NotificationRejected"
NO_RECIPIENTS = "NoRecipients"


class Channel(Protocol):
    """Delivers one escalation, or raises ``undelivered`` / ``rejected``."""

    name: str

    async def deliver(self, escalation: Escalation) -> None: ...


def undelivered(message: str, *, retry_after: timedelta | None = None) -> ApplicationError:
    """A delivery that failed this time: retried, after ``retry_after`` if given."""
    return ApplicationError(message, type=UNDELIVERED, next_retry_delay=retry_after)


def rejected(message: str, *, type: str = REJECTED) -> ApplicationError:
    """A delivery that will never succeed as configured: not retried, the fallback sends it."""
    return ApplicationError(message, type=type, non_retryable=True)


def one_line(text: str) -> str:
    """``text`` with its whitespace runs (line breaks included) as single spaces."""
    return " ".join(text.split())
