"""Alembic's environment for the record store: migrate the connection ``store.upgrade`` hands in.

Run programmatically only (``store.upgrade(url)``); there is no alembic.ini to keep in step.
"""

from __future__ import annotations

from alembic import context

from store.schema import metadata

connection = context.config.attributes["connection"]
context.configure(
    connection=connection,
    target_metadata=metadata,
    # SQLite alters a table by copying it: later migrations need batch mode there.
    render_as_batch=connection.dialect.name == "sqlite",
    compare_type=True,
)
with context.begin_transaction():
    context.run_migrations()
