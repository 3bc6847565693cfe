"""The closing record: a pathway's record as it stood when it closed (audit trail apart),
so that ``cellpath show`` answers from the store once the closed workflow has expired.

Append-only like every table of 0001 (a trigger refuses UPDATE and DELETE, and TRUNCATE on
PostgreSQL, whose trigger function 0001 created).

Revision ID: 0002_closing_records
Revises: 0001_records
Create Date: 2026-12-02
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002_closing_records"
down_revision: str | Sequence[str] | None = "0001_records"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TABLE = "closing_records"
REFUSAL = "cellpath records are append-only"


def upgrade() -> None:
    op.create_table(
        TABLE,
        sa.Column(
            "pathway_id",
            sa.String(120),
            sa.ForeignKey("pathways.pathway_id", name=f"fk_{TABLE}_pathway_id_pathways"),
            nullable=False,
        ),
        sa.Column("run", sa.Integer, nullable=False),
        sa.Column("record_sealed", sa.LargeBinary, nullable=False),
        sa.PrimaryKeyConstraint("pathway_id", name=f"pk_{TABLE}"),
    )
    if op.get_bind().dialect.name == "postgresql":
        op.execute(
            f"CREATE TRIGGER {TABLE}_append_only BEFORE UPDATE OR DELETE ON {TABLE} "
            "FOR EACH ROW EXECUTE FUNCTION cellpath_append_only()"
        )
        op.execute(
            f"CREATE TRIGGER {TABLE}_no_truncate BEFORE TRUNCATE ON {TABLE} "
            "FOR EACH STATEMENT EXECUTE FUNCTION cellpath_append_only()"
        )
        return
    for operation in ("UPDATE", "DELETE"):
        op.execute(
            f"CREATE TRIGGER {TABLE}_no_{operation.lower()} BEFORE {operation} ON {TABLE} "
            f"BEGIN SELECT RAISE(ABORT, '{REFUSAL}: {operation} on {TABLE} refused'); END"
        )


def downgrade() -> None:
    op.drop_table(TABLE)
