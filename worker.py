"""The cellpath worker: registers the pathway workflow and its activities, connects to Temporal.

Usage::

    cellpath worker                 # uses TEMPORAL_ADDRESS / TEMPORAL_NAMESPACE / profiles

Connection comes from ``temporalio.envconfig`` (see ``models/settings.py``); payloads are
carried by the pydantic data converter. Charts and models are passed through the workflow
sandbox so that thousands of open pathways share one copy of them (design.md, performance).
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Any

from temporalio.client import Client
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.envconfig import ClientConfig
from temporalio.worker import Worker
from temporalio.worker.workflow_sandbox import SandboxedWorkflowRunner, SandboxRestrictions

from activities.notifications import Notifications, channel_from_env
from models.settings import Settings
from workflows.pathway import PathwayWorkflow

PASSTHROUGH = ("models", "states", "statemachine", "pydantic", "pydantic_core", "yaml")


class TemporalUnreachable(RuntimeError):
    """Temporal could not be reached; the message names the address tried."""


def connect_config(overrides: dict[str, Any] | None = None) -> dict[str, Any]:
    config: dict[str, Any] = dict(ClientConfig.load_client_connect_config())
    config.setdefault("target_host", "localhost:7233")
    config.update(overrides or {})
    return config


async def connect(**overrides: Any) -> Client:
    config = connect_config(overrides)
    try:
        return await Client.connect(**config, data_converter=pydantic_data_converter)
    except Exception as err:
        detail = str(err).splitlines()[0] if str(err) else type(err).__name__
        if "Connection refused" in detail or "ConnectionRefused" in detail:
            detail = "connection refused (is the server running? `make run` starts one)"
        raise TemporalUnreachable(
            f"Cannot reach Temporal at {config['target_host']} "
            f"(namespace {config.get('namespace', 'default')}): {detail[:200]}"
        ) from err


def build_worker(
    client: Client,
    task_queue: str,
    *,
    activities: Sequence[Any] | None = None,
) -> Worker:
    if activities is None:
        notifications = Notifications(channel_from_env())
        activities = [notifications.notify_escalation, notifications.notify_fallback]
    return Worker(
        client,
        task_queue=task_queue,
        workflows=[PathwayWorkflow],
        activities=list(activities),
        workflow_runner=SandboxedWorkflowRunner(
            restrictions=SandboxRestrictions.default.with_passthrough_modules(*PASSTHROUGH)
        ),
    )


async def run_worker(settings: Settings | None = None, client: Client | None = None) -> None:
    settings = settings or Settings.from_env()
    client = client or await connect()
    async with build_worker(client, settings.task_queue):
        await asyncio.Event().wait()
