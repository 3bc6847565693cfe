"""Asking many pathways at once: bounded, each within its time, none silently dropped."""

from __future__ import annotations

import asyncio

from client.errors import OperationError
from client.survey import survey


async def test_answers_come_back_in_the_order_asked_and_duplicates_are_asked_once() -> None:
    asked: list[str] = []

    async def ask(pid: str) -> str:
        asked.append(pid)
        await asyncio.sleep(0.01 if pid == "b" else 0)
        return pid.upper()

    found = await survey(["b", "a", "b", "c"], ask)
    assert list(found.answers.items()) == [("b", "B"), ("a", "A"), ("c", "C")]
    assert sorted(asked) == ["a", "b", "c"] and found.unanswered == {}


async def test_no_more_than_at_once_are_asked_together() -> None:
    running = 0
    most = 0
    release = asyncio.Event()

    async def ask(pid: str) -> str:
        nonlocal running, most
        running += 1
        most = max(most, running)
        if most == 3:
            release.set()
        await release.wait()
        running -= 1
        return pid

    found = await survey([f"p{i}" for i in range(10)], ask, at_once=3)
    assert most == 3 and len(found.answers) == 10


async def test_a_silent_or_refusing_pathway_is_named_and_the_others_still_answer() -> None:
    async def ask(pid: str) -> str:
        if pid == "silent":
            await asyncio.Event().wait()  # never answers
        if pid == "closed":
            raise OperationError("closed meanwhile", kind="PathwayNotFound")
        return "ok"

    found = await survey(["silent", "fine", "closed"], ask, within=0.05)
    assert found.answers == {"fine": "ok"}
    assert found.unanswered["closed"] == "closed meanwhile"
    assert "no answer within 0.05 s" in found.unanswered["silent"]
    assert list(found.unanswered) == ["silent", "closed"]
