"""Waiting in tests on explicit conditions that Temporal can tell us, never on the clock.

Every wait here names what it waits for, and asks the server (describe, history, update
polling) or the workflow (queries) whether it holds yet:

    await eventually(lambda: len(sent) >= 3)                    # a condition, polled
    length = await at_rest(client, workflow_id)                 # nothing in flight: events
    await update_admitted(client, workflow_id, update_id)       # the server holds an update
    await worker_polling(client, task_queue)                    # a worker process is up
    receipt = await once_window_opens(lambda: go("thaw_product", TECH, bag_coi_id=coi))

Limitations: ``eventually`` polls (every ``interval`` seconds) until ``timeout``; the timeout
only bounds a failing test, it never decides a passing one. Pathways on a compressed
protocol still take the real seconds their windows last: ``once_window_opens`` asks the
workflow itself whether the window is open rather than guessing from the clock.
"""

from __future__ import annotations

import asyncio
import inspect
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from temporalio.api.common.v1 import WorkflowExecution
from temporalio.api.enums.v1 import (
    EventType,
    TaskQueueType,
    UpdateWorkflowExecutionLifecycleStage,
)
from temporalio.api.taskqueue.v1 import TaskQueue
from temporalio.api.update.v1 import UpdateRef, WaitPolicy
from temporalio.api.workflowservice.v1 import (
    DescribeTaskQueueRequest,
    PollWorkflowExecutionUpdateRequest,
)
from temporalio.client import Client
from temporalio.service import RPCError, RPCStatusCode

from client import pathways as operations

T = TypeVar("T")

# History events after which a workflow has work in flight, not at rest.
IN_FLIGHT = {
    EventType.EVENT_TYPE_WORKFLOW_TASK_SCHEDULED,
    EventType.EVENT_TYPE_WORKFLOW_TASK_STARTED,
}
# A workflow task records no decision of its own. The server runs a refused Update's
# validator in a speculative task that leaves no trace, unless it has to keep the task
# (a timer fired or its sticky worker was too slow meanwhile: seen on a loaded machine, 21
# events then 24). "History unchanged" means no event that records something.
BOOKKEEPING = {
    *IN_FLIGHT,
    EventType.EVENT_TYPE_WORKFLOW_TASK_COMPLETED,
    EventType.EVENT_TYPE_WORKFLOW_TASK_TIMED_OUT,
}


async def eventually(
    check: Callable[[], Any],
    *,
    timeout: float = 10.0,
    interval: float = 0.05,
    what: str = "condition",
) -> Any:
    """Poll ``check`` (plain or async) until it returns something truthy, and return it.

    Raises ``AssertionError`` naming ``what`` when ``timeout`` seconds pass first."""
    if timeout <= 0 or interval <= 0:
        raise ValueError("timeout and interval must be positive")
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while True:
        value = check()
        if inspect.isawaitable(value):
            value = await value
        if value:
            return value
        if loop.time() > deadline:
            raise AssertionError(f"{what} not met within {timeout} s")
        await asyncio.sleep(interval)


async def history_length(client: Client, workflow_id: str) -> int:
    history = await client.get_workflow_handle(workflow_id).fetch_history()
    return len(history.events)


async def is_at_rest(client: Client, workflow_id: str) -> int | None:
    """The number of history events that record something (``BOOKKEEPING`` not counted) if
    the workflow has nothing in flight (no workflow task pending or running, no activity
    pending), else None."""
    handle = client.get_workflow_handle(workflow_id)
    described = (await handle.describe()).raw_description
    if described.HasField("pending_workflow_task") or described.pending_activities:
        return None
    events = (await handle.fetch_history()).events
    if events and events[-1].event_type in IN_FLIGHT:
        return None
    return sum(1 for e in events if e.event_type not in BOOKKEEPING)


async def at_rest(client: Client, workflow_id: str, *, timeout: float = 10.0) -> int:
    """Wait until the workflow has handled everything sent to it; return the number of its
    history events that record something (equal before and after a refused action)."""
    return await eventually(
        lambda: is_at_rest(client, workflow_id),
        timeout=timeout,
        what=f"{workflow_id} at rest",
    )


async def update_admitted(
    client: Client, workflow_id: str, update_id: str, *, timeout: float = 10.0
) -> None:
    """Wait until the server has admitted the Update ``update_id`` (it waits there for a
    worker); the server answers NOT_FOUND until the Update reaches it."""
    request = PollWorkflowExecutionUpdateRequest(
        namespace=client.namespace,
        update_ref=UpdateRef(
            workflow_execution=WorkflowExecution(workflow_id=workflow_id),
            update_id=update_id,
        ),
        identity=client.identity,
        wait_policy=WaitPolicy(
            lifecycle_stage=UpdateWorkflowExecutionLifecycleStage.UPDATE_WORKFLOW_EXECUTION_LIFECYCLE_STAGE_ADMITTED
        ),
    )

    async def admitted() -> bool:
        try:
            reply = await client.workflow_service.poll_workflow_execution_update(request)
        except RPCError as err:
            if err.status == RPCStatusCode.NOT_FOUND:
                return False
            raise
        return reply.stage >= request.wait_policy.lifecycle_stage

    await eventually(admitted, timeout=timeout, what=f"update {update_id} admitted")


async def worker_polling(client: Client, task_queue: str, *, timeout: float = 60.0) -> None:
    """Wait until a worker polls ``task_queue`` for workflow tasks (a worker process that
    has just been started is up only once the server sees its pollers)."""
    request = DescribeTaskQueueRequest(
        namespace=client.namespace,
        task_queue=TaskQueue(name=task_queue),
        task_queue_type=TaskQueueType.TASK_QUEUE_TYPE_WORKFLOW,
    )

    async def polled() -> bool:
        reply = await client.workflow_service.describe_task_queue(request)
        return bool(reply.pollers)

    await eventually(polled, timeout=timeout, interval=0.2, what=f"a worker on {task_queue}")


async def once_window_opens(
    attempt: Callable[[], Awaitable[T]], *, timeout: float = 10.0, rule: str = "OutsideWindow"
) -> T:
    """Send a staff action until the workflow stops refusing it under ``rule`` (a window not
    yet open), and return its result; any other refusal fails at once."""
    result: list[T] = []

    async def opened() -> bool:
        try:
            result.append(await attempt())
        except operations.ActionRefused as refused:
            if refused.kind != rule:
                raise
            return False
        return True

    await eventually(opened, timeout=timeout, what=f"window open ({rule} lifted)")
    return result[0]
