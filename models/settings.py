"""Where the worker and the CLI find Temporal, from the environment.

Connection settings (address, namespace, TLS, API key) come from ``temporalio.envconfig``:
``TEMPORAL_ADDRESS``, ``TEMPORAL_NAMESPACE``, ``TEMPORAL_API_KEY``, ``TEMPORAL_TLS_*``,
``TEMPORAL_PROFILE`` and ``TEMPORAL_CONFIG_FILE`` work exactly as for the ``temporal`` CLI,
so one worker serves the dev server, a self-hosted cluster or Temporal Cloud.
cellpath's own settings use the ``CELLPATH_`` prefix.
"""

from __future__ import annotations

import os
from pathlib import Path

from pydantic import BaseModel

DEFAULT_TASK_QUEUE = "cellpath-pathways"


class Settings(BaseModel):
    task_queue: str = DEFAULT_TASK_QUEUE
    state_dir: Path = Path(".cellpath")
    dev_port: int = 7233
    dev_ui_port: int = 8233
    demo_seconds_per_day: float = 6.0
    log_format: str = "auto"

    @classmethod
    def from_env(cls, env: dict[str, str] | None = None) -> Settings:
        env = dict(os.environ) if env is None else env
        values: dict[str, str] = {}
        for field in cls.model_fields:
            key = f"CELLPATH_{field.upper()}"
            if key in env:
                values[field] = env[key]
        return cls.model_validate(values)
