"""An audit entry's co-signer (the second person of a two-person action: staff ID sealed like
the actor's, the role they co-signed in, the co-signature's meaning) and the audit chain
version that sealed it (models/audit.py: 2 hashes the meanings and the co-signer; rows
written before have none, and are version 1).

Revision ID: 0004_cosignature
Revises: 0003_signature_meaning
Create Date: 2026-12-02
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004_cosignature"
down_revision: str | Sequence[str] | None = "0003_signature_meaning"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_COLUMNS = ("cosigner_sealed", "cosigner_role", "cosigner_meaning", "chain")


def upgrade() -> None:
    # Adding nullable columns rewrites no row: the append-only triggers are not involved.
    op.add_column("audit_entries", sa.Column("cosigner_sealed", sa.LargeBinary()))
    op.add_column("audit_entries", sa.Column("cosigner_role", sa.String(40)))
    op.add_column("audit_entries", sa.Column("cosigner_meaning", sa.String(40)))
    op.add_column("audit_entries", sa.Column("chain", sa.Integer()))


def downgrade() -> None:
    with op.batch_alter_table("audit_entries") as batch:
        for name in _COLUMNS:
            batch.drop_column(name)
