"""attachment media: downloads of a photo tried, and why it was not kept

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-03
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0011"
down_revision: str | None = "0010"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("appeal_attachments") as batch:
        batch.add_column(sa.Column("media_attempts", sa.Integer(), nullable=False, server_default="0"))
        batch.add_column(sa.Column("media_problem", sa.String(length=64), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("appeal_attachments") as batch:
        batch.drop_column("media_problem")
        batch.drop_column("media_attempts")
