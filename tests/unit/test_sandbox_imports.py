"""Each workflow run imports only its own workflow module anew (design.md, "Mind the sandbox").

The sandbox loads the workflow module again for every run; everything else it uses must come
through from the worker's copy, or every open pathway pays for another copy of it (memory) and
every run for loading it (CPU). A ``from package import module`` inside
``imports_passed_through()`` is enough to break this, silently: this test notices.
"""

from __future__ import annotations

import importlib._bootstrap_external as bootstrap
from collections.abc import Iterator
from contextlib import contextmanager

import pytest
from temporalio import workflow
from temporalio.worker.workflow_sandbox import SandboxedWorkflowRunner, SandboxRestrictions

from worker import PASSTHROUGH
from workflows.centre import CentreWorkflow
from workflows.pathway import PathwayWorkflow


@contextmanager
def modules_executed() -> Iterator[list[str]]:
    """Names of the modules whose code runs while inside the block."""
    executed: list[str] = []
    original = bootstrap._LoaderBasics.exec_module

    def exec_module(loader: object, module: object) -> None:
        executed.append(module.__name__)  # type: ignore[attr-defined]
        original(loader, module)  # type: ignore[arg-type]

    bootstrap._LoaderBasics.exec_module = exec_module  # type: ignore[method-assign]
    try:
        yield executed
    finally:
        bootstrap._LoaderBasics.exec_module = original  # type: ignore[method-assign]


@pytest.mark.parametrize("workflow_class", [PathwayWorkflow, CentreWorkflow])
async def test_a_run_loads_only_its_workflow_module(workflow_class: type) -> None:
    runner = SandboxedWorkflowRunner(
        restrictions=SandboxRestrictions.default.with_passthrough_modules(*PASSTHROUGH)
    )
    defn = workflow._Definition.must_from_class(workflow_class)
    runner.prepare_workflow(defn)  # first instance: the sandbox's own modules load once
    with modules_executed() as executed:
        runner.prepare_workflow(defn)  # creates a workflow instance in a new sandbox
    assert sorted(set(executed)) == ["workflows", workflow_class.__module__]
