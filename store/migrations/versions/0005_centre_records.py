"""A centre's audit trail and alerts: what a centre workflow, which never ends, no longer
carries through continue-as-new (its earlier runs' entries and resolved alerts).

Append-only like every table of 0001 (a trigger refuses UPDATE and DELETE, and TRUNCATE on
PostgreSQL, whose trigger function 0001 created).

Revision ID: 0005_centre_records
Revises: 0004_cosignature
Create Date: 2026-12-02
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from store.schema import UTCDateTime

revision: str = "0005_centre_records"
down_revision: str | Sequence[str] | None = "0004_cosignature"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TABLES = ("centre_audit_entries", "centre_alerts")
REFUSAL = "cellpath records are append-only"
HASH = sa.String(64)
ID = sa.String(120)


def upgrade() -> None:
    op.create_table(
        "centre_audit_entries",
        sa.Column("centre", sa.String(40), nullable=False),
        sa.Column("seq", sa.Integer, nullable=False, autoincrement=False),
        sa.Column("run", sa.Integer, nullable=False),
        sa.Column("at", UTCDateTime, nullable=False),
        sa.Column("event", sa.String(80), nullable=False),
        sa.Column("role", sa.String(40), nullable=False),
        sa.Column("item", ID, nullable=False),
        sa.Column("actor_sealed", sa.LargeBinary, nullable=False),
        sa.Column("reason_sealed", sa.LargeBinary, nullable=False),
        sa.Column("update_id_sealed", sa.LargeBinary, nullable=False),
        sa.Column("data_sealed", sa.LargeBinary, nullable=False),
        sa.Column("prev_hash", HASH, nullable=False),
        sa.Column("hash", HASH, nullable=False),
        sa.PrimaryKeyConstraint("centre", "seq", name="pk_centre_audit_entries"),
    )
    op.create_table(
        "centre_alerts",
        sa.Column("centre", sa.String(40), nullable=False),
        sa.Column("seq", sa.Integer, nullable=False, autoincrement=False),
        sa.Column("run", sa.Integer, nullable=False),
        sa.Column("at", UTCDateTime, nullable=False),
        sa.Column("kind", sa.String(20), nullable=False),
        sa.Column("item", ID, nullable=False),
        sa.Column("valid_until", UTCDateTime),
        sa.Column("therapies", sa.String(80), nullable=False),
        sa.Column("label_sealed", sa.LargeBinary, nullable=False),
        sa.PrimaryKeyConstraint("centre", "seq", name="pk_centre_alerts"),
    )
    for table in TABLES:
        if op.get_bind().dialect.name == "postgresql":
            op.execute(
                f"CREATE TRIGGER {table}_append_only BEFORE UPDATE OR DELETE ON {table} "
                "FOR EACH ROW EXECUTE FUNCTION cellpath_append_only()"
            )
            op.execute(
                f"CREATE TRIGGER {table}_no_truncate BEFORE TRUNCATE ON {table} "
                "FOR EACH STATEMENT EXECUTE FUNCTION cellpath_append_only()"
            )
            continue
        for operation in ("UPDATE", "DELETE"):
            op.execute(
                f"CREATE TRIGGER {table}_no_{operation.lower()} BEFORE {operation} ON {table} "
                f"BEGIN SELECT RAISE(ABORT, '{REFUSAL}: {operation} on {table} refused'); END"
            )


def downgrade() -> None:
    for table in reversed(TABLES):
        op.drop_table(table)
