"""Bringing a record store's schema up to date with the Alembic migrations shipped in store/.

Usage::

    store.upgrade("sqlite:///.cellpath/records.db")   # or a postgresql:// URL
    store.current_revision(url)                        # "0001_records", None when empty

Upgrading an up-to-date database does nothing, so the dev stack can upgrade on every start.
Alembic is imported when a migration is asked for, not with ``store``: every CLI call and
worker imports the store, and Alembic's import alone cost ~0.5 s of CPU per process.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from store.engine import make_engine

if TYPE_CHECKING:
    from alembic.config import Config

SCRIPT_LOCATION = "store:migrations"


def alembic_config() -> Config:
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", SCRIPT_LOCATION)
    return config


def upgrade(url: str, *, revision: str = "head") -> None:
    """Apply every migration up to ``revision`` (the newest by default)."""
    from alembic import command

    engine = make_engine(url)
    try:
        with engine.begin() as connection:
            config = alembic_config()
            config.attributes["connection"] = connection
            command.upgrade(config, revision)
    finally:
        engine.dispose()


def head_revision() -> str | None:
    """The newest migration shipped with this code."""
    from alembic.script import ScriptDirectory

    return ScriptDirectory.from_config(alembic_config()).get_current_head()


def current_revision(url: str) -> str | None:
    from alembic.migration import MigrationContext

    engine = make_engine(url)
    try:
        with engine.connect() as connection:
            return MigrationContext.configure(connection).get_current_revision()
    finally:
        engine.dispose()
