"""The dev stack states its namespace retention (devtools/retention.py) instead of start-dev's
24 hours: what is set is what the namespace then reports."""

from __future__ import annotations

from datetime import timedelta

import pytest
from temporalio.client import Client

from devtools.retention import retention, set_retention

pytestmark = pytest.mark.integration


async def test_retention_is_set_and_read_back(client: Client) -> None:
    before = await retention(client)
    try:
        await set_retention(client, timedelta(days=7))
        assert await retention(client) == timedelta(days=7)
        with pytest.raises(ValueError, match="one day at least"):
            await set_retention(client, timedelta(hours=2))
    finally:
        await set_retention(client, before)
