"""The record store's schema: Alembic migrations from empty, and append-only tables that
the database itself defends (triggers), on SQLite and on a real PostgreSQL."""

from __future__ import annotations

import ast
import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import inspect, text
from sqlalchemy.exc import DBAPIError

import store
from models.encryption import EncryptionCodec, KeyRing
from models.settings import Settings
from store.centre_trail import CentreTrailStore
from store.migrate import current_revision, head_revision
from store.schema import APPEND_ONLY_TABLES, metadata
from tests.support.store_samples import centre_write, store_pathway
from worker import StoreNotReady, check_store

pytest_plugins = ["tests.support.store_engines"]

PATHWAY = "pathway-centre-a-LUP-001"

SQL_REWRITE = re.compile(r"\bUPDATE\s+\w+\s+SET\b|\bDELETE\s+FROM\b|\bTRUNCATE\s+\w", re.IGNORECASE)


class TestMigrations:
    """Upgrading an empty database reaches the schema the code expects, and upgrading again
    changes nothing (the dev stack upgrades on every start)."""

    def test_upgrade_from_empty(self, database_url: str) -> None:
        assert current_revision(database_url) is None
        store.upgrade(database_url)
        assert current_revision(database_url) == head_revision() == "0005_centre_records"
        store.upgrade(database_url)
        engine = store.make_engine(database_url)
        try:
            with engine.connect() as conn:
                assert set(APPEND_ONLY_TABLES) <= set(inspect(conn).get_table_names())
                context = MigrationContext.configure(conn, opts={"compare_type": True})
                assert compare_metadata(context, metadata) == []
        finally:
            engine.dispose()


class TestDatabaseUrl:
    """Where the store lives: CELLPATH_DATABASE_URL, else an SQLite file in the state dir."""

    def test_default_is_sqlite_under_the_state_dir(self, tmp_path: Path) -> None:
        url = store.database_url({}, state_dir=tmp_path / "state")
        assert url == f"sqlite:///{tmp_path}/state/records.db"
        store.upgrade(url)  # creates the missing directory
        assert (tmp_path / "state" / "records.db").is_file()

    def test_environment_names_postgres_with_psycopg(self) -> None:
        env = {"CELLPATH_DATABASE_URL": "postgresql://cellpath:pw@db.internal:5432/records"}
        assert (
            store.database_url(env) == "postgresql+psycopg://cellpath:pw@db.internal:5432/records"
        )
        assert store.database_url({"CELLPATH_DATABASE_URL": "  "}).startswith("sqlite:///")


class TestAppendOnly:
    """No stored row can be changed or removed, even in SQL typed by hand: a trigger on
    every table refuses UPDATE and DELETE (and TRUNCATE on PostgreSQL), and the record reads back unchanged."""

    @pytest.fixture
    def stored(self, database_url: str) -> Iterator[store.RecordStore]:
        store.upgrade(database_url)
        records = store.RecordStore.open(
            database_url, codec=EncryptionCodec(KeyRing.generate("test"))
        )
        store_pathway(records, "LUP-001", lot="LOT-1")
        CentreTrailStore(records.engine, records.sealer).add(centre_write())
        yield records
        records.dispose()

    def test_database_refuses_update_and_delete(self, stored: store.RecordStore) -> None:
        before = stored.reader.pathway(PATHWAY)
        assert before is not None and before.outcome is not None and before.verify() == []
        for table in APPEND_ONLY_TABLES:
            with stored.engine.connect() as conn:
                assert conn.execute(text(f"SELECT count(*) FROM {table}")).scalar_one() > 0
            column = {"protocol_versions": "version"}.get(
                table, "centre" if table.startswith("centre_") else "pathway_id"
            )
            for statement in (f"UPDATE {table} SET {column} = {column}", f"DELETE FROM {table}"):
                with (
                    pytest.raises(DBAPIError, match="append-only"),
                    stored.engine.begin() as conn,
                ):
                    conn.execute(text(statement))
        if stored.engine.dialect.name == "postgresql":
            with pytest.raises(DBAPIError, match="append-only"), stored.engine.begin() as conn:
                conn.execute(text("TRUNCATE audit_entries"))
        assert stored.reader.pathway(PATHWAY) == before


def test_store_code_has_no_update_or_delete_path() -> None:
    """The repository builds no UPDATE or DELETE: only the migration names them (triggers)."""
    offenders = []
    for path in Path(store.__file__).parent.rglob("*.py"):
        if "migrations" in path.parts:
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            name = (
                node.attr
                if isinstance(node, ast.Attribute)
                else node.id
                if isinstance(node, ast.Name)
                else node.name
                if isinstance(node, ast.alias)
                else None
            )
            if name in ("update", "delete", "Update", "Delete"):
                offenders.append(f"{path.name}:{node.lineno}")  # type: ignore[attr-defined]
            text_node = isinstance(node, ast.Constant) and isinstance(node.value, str)
            if text_node and SQL_REWRITE.search(node.value):  # type: ignore[attr-defined]
                offenders.append(f"{path.name}:{node.lineno}")
    assert offenders == []


def test_worker_refuses_a_store_not_upgraded(
    database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`cellpath worker` starts only on a store at this code's migration: `cellpath db
    upgrade` first (the dev stack upgrades itself)."""
    monkeypatch.setenv("CELLPATH_DATABASE_URL", database_url)
    with pytest.raises(StoreNotReady, match="cellpath db upgrade"):
        check_store(Settings())
    store.upgrade(database_url)
    check_store(Settings())
