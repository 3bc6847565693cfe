"""The worker's memory bound is a setting (docs/performance.md, "At rest")."""

from __future__ import annotations

import pytest
from pydantic import ValidationError
from temporalio.client import Client

from models.settings import DEFAULT_WORKFLOW_CACHE, Settings
from worker import build_worker


def test_the_workflow_cache_defaults_to_the_documented_bound() -> None:
    assert Settings.from_env({}).workflow_cache == DEFAULT_WORKFLOW_CACHE == 250


def test_the_workflow_cache_comes_from_the_environment() -> None:
    assert Settings.from_env({"CELLPATH_WORKFLOW_CACHE": "40"}).workflow_cache == 40


@pytest.mark.parametrize("value", ["0", "-5", "many"])
def test_a_workflow_cache_that_cannot_work_is_refused(value: str) -> None:
    with pytest.raises(ValidationError, match="workflow_cache"):
        Settings.from_env({"CELLPATH_WORKFLOW_CACHE": value})


@pytest.mark.integration
async def test_the_worker_keeps_the_cache_it_is_given(client: Client) -> None:
    worker = build_worker(client, "cache-setting", activities=[], max_cached_workflows=40)
    assert worker.config()["max_cached_workflows"] == 40
