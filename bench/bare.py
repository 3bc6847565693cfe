"""The bare baseline: a workflow with the Temporal shape of a pathway and nothing else.

It receives the same updates as a pathway (same names, same payloads, not even decoded),
arms a timer at the same points, continues as new at the same points, and has no chart,
no validation and no record. What a pathway costs above this is cellpath's own cost.

Usage::

    plan = [[True, True, False], [True, False]]  # two runs: 2 updates, then 1
    await client.start_workflow(BareWorkflow.run, args=[plan, 3600.0], id=..., task_queue=...)

``plan[r][i]`` says whether run ``r`` arms a timer while it waits after its ``i``-th update
(``i = 0``: at the start of the run); a run ends after ``len(plan[r]) - 1`` updates, by
continuing as new with ``plan[1:]`` or, for the last run, by returning.

Its arguments are builtin types, not a model: a class defined in this (sandboxed) module
would be a new class in every run, and the pydantic converter would build a new schema for
it every time, a cost cellpath's passed-through models do not pay.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import timedelta

from temporalio import workflow
from temporalio.common import RawValue

# Long enough never to fire while the bench drives the workflow.
TIMER_SECONDS = 3600.0


@workflow.defn(name="BareWorkflow")
class BareWorkflow:
    @workflow.init
    def __init__(self, plan: list[list[bool]], timer_seconds: float = TIMER_SECONDS) -> None:
        self._updates = 0
        self._changed = False

    @workflow.run
    async def run(self, plan: list[list[bool]], timer_seconds: float = TIMER_SECONDS) -> int:
        wakes = plan[0]
        timeout = timedelta(seconds=timer_seconds)
        while self._updates < len(wakes) - 1:
            if wakes[self._updates]:
                try:
                    await workflow.wait_condition(lambda: self._changed, timeout=timeout)
                except TimeoutError:
                    pass
            else:
                await workflow.wait_condition(lambda: self._changed)
            self._changed = False
        await workflow.wait_condition(workflow.all_handlers_finished)
        if len(plan) > 1:
            workflow.continue_as_new(args=[plan[1:], timer_seconds])
        return self._updates

    @workflow.update(dynamic=True)
    def act(self, name: str, args: Sequence[RawValue]) -> int:
        self._updates += 1
        self._changed = True
        return self._updates
