"""An audit entry's signature meaning ("approved", "verified", "administered"…): what an
electronic signature meant, recorded since staff actions carry verified identities.

Revision ID: 0003_signature_meaning
Revises: 0002_closing_records
Create Date: 2026-12-02
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003_signature_meaning"
down_revision: str | Sequence[str] | None = "0002_closing_records"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # Adding a nullable column rewrites no row: the append-only triggers are not involved.
    op.add_column("audit_entries", sa.Column("meaning", sa.String(40)))


def downgrade() -> None:
    with op.batch_alter_table("audit_entries") as batch:
        batch.drop_column("meaning")
