"""appeal counters and routing events

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-26
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "appeal_counters",
        sa.Column("year", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("last_number", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("year", name=op.f("pk_appeal_counters")),
    )
    with op.batch_alter_table("appeal_events", schema=None) as batch_op:
        batch_op.add_column(sa.Column("department", sa.String(length=64), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("appeal_events", schema=None) as batch_op:
        batch_op.drop_column("department")

    op.drop_table("appeal_counters")
