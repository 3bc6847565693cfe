"""The record store's first schema: pathways, their facts, audit chain and incidents.

Every table is append-only: a trigger refuses UPDATE and DELETE (and, on PostgreSQL,
TRUNCATE) on each, so even SQL typed by hand cannot rewrite the record.

Revision ID: 0001_records
Revises:
Create Date: 2026-12-01
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from store.schema import UTCDateTime

revision: str = "0001_records"
down_revision: str | Sequence[str] | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

HASH = sa.String(64)
ID = sa.String(120)
TABLES = (
    "protocol_versions",
    "pathways",
    "audit_entries",
    "incidents",
    "product_events",
    "visits",
    "adverse_events",
    "outcomes",
)
REFUSAL = "cellpath records are append-only"


def _fk(table: str) -> sa.Column[str]:
    return sa.Column(
        "pathway_id",
        ID,
        sa.ForeignKey("pathways.pathway_id", name=f"fk_{table}_pathway_id_pathways"),
        nullable=False,
    )


def _key(table: str, *columns: str) -> sa.PrimaryKeyConstraint:
    return sa.PrimaryKeyConstraint(*columns, name=f"pk_{table}")


def upgrade() -> None:
    op.create_table(
        "protocol_versions",
        sa.Column("content_hash", HASH, nullable=False),
        sa.Column("protocol_id", ID, nullable=False),
        sa.Column("version", sa.String(40), nullable=False),
        sa.Column("body", sa.Text, nullable=False),
        sa.Column("recorded_at", UTCDateTime, nullable=False),
        _key("protocol_versions", "content_hash"),
    )
    op.create_table(
        "pathways",
        sa.Column("pathway_id", ID, nullable=False),
        sa.Column("pseudonym", sa.String(20), nullable=False),
        sa.Column("centre", sa.String(40), nullable=False),
        sa.Column("therapy", sa.String(20), nullable=False),
        sa.Column("age_band", sa.String(10)),
        sa.Column("disease_sealed", sa.LargeBinary, nullable=False),
        sa.Column("binome_sealed", sa.LargeBinary, nullable=False),
        sa.Column("protocol_id", ID, nullable=False),
        sa.Column("protocol_version", sa.String(40), nullable=False),
        sa.Column("protocol_hash", HASH, nullable=False),
        sa.Column("referred_at", UTCDateTime, nullable=False),
        sa.Column("started_at", UTCDateTime, nullable=False),
        _key("pathways", "pathway_id"),
        sa.ForeignKeyConstraint(
            ["protocol_hash"],
            ["protocol_versions.content_hash"],
            name="fk_pathways_protocol_hash_protocol_versions",
        ),
    )
    op.create_index("ix_pathways_pseudonym", "pathways", ["pseudonym"])
    op.create_index("ix_pathways_centre", "pathways", ["centre"])
    op.create_table(
        "audit_entries",
        _fk("audit_entries"),
        sa.Column("seq", sa.Integer, nullable=False, autoincrement=False),
        sa.Column("run", sa.Integer, nullable=False),
        sa.Column("at", UTCDateTime, nullable=False),
        sa.Column("event", sa.String(80), nullable=False),
        sa.Column("role", sa.String(40), nullable=False),
        sa.Column("from_state", sa.String(80), nullable=False),
        sa.Column("to_state", sa.String(80), nullable=False),
        sa.Column("actor_sealed", sa.LargeBinary, nullable=False),
        sa.Column("reason_sealed", sa.LargeBinary, nullable=False),
        sa.Column("update_id_sealed", sa.LargeBinary, nullable=False),
        sa.Column("data_sealed", sa.LargeBinary, nullable=False),
        sa.Column("prev_hash", HASH, nullable=False),
        sa.Column("hash", HASH, nullable=False),
        _key("audit_entries", "pathway_id", "seq"),
    )
    op.create_table(
        "incidents",
        _fk("incidents"),
        sa.Column("run", sa.Integer, nullable=False, autoincrement=False),
        sa.Column("seq", sa.Integer, nullable=False, autoincrement=False),
        sa.Column("at", UTCDateTime, nullable=False),
        sa.Column("kind", sa.String(60), nullable=False),
        sa.Column("summary_sealed", sa.LargeBinary, nullable=False),
        sa.Column("data_sealed", sa.LargeBinary, nullable=False),
        _key("incidents", "pathway_id", "run", "seq"),
    )
    op.create_table(
        "product_events",
        _fk("product_events"),
        sa.Column("run", sa.Integer, nullable=False, autoincrement=False),
        sa.Column("seq", sa.Integer, nullable=False, autoincrement=False),
        sa.Column("at", UTCDateTime, nullable=False),
        sa.Column("kind", sa.String(40), nullable=False),
        sa.Column("coi_id", ID),
        sa.Column("bag_id", ID),
        sa.Column("lot", ID),
        sa.Column("manufacturer", ID),
        sa.Column("storage_location", ID),
        _key("product_events", "pathway_id", "run", "seq"),
    )
    for column in ("coi_id", "bag_id", "lot"):
        op.create_index(f"ix_product_events_{column}", "product_events", [column])
    op.create_table(
        "visits",
        _fk("visits"),
        sa.Column("run", sa.Integer, nullable=False, autoincrement=False),
        sa.Column("seq", sa.Integer, nullable=False, autoincrement=False),
        sa.Column("visit", sa.String(80), nullable=False),
        sa.Column("at", UTCDateTime, nullable=False),
        _key("visits", "pathway_id", "run", "seq"),
    )
    op.create_table(
        "adverse_events",
        _fk("adverse_events"),
        sa.Column("run", sa.Integer, nullable=False, autoincrement=False),
        sa.Column("seq", sa.Integer, nullable=False, autoincrement=False),
        sa.Column("at", UTCDateTime, nullable=False),
        sa.Column("kind", sa.String(40), nullable=False),
        sa.Column("grade", sa.Integer, nullable=False),
        sa.Column("serious", sa.Boolean, nullable=False),
        sa.Column("suspected_unexpected", sa.Boolean, nullable=False),
        sa.Column("life_threatening_or_fatal", sa.Boolean, nullable=False),
        sa.Column("ice_score", sa.Integer),
        sa.Column("detail_sealed", sa.LargeBinary, nullable=False),
        _key("adverse_events", "pathway_id", "run", "seq"),
    )
    op.create_table(
        "outcomes",
        _fk("outcomes"),
        sa.Column("run", sa.Integer, nullable=False),
        sa.Column("closed_at", UTCDateTime, nullable=False),
        sa.Column("outcome", sa.String(40), nullable=False),
        sa.Column("final_state", sa.String(80), nullable=False),
        sa.Column("audit_head_seq", sa.Integer, nullable=False),
        sa.Column("audit_head_hash", HASH, nullable=False),
        _key("outcomes", "pathway_id"),
    )
    op.create_index("ix_outcomes_closed_at", "outcomes", ["closed_at"])
    _append_only(op.get_bind().dialect.name)


def _append_only(dialect: str) -> None:
    if dialect == "postgresql":
        op.execute(
            "CREATE FUNCTION cellpath_append_only() RETURNS trigger LANGUAGE plpgsql AS $$ "
            f"BEGIN RAISE EXCEPTION '{REFUSAL}: % on % refused', TG_OP, TG_TABLE_NAME "
            "USING ERRCODE = 'insufficient_privilege'; END $$"
        )
        for table in TABLES:
            op.execute(
                f"CREATE TRIGGER {table}_append_only BEFORE UPDATE OR DELETE ON {table} "
                "FOR EACH ROW EXECUTE FUNCTION cellpath_append_only()"
            )
            op.execute(
                f"CREATE TRIGGER {table}_no_truncate BEFORE TRUNCATE ON {table} "
                "FOR EACH STATEMENT EXECUTE FUNCTION cellpath_append_only()"
            )
        return
    for table in TABLES:
        for operation in ("UPDATE", "DELETE"):
            op.execute(
                f"CREATE TRIGGER {table}_no_{operation.lower()} BEFORE {operation} ON {table} "
                f"BEGIN SELECT RAISE(ABORT, '{REFUSAL}: {operation} on {table} refused'); END"
            )


def downgrade() -> None:
    # Dropping a table drops its triggers; the record itself is what a downgrade gives up.
    for table in reversed(TABLES):
        op.drop_table(table)
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP FUNCTION cellpath_append_only()")
