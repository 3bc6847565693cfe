"""A failing notification channel on the real dev server: every escalation still reaches
the fallback, after the protocol's retries (or at once when the receiver refuses it)."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from temporalio import activity
from temporalio.api.enums.v1 import EventType
from temporalio.client import Client, WorkflowHandle

from activities.channels.webhook import WebhookChannel
from activities.notifications import Notifications
from client import pathways as operations
from models import contracts
from models.notifications import Escalation, NotificationReceipt
from models.protocol import NotificationRetry, Protocol
from tests.support.notification_sinks import WebhookSink, webhook_sink
from tests.support.pathway_driver import referral
from tests.support.waiting import eventually

pytestmark = pytest.mark.integration

FAST = NotificationRetry(
    initial_interval=timedelta(milliseconds=100),
    maximum_interval=timedelta(milliseconds=200),
    maximum_attempts=3,
)


@pytest.fixture
def webhook() -> Iterator[WebhookSink]:
    with webhook_sink() as sink:
        yield sink


def fast_retries(protocol: Protocol) -> Protocol:
    # One protocol day = 0.05 s: the 30-day work-up deadline falls due after 1.5 s. The dev
    # server spaces activity retries about a second apart even when asked for 100 ms, so a
    # test follows the first escalation only (about 2 s of retries).
    compressed = protocol.compressed(seconds_per_day=0.05)
    return compressed.model_copy(update={"notification_retry": FAST})


class Fallback:
    """A capturing ``notify_fallback``."""

    def __init__(self) -> None:
        self.received: list[Escalation] = []

    @activity.defn(name=contracts.NOTIFY_FALLBACK)
    async def notify_fallback(self, escalation: Escalation) -> NotificationReceipt:
        self.received.append(escalation)
        return NotificationReceipt(
            channel="test-fallback", key=escalation.idempotency_key, delivered_at=datetime.now(UTC)
        )

    async def wait_for(self, count: int, timeout: float = 8.0) -> None:
        await eventually(
            lambda: len(self.received) >= count, timeout=timeout, what=f"{count} fallbacks"
        )


async def test_failing_channel_falls_back_after_every_attempt(
    client: Client, task_queue: str, running_worker, cart_protocol: Protocol, webhook: WebhookSink
) -> None:
    protocol = fast_retries(cart_protocol)
    webhook.status = 500
    primary = Notifications(WebhookChannel(webhook.url, timeout=2))
    fallback = Fallback()
    async with running_worker(activities=[primary.notify_escalation, fallback.notify_fallback]):
        handle = await operations.refer(
            client, referral("LUP-301"), task_queue=task_queue, protocol=protocol
        )
        await fallback.wait_for(1)
        await handle.terminate("test over")
    first = fallback.received[0]
    assert (first.pathway_id, first.deadline_key, first.level) == (handle.id, "work_up", 1)
    assert Counter(webhook.keys())[first.idempotency_key] == FAST.maximum_attempts
    assert await attempts(handle, contracts.NOTIFY_ESCALATION) == [FAST.maximum_attempts]


async def attempts(handle: WorkflowHandle[Any, Any], activity_type: str) -> list[int]:
    """The final attempt number of each finished ``activity_type`` in the history."""
    history = await handle.fetch_history()
    scheduled: dict[int, str] = {}
    finished: list[int] = []
    for event in history.events:
        if event.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED:
            attributes = event.activity_task_scheduled_event_attributes
            scheduled[event.event_id] = attributes.activity_type.name
        elif event.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_STARTED:
            started = event.activity_task_started_event_attributes
            if scheduled.get(started.scheduled_event_id) == activity_type:
                finished.append(started.attempt)
    return finished


async def test_refused_notification_falls_back_without_retrying(
    client: Client, task_queue: str, running_worker, cart_protocol: Protocol, webhook: WebhookSink
) -> None:
    protocol = fast_retries(cart_protocol)
    webhook.status = 400
    primary = Notifications(WebhookChannel(webhook.url, timeout=2))
    fallback = Fallback()
    async with running_worker(activities=[primary.notify_escalation, fallback.notify_fallback]):
        handle = await operations.refer(
            client, referral("LUP-302"), task_queue=task_queue, protocol=protocol
        )
        await fallback.wait_for(1)
        await handle.terminate("test over")
    first = fallback.received[0]
    assert (first.deadline_key, first.level) == ("work_up", 1)
    assert Counter(webhook.keys())[first.idempotency_key] == 1, "a 400 is not retried"
    assert (await attempts(handle, contracts.NOTIFY_ESCALATION))[0] == 1
