"""Notification activities: tell the right people that a deadline was missed, once.

Usage (worker)::

    notifications = Notifications(channel_from_env())
    Worker(..., activities=[notifications.notify_escalation, notifications.notify_fallback])

``notify_escalation`` delivers through the configured channel (``activities.channels``);
when its retries run out, or at once for a non-retryable error, the workflow sends the
escalation through ``notify_fallback`` (the log, unless another fallback is given).

Limitations: deliveries are idempotent per channel instance (one worker process, the last
10,000 keys). Across workers the receiver must deduplicate: webhooks get an
``Idempotency-Key`` header, e-mails a ``Message-ID`` derived from the same key.
"""

from __future__ import annotations

import asyncio
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any

import structlog
from temporalio import activity
from temporalio.exceptions import ApplicationError

from activities.channels import Channel
from activities.channels.log import LogChannel
from models import contracts
from models.notifications import Escalation, NotificationReceipt

log = structlog.get_logger("cellpath.notifications")


def _attempt() -> dict[str, Any]:
    if not activity.in_activity():
        return {}
    info = activity.info()
    return {"attempt": info.attempt, "workflow_id": info.workflow_id}


class _Once:
    """Delivers each key once: remembers the last ``limit`` delivered keys, and makes a
    concurrent attempt for a key in flight wait for that delivery instead of repeating it."""

    def __init__(self, limit: int = 10_000) -> None:
        self.limit = limit
        self._done: OrderedDict[str, None] = OrderedDict()
        self._inflight: dict[str, asyncio.Future[None]] = {}

    async def run(self, key: str, deliver: Callable[[], Awaitable[None]]) -> bool:
        """True if this call delivered, False if the key was already delivered."""
        if key in self._done:
            return False
        task = self._inflight.get(key)
        mine = task is None
        if task is None:
            task = asyncio.ensure_future(deliver())
            self._inflight[key] = task
            task.add_done_callback(lambda t: self._finished(key, t))
        # A cancelled activity (worker shutdown, timeout) leaves a delivery that has started
        # to finish, so that it is recorded and not repeated by the next attempt.
        await asyncio.shield(task)
        return mine

    def _finished(self, key: str, task: asyncio.Future[None]) -> None:
        self._inflight.pop(key, None)
        if task.cancelled() or task.exception() is not None:
            return
        self._done[key] = None
        while len(self._done) > self.limit:
            self._done.popitem(last=False)


class Notifications:
    """The two notification activities over a primary channel and a fallback (log)."""

    def __init__(self, channel: Channel, fallback: Channel | None = None):
        self.channel = channel
        self.fallback = fallback or LogChannel()
        self._once: dict[int, _Once] = {id(self.channel): _Once()}
        self._once.setdefault(id(self.fallback), _Once())

    async def _send(self, channel: Channel, escalation: Escalation) -> NotificationReceipt:
        key = escalation.idempotency_key
        fields = {
            "channel": channel.name,
            "pathway_id": escalation.pathway_id,
            "deadline": escalation.deadline_key,
            "level": escalation.level,
            **_attempt(),
        }
        try:
            sent = await self._once[id(channel)].run(key, lambda: channel.deliver(escalation))
        except Exception as err:
            retry = not (isinstance(err, ApplicationError) and err.non_retryable)
            log.warning("notification not delivered", error=str(err), retry=retry, **fields)
            raise
        log.info("notification delivered" if sent else "notification already delivered", **fields)
        return NotificationReceipt(channel=channel.name, key=key, delivered_at=datetime.now(UTC))

    @activity.defn(name=contracts.NOTIFY_ESCALATION)
    async def notify_escalation(self, escalation: Escalation) -> NotificationReceipt:
        return await self._send(self.channel, escalation)

    @activity.defn(name=contracts.NOTIFY_FALLBACK)
    async def notify_fallback(self, escalation: Escalation) -> NotificationReceipt:
        log.error(
            "primary notification channel failed; escalation sent through fallback",
            primary=self.channel.name,
            pathway_id=escalation.pathway_id,
            deadline=escalation.deadline_key,
        )
        return await self._send(self.fallback, escalation)
