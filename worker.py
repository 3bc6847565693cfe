"""The cellpath worker: registers the pathway and centre workflows and their activities,
connects to Temporal.

Usage::

    cellpath worker                 # uses TEMPORAL_ADDRESS / TEMPORAL_NAMESPACE / profiles

Connection comes from ``temporalio.envconfig`` (see ``models/settings.py``); payloads are
carried by the pydantic data converter, encrypted when a key is configured
(``CELLPATH_ENCRYPTION_KEYS`` or ``CELLPATH_ENCRYPTION_KEY_FILE``, docs/security.md).
Charts and models are passed through the workflow sandbox so that thousands of open
pathways share one copy of them (design.md, performance).
"""

from __future__ import annotations

import asyncio
import os
import sys
import tempfile
from collections.abc import Sequence
from typing import Any

from temporalio.client import Client
from temporalio.converter import DataConverter
from temporalio.envconfig import ClientConfig
from temporalio.worker import PollerBehaviorAutoscaling, Worker
from temporalio.worker.workflow_sandbox import SandboxedWorkflowRunner, SandboxRestrictions

from activities.centres import CentreActivities
from activities.channels.configuration import channel_from_env
from activities.notifications import Notifications
from models.encryption import codec_from_settings, data_converter
from models.settings import DEFAULT_WORKFLOW_CACHE, Settings
from workflows.centre import CentreWorkflow
from workflows.pathway import PathwayWorkflow

WORKFLOW_POLLERS = PollerBehaviorAutoscaling()

PASSTHROUGH = ("models", "states", "statemachine", "pydantic", "pydantic_core", "yaml")


class TemporalUnreachable(RuntimeError):
    """Temporal could not be reached; the message names the address tried."""


def connect_config(overrides: dict[str, Any] | None = None) -> dict[str, Any]:
    config: dict[str, Any] = dict(ClientConfig.load_client_connect_config())
    config.setdefault("target_host", "localhost:7233")
    config.update(overrides or {})
    return config


def configured_data_converter(settings: Settings | None = None) -> DataConverter:
    """The pydantic converter, through the encryption codec when a key is configured.

    Raises ``KeyConfigError`` (a ``ValueError``) with a one-line reason for a bad key setting.
    """
    return data_converter(codec_from_settings(settings or Settings.from_env()))


async def connect(*, converter: DataConverter | None = None, **overrides: Any) -> Client:
    """A client for the configured Temporal; ``converter`` defaults to the configured one.

    The worker takes its data converter from this client, so workers and the CLI encrypt
    with the same keys.
    """
    converter = converter or configured_data_converter()
    config = connect_config(overrides)
    try:
        return await Client.connect(**config, data_converter=converter)
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
    max_cached_workflows: int = DEFAULT_WORKFLOW_CACHE,
) -> Worker:
    if activities is None:
        notifications = Notifications(channel_from_env())
        centres = CentreActivities(client)
        activities = [
            notifications.notify_escalation,
            notifications.notify_fallback,
            centres.notify_centre_pathways,
        ]
    return Worker(
        client,
        task_queue=task_queue,
        workflows=[PathwayWorkflow, CentreWorkflow],
        activities=list(activities),
        max_cached_workflows=max_cached_workflows,
        # Pollers follow the backlog (Temporal's autoscaling poller): a burst of new pathways
        # (a demo, a migration, 10,000 in the bench) no longer waits on a fixed five.
        workflow_task_poller_behavior=WORKFLOW_POLLERS,
        workflow_runner=SandboxedWorkflowRunner(
            restrictions=SandboxRestrictions.default.with_passthrough_modules(*PASSTHROUGH)
        ),
    )


def keep_bytecode() -> None:
    """The sandbox imports the workflow modules again for every workflow run. Without .pyc
    files (PYTHONDONTWRITEBYTECODE, as many container images set) it compiles them from
    source every time: ~5 ms of CPU per run (docs/performance.md). Compiled code then goes
    to a cache directory outside the source tree."""
    if sys.dont_write_bytecode and sys.pycache_prefix is None:
        sys.pycache_prefix = os.path.join(tempfile.gettempdir(), "cellpath-pycache")
        sys.dont_write_bytecode = False


async def run_worker(settings: Settings | None = None, client: Client | None = None) -> None:
    keep_bytecode()
    settings = settings or Settings.from_env()
    client = client or await connect()
    async with build_worker(
        client, settings.task_queue, max_cached_workflows=settings.workflow_cache
    ):
        await asyncio.Event().wait()
