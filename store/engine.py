"""Which database the record store uses, and the SQLAlchemy engine that reaches it.

Usage::

    url = database_url()              # CELLPATH_DATABASE_URL, else sqlite:///.cellpath/records.db
    engine = make_engine(url)

``postgresql://`` URLs are read as ``postgresql+psycopg://`` (psycopg 3, the driver we ship).
SQLite runs with foreign keys on, in WAL mode and with a busy timeout, so a worker and a CLI
can share the file.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import make_url

DATABASE_URL_ENV = "CELLPATH_DATABASE_URL"
DEFAULT_FILE = "records.db"
# A writer waits this long for another writer's lock before SQLite says "database is locked".
SQLITE_BUSY_MS = 10_000


def database_url(
    env: Mapping[str, str] | None = None, *, state_dir: Path = Path(".cellpath")
) -> str:
    """``CELLPATH_DATABASE_URL`` when set, else an SQLite file in the state directory."""
    env = os.environ if env is None else env
    url = env.get(DATABASE_URL_ENV, "").strip()
    if url:
        return normalise_url(url)
    return f"sqlite:///{(state_dir / DEFAULT_FILE).as_posix()}"


def normalise_url(url: str) -> str:
    """Name psycopg 3 as the PostgreSQL driver when the URL names none."""
    parsed = make_url(url)
    if parsed.drivername in ("postgresql", "postgres"):
        parsed = parsed.set(drivername="postgresql+psycopg")
    return parsed.render_as_string(hide_password=False)


def make_engine(url: str) -> Engine:
    """An engine for ``url``; an SQLite file's directory is created when missing."""
    url = normalise_url(url)
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        if parsed.database and parsed.database != ":memory:":
            Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(url)
        event.listen(engine, "connect", _sqlite_pragmas)
        return engine
    return create_engine(url, pool_pre_ping=True)


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_MS}")
    cursor.close()
