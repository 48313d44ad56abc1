"""staff topics: topic and card per appeal in the staff group; kinds of appeal events; clarification requests

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-03
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "staff_cards",
        sa.Column("appeal_id", sa.Integer(), nullable=False),
        sa.Column("chat_id", sa.String(length=64), nullable=False),
        sa.Column("thread_id", sa.Integer(), nullable=True),
        sa.Column("message_id", sa.String(length=64), nullable=True),
        sa.Column("topic_name", sa.String(length=128), nullable=True),
        sa.Column("topic_closed", sa.Boolean(), nullable=False),
        sa.Column("synced_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("claimed_until", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["appeal_id"], ["appeals.id"], name=op.f("fk_staff_cards_appeal_id_appeals"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("appeal_id", name=op.f("pk_staff_cards")),
    )

    with op.batch_alter_table("appeal_events") as batch:
        batch.add_column(sa.Column("kind", sa.String(length=16), nullable=False, server_default="move"))
    op.execute("UPDATE appeal_events SET kind = 'route' WHERE department IS NOT NULL")
    with op.batch_alter_table("appeal_events") as batch:
        batch.alter_column("kind", server_default=None)
    with op.batch_alter_table("appeals") as batch:
        batch.add_column(sa.Column("clarification_asked_at", sa.DateTime(timezone=True), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("appeals") as batch:
        batch.drop_column("clarification_asked_at")
    with op.batch_alter_table("appeal_events") as batch:
        batch.drop_column("kind")
    op.drop_table("staff_cards")
