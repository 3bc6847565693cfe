"""The cellpath worker: registers the pathway and centre workflows and their activities,
connects to Temporal.

Usage::

    cellpath worker                 # uses TEMPORAL_ADDRESS / TEMPORAL_NAMESPACE / profiles
    await serve_until_stopped(settings)   # the same, until Ctrl-C or SIGTERM

Connection comes from ``client/connection.py`` (``temporalio.envconfig``); payloads are
carried by the pydantic data converter, encrypted when a key is configured
(``CELLPATH_ENCRYPTION_KEYS`` or ``CELLPATH_ENCRYPTION_KEY_FILE``, docs/security.md).
Charts and models are passed through the workflow sandbox so that thousands of open
pathways share one copy of them (design.md, performance).

Identity (docs/security.md): a worker built with an actor key ring (``actor_keys``; from
``CELLPATH_ACTOR_KEYS``, ``CELLPATH_ACTOR_KEY_FILE`` or the dev stack's ``actor-public.keys``
in ``run_worker``) requires every staff action to carry a valid signed actor assertion; a
worker without one takes the typed actor and role, as before sign-in existed, and says so.
"""

from __future__ import annotations

import asyncio
import dataclasses
import os
import signal
import sys
import tempfile
from collections.abc import Sequence
from typing import Any

import structlog
from temporalio.client import Client
from temporalio.worker import PollerBehaviorAutoscaling, Worker
from temporalio.worker.workflow_sandbox import SandboxedWorkflowRunner, SandboxRestrictions

import models.actor  # noqa: F401  the crypto it needs, loaded once here, not in every run
from activities.centre_records import CentreRecordKeeping
from activities.centres import CentreActivities
from activities.channels.configuration import channel_from_env
from activities.notifications import Notifications
from activities.record_store import RecordKeeping
from client.connection import connect
from models import contracts
from models.actor_keys import ActorKeyRing, actor_key_ring_from_settings
from models.encryption import EncryptionCodec, codec_from_settings
from models.protocol_claim_check import ProtocolClaimCheck
from models.settings import DEFAULT_WORKFLOW_CACHE, Settings
from models.trusted_signers import trust_signers
from store import RecordStore, database_url
from store.migrate import current_revision, head_revision
from store.protocol_shelf import StoreShelf
from workflows.centre import CentreWorkflow
from workflows.pathway import PathwayWorkflow

log = structlog.get_logger("cellpath.worker")

WORKFLOW_POLLERS = PollerBehaviorAutoscaling()

PASSTHROUGH = ("models", "states", "statemachine", "pydantic", "pydantic_core", "yaml")


def build_worker(
    client: Client,
    task_queue: str,
    *,
    activities: Sequence[Any] | None = None,
    records: RecordStore | None = None,
    max_cached_workflows: int = DEFAULT_WORKFLOW_CACHE,
    actor_keys: ActorKeyRing | None = None,
) -> Worker:
    """The worker of ``task_queue``; with ``actor_keys``, its workflows refuse staff actions
    whose signed actor assertion is missing or does not verify against them. ``activities``
    replace the notification and centre activities (tests register their own); the record
    store's ``keep_records``, ``fetch_protocol_version`` and ``keep_centre_records`` are
    always registered, on ``records`` or else the configured store (``open_records``), unless
    ``activities`` name their own ``keep_records``. With a store, the worker's codec keeps
    the protocols its workflows mark in it (``with_protocol_claim_check``)."""
    trust_signers(task_queue, actor_keys)
    if activities is None:
        notifications = Notifications(channel_from_env())
        centres = CentreActivities(client)
        activities = [
            notifications.notify_escalation,
            notifications.notify_fallback,
            centres.notify_centre_pathways,
        ]
    if contracts.KEEP_RECORDS not in {activity_name(a) for a in activities}:
        records = records or open_records(client, Settings.from_env())
        keeping = RecordKeeping(records)
        centre_keeping = CentreRecordKeeping(records)
        activities = [
            *activities,
            keeping.keep_records,
            keeping.fetch_protocol,
            centre_keeping.keep_centre_records,
        ]
    if records is not None:
        client = with_protocol_claim_check(client, records)
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


def with_protocol_claim_check(client: Client, records: RecordStore) -> Client:
    """``client`` whose codec keeps the protocols of marked payloads in ``records`` and
    encrypts the rest as before (models/protocol_claim_check.py): the worker's own."""
    converter = client.data_converter
    if isinstance(converter.payload_codec, ProtocolClaimCheck):
        return client
    codec = ProtocolClaimCheck(StoreShelf(records), inner=converter.payload_codec)
    config = client.config()
    config["data_converter"] = dataclasses.replace(converter, payload_codec=codec)
    return Client(**config)


def activity_name(function: Any) -> str | None:
    definition = getattr(function, "__temporal_activity_definition", None)
    return getattr(definition, "name", None)


def open_records(client: Client, settings: Settings) -> RecordStore:
    """The configured record store (``CELLPATH_DATABASE_URL``, else ``records.db`` in the
    state dir), sealing with the worker's own payload codec so the store and Temporal hold
    the same ciphertext (docs/records.md)."""
    codec = client.data_converter.payload_codec
    if not isinstance(codec, EncryptionCodec):
        codec = codec_from_settings(settings)
    return RecordStore.open(database_url(state_dir=settings.state_dir), codec=codec)


class StoreNotReady(RuntimeError):
    """The record store's schema is not the one this code writes."""


def check_store(settings: Settings) -> None:
    """Refuse to start on a record store whose schema is not at this code's migration."""
    url = database_url(state_dir=settings.state_dir)
    found, wanted = current_revision(url), head_revision()
    if found != wanted:
        raise StoreNotReady(
            f"the record store is at migration {found or 'none'}, this code writes "
            f"{wanted}: run `cellpath db upgrade` (CELLPATH_DATABASE_URL, docs/records.md)"
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
    check_store(settings)
    client = client or await connect()
    ring = actor_key_ring_from_settings(settings)
    if ring is None:
        log.warning(
            "no actor keys configured: staff actions are NOT identity-checked "
            "(set CELLPATH_ACTOR_KEYS or CELLPATH_ACTOR_KEY_FILE, docs/security.md)"
        )
    async with build_worker(
        client,
        settings.task_queue,
        max_cached_workflows=settings.workflow_cache,
        actor_keys=ring,
    ):
        await asyncio.Event().wait()


async def serve_until_stopped(settings: Settings) -> None:
    """The worker until Ctrl-C or SIGTERM (a service manager), then a graceful shutdown."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    serving = asyncio.create_task(run_worker(settings))
    stopping = asyncio.create_task(stop.wait())
    await asyncio.wait({serving, stopping}, return_when=asyncio.FIRST_COMPLETED)
    stopping.cancel()
    if not serving.done():
        # Leaving the worker's context shuts it down: tasks in flight finish or are retried.
        serving.cancel()
    try:
        await serving
    except asyncio.CancelledError:
        pass
