"""staff card media: which of an appeal's photos and whether its place were posted into its staff topic

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-03
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("staff_cards") as batch:
        batch.add_column(sa.Column("last_photo_id", sa.Integer(), nullable=True))
        batch.add_column(sa.Column("place_posted", sa.Boolean(), nullable=False, server_default=sa.false()))


def downgrade() -> None:
    with op.batch_alter_table("staff_cards") as batch:
        batch.drop_column("place_posted")
        batch.drop_column("last_photo_id")
