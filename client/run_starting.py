"""Asking a pathway again while its new run starts: a lean run reads its protocol version
from the record store first (workflows/lean_runs.py), a few tens of milliseconds during
which actions are refused with ``RunStarting`` (nothing changed) and the queries that need
the protocol answer the same. The client asks again, a few times, before saying so.
Since lean2 a run is handed its protocol (claim-checked by the worker's codec,
models/protocol_claim_check.py) and refuses nothing while it starts; runs started by older
code still fetch it.

Usage::

    receipt = await once_started(lambda: send(...))      # an action or a query
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import TypeVar

from temporalio.client import WorkflowQueryFailedError

from client.errors import ActionRefused
from workflows.pathway import STARTING

T = TypeVar("T")

#: the pauses between attempts (about 6 s in all)
RUN_STARTING_PAUSES = (0.05, 0.1, 0.2, 0.4, 0.8, 1.6, 3.2)


def _starting(err: Exception) -> bool:
    if isinstance(err, ActionRefused):
        return err.kind == "RunStarting"
    return isinstance(err, WorkflowQueryFailedError) and STARTING in str(err)


async def once_started(ask: Callable[[], Awaitable[T]]) -> T:
    """``ask()``, asked again while the pathway's new run starts."""
    for pause in RUN_STARTING_PAUSES:
        try:
            return await ask()
        except (ActionRefused, WorkflowQueryFailedError) as err:
            if not _starting(err):
                raise
            await asyncio.sleep(pause)
    return await ask()
