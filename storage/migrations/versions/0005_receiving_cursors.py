"""receiving cursors: where a platform's update stream was read up to (VK's long poll ts); longer photo ids

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-03
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("appeal_attachments") as batch:  # VK's photos are known by URL, often > 255 chars
        batch.alter_column("platform_file_id", type_=sa.Text(), existing_type=sa.String(length=255))
    op.create_table(
        "receiving_cursors",
        sa.Column("stream", sa.String(length=64), nullable=False),
        sa.Column("position", sa.String(length=64), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("stream", name=op.f("pk_receiving_cursors")),
    )


def downgrade() -> None:
    with op.batch_alter_table("appeal_attachments") as batch:
        batch.alter_column("platform_file_id", type_=sa.String(length=255), existing_type=sa.Text())
    op.drop_table("receiving_cursors")
