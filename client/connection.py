"""Reaching Temporal: the connection settings (``temporalio.envconfig``) and the data converter.

Usage::

    client = await connect()                       # TEMPORAL_ADDRESS, profiles, the keys
    client = await connect(target_host="localhost:7244", converter=my_converter)

The worker takes its data converter from the client it is given, so workers and every
client encrypt with the same keys (``CELLPATH_ENCRYPTION_KEYS``, docs/security.md).
"""

from __future__ import annotations

import asyncio
from typing import Any

from temporalio.client import Client
from temporalio.converter import DataConverter
from temporalio.envconfig import ClientConfig

from client.errors import TemporalUnreachable
from models.encryption import codec_from_settings, data_converter
from models.settings import Settings

DEFAULT_TARGET = "localhost:7233"


def connect_config(overrides: dict[str, Any] | None = None) -> dict[str, Any]:
    """``Client.connect`` arguments from the environment and profiles, then ``overrides``."""
    config: dict[str, Any] = dict(ClientConfig.load_client_connect_config())
    config.setdefault("target_host", DEFAULT_TARGET)
    config.update(overrides or {})
    return config


def configured_data_converter(settings: Settings | None = None) -> DataConverter:
    """The pydantic converter, through the encryption codec when a key is configured.

    Raises ``KeyConfigError`` (a ``ValueError``) with a one-line reason for a bad key setting.
    """
    return data_converter(codec_from_settings(settings or Settings.from_env()))


async def connect(*, converter: DataConverter | None = None, **overrides: Any) -> Client:
    """A client for the configured Temporal; ``converter`` defaults to the configured one.

    Raises ``TemporalUnreachable`` naming the address tried.
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
            f"(namespace {config.get('namespace', 'default')}): {detail[:200]}",
            kind="TemporalUnreachable",
        ) from err


async def task_queue_of(client: Client, workflow_id: str, *, within: float = 3.0) -> str:
    """The task queue a workflow runs on (to say which worker is missing)."""
    desc = await asyncio.wait_for(client.get_workflow_handle(workflow_id).describe(), within)
    return desc.task_queue
