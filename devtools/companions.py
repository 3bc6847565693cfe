"""Services the dev stack starts beside Temporal, the worker and the codec server, given by
the caller (the staff web app, from a layer the dev stack may not import).

Usage::

    web = StackCompanion("Staff web app", lambda client: serving(settings, client))
    await run_dev_stack(settings, demo=True, console=console, companions=[web])

Each companion is an async context manager, entered with the stack's Temporal client once
the worker runs, that yields the URL to print; it stops when the stack stops.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from contextlib import AbstractAsyncContextManager
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from temporalio.client import Client


@dataclasses.dataclass(frozen=True)
class StackCompanion:
    name: str
    start: Callable[[Client], AbstractAsyncContextManager[str]]
