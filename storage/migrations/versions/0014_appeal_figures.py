"""appeal figures: each appeal's first-response time in working hours, kept once worked out, and an index for
periods of appeals

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-03
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0014"
down_revision: str | None = "0013"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

UNSETTLED = sa.text("first_response_at IS NOT NULL AND first_response_hours IS NULL")


def upgrade() -> None:
    with op.batch_alter_table("appeals") as batch:
        batch.add_column(sa.Column("first_response_hours", sa.Float(), nullable=True))
    op.create_index(op.f("ix_appeals_created_at"), "appeals", ["created_at"])
    op.create_index("ix_appeals_unsettled", "appeals", ["id"], postgresql_where=UNSETTLED, sqlite_where=UNSETTLED)


def downgrade() -> None:
    op.drop_index("ix_appeals_unsettled", table_name="appeals")
    op.drop_index(op.f("ix_appeals_created_at"), table_name="appeals")
    with op.batch_alter_table("appeals") as batch:
        batch.drop_column("first_response_hours")
