"""Notification activities: tell the right people that a deadline was missed.

A ``Channel`` delivers one escalation; the channel comes from configuration
(``CELLPATH_NOTIFY_CHANNEL``, default ``log``). Deliveries are idempotent: the same
escalation key is delivered once per channel instance, so an activity retried after a
crash does not page people twice from the same worker.

Usage (worker)::

    notifications = Notifications(LogChannel())
    Worker(..., activities=[notifications.notify_escalation, notifications.notify_fallback])
"""

from __future__ import annotations

import os
from datetime import UTC, datetime
from typing import Protocol

import structlog
from temporalio import activity

from models.notifications import Escalation, NotificationReceipt

log = structlog.get_logger("cellpath.notifications")


class Channel(Protocol):
    name: str

    async def deliver(self, escalation: Escalation) -> None: ...


class LogChannel:
    """Writes each escalation to the structured log (the default, and the fallback)."""

    name = "log"

    async def deliver(self, escalation: Escalation) -> None:
        log.warning(
            "deadline escalation",
            pathway_id=escalation.pathway_id,
            centre=escalation.centre,
            deadline=escalation.deadline_key,
            level=escalation.level,
            notify=[r.value for r in escalation.notify],
            text=escalation.text(),
        )


def channel_from_env(env: dict[str, str] | None = None) -> Channel:
    env = dict(os.environ) if env is None else env
    name = env.get("CELLPATH_NOTIFY_CHANNEL", "log")
    if name == "log":
        return LogChannel()
    raise ValueError(f"unknown notification channel {name!r} (CELLPATH_NOTIFY_CHANNEL); use: log")


class Notifications:
    def __init__(self, channel: Channel, fallback: Channel | None = None):
        self.channel = channel
        self.fallback = fallback or LogChannel()
        self._delivered: set[tuple[str, str]] = set()

    async def _send(self, channel: Channel, escalation: Escalation) -> NotificationReceipt:
        key = (channel.name, escalation.idempotency_key)
        if key not in self._delivered:
            await channel.deliver(escalation)
            self._delivered.add(key)
        return NotificationReceipt(
            channel=channel.name, key=escalation.idempotency_key, delivered_at=datetime.now(UTC)
        )

    @activity.defn(name="notify_escalation")
    async def notify_escalation(self, escalation: Escalation) -> NotificationReceipt:
        return await self._send(self.channel, escalation)

    @activity.defn(name="notify_fallback")
    async def notify_fallback(self, escalation: Escalation) -> NotificationReceipt:
        log.error(
            "primary notification channel failed; escalation sent through fallback",
            pathway_id=escalation.pathway_id,
            deadline=escalation.deadline_key,
        )
        return await self._send(self.fallback, escalation)
