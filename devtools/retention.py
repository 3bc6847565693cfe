"""The dev stack's namespace retention, set explicitly: how long Temporal keeps a closed
pathway's workflow before deleting it (the record store keeps it after that).

Usage::

    await set_retention(client, timedelta(days=7))     # namespace "default"
    await retention(client)                            # timedelta(days=7)

``temporal server start-dev`` creates its namespace with 24 hours; ``cellpath dev`` states
its own (``CELLPATH_DEV_RETENTION_DAYS``, default 7) on every start. Once the store holds a
pathway's closing record and whole audit chain, its expiry from Temporal loses nothing
(docs/records.md). On a real cluster the retention is the operators' setting:
``temporal operator namespace update --retention 30d cellpath``.
"""

from __future__ import annotations

from datetime import timedelta

from google.protobuf.duration_pb2 import Duration
from temporalio.api.namespace.v1 import NamespaceConfig
from temporalio.api.workflowservice.v1 import DescribeNamespaceRequest, UpdateNamespaceRequest
from temporalio.client import Client


async def set_retention(client: Client, keep: timedelta, namespace: str = "default") -> None:
    if keep < timedelta(days=1):
        raise ValueError(f"Temporal keeps closed workflows one day at least, not {keep}")
    ttl = Duration()
    ttl.FromTimedelta(keep)
    # The server changes only the config fields a request sets.
    await client.workflow_service.update_namespace(
        UpdateNamespaceRequest(
            namespace=namespace,
            config=NamespaceConfig(workflow_execution_retention_ttl=ttl),
        )
    )


async def retention(client: Client, namespace: str = "default") -> timedelta:
    described = await client.workflow_service.describe_namespace(
        DescribeNamespaceRequest(namespace=namespace)
    )
    return described.config.workflow_execution_retention_ttl.ToTimedelta()
