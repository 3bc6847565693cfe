"""Asking many pathways the same question at once: a few at a time, each for a few seconds,
and the ones that did not answer named rather than waited for or dropped.

Every listing across pathways (incidents, *My work*, registry forms, the web pages) asks
each pathway's workflow a query, which a worker answers (replaying the pathway when it is not
cached). One slow or orphaned pathway must neither hang the page nor hide the others.

Usage::

    found = await survey(ids, lambda pid: pathways.record(client, pid))
    for pid, record in found.answers.items(): ...
    for pid, why in found.unanswered.items(): ...   # shown to the reader, never dropped
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from typing import Generic, TypeVar

from temporalio.client import WorkflowQueryFailedError
from temporalio.service import RPCError

from client.errors import OperationError

T = TypeVar("T")

#: pathways asked at once (each query may make a worker replay the pathway)
AT_ONCE = 16
#: seconds one pathway has to answer before it is named as unanswered
WITHIN_SECONDS = 10.0


@dataclass
class Survey(Generic[T]):
    """The answers by pathway ID, in the order asked, and why the others gave none."""

    answers: dict[str, T] = field(default_factory=dict)
    unanswered: dict[str, str] = field(default_factory=dict)


async def survey(
    pathway_ids: Iterable[str],
    ask: Callable[[str], Awaitable[T]],
    *,
    at_once: int = AT_ONCE,
    within: float = WITHIN_SECONDS,
) -> Survey[T]:
    """``ask`` each pathway (duplicates asked once); a refusal (e.g. the pathway closed
    meanwhile) or no answer within ``within`` seconds names the pathway in ``unanswered``."""
    ids = list(dict.fromkeys(pathway_ids))
    gate = asyncio.Semaphore(at_once)
    unanswered: dict[str, str] = {}

    async def one(pathway_id: str) -> tuple[str, T] | None:
        async with gate:
            try:
                return pathway_id, await asyncio.wait_for(ask(pathway_id), within)
            except OperationError as err:
                unanswered[pathway_id] = err.message
            except (WorkflowQueryFailedError, RPCError) as err:
                unanswered[pathway_id] = f"it could not answer: {err}"
            except TimeoutError:
                unanswered[pathway_id] = (
                    f"no answer within {within:g} s (no worker on its task queue?)"
                )
            return None

    found = await asyncio.gather(*(one(i) for i in ids))
    answers = {pid: answer for pid, answer in (f for f in found if f is not None)}
    return Survey(answers=answers, unanswered={i: unanswered[i] for i in ids if i in unanswered})
