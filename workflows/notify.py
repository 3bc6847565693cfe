"""Sending a notification from a workflow so that it is never lost.

The primary channel is retried by the policy's ``NotificationRetry``; when every attempt
fails, the fallback activity takes the same escalation (and says the primary failed).
Used by the pathway and the centre workflows.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from temporalio import workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import ActivityError

with workflow.unsafe.imports_passed_through():
    from models import contracts
    from models.notifications import Escalation
    from models.protocol import NotificationRetry


async def notify_with_fallback(
    escalation: Escalation,
    retry: NotificationRetry,
    *,
    action: str,
    log_extra: dict[str, Any],
) -> None:
    who = ", ".join(r.label for r in escalation.notify)
    try:
        await workflow.execute_activity(
            contracts.NOTIFY_ESCALATION,
            escalation,
            start_to_close_timeout=timedelta(seconds=30),
            retry_policy=RetryPolicy(
                initial_interval=retry.initial_interval,
                backoff_coefficient=2.0,
                maximum_interval=retry.maximum_interval,
                maximum_attempts=retry.maximum_attempts,
            ),
            summary=f"{escalation.label}: {action} {who}"[:200],
        )
    except ActivityError:
        # Every retry failed: the fallback channel carries it, and the failure is logged.
        workflow.logger.warning("notification failed, using fallback", extra=log_extra)
        await workflow.execute_activity(
            contracts.NOTIFY_FALLBACK,
            escalation,
            start_to_close_timeout=timedelta(seconds=30),
            retry_policy=RetryPolicy(maximum_interval=timedelta(minutes=10)),
            summary=f"{escalation.label}: notification failed, fallback"[:200],
        )
