"""faq item events: answers shown and rated helpful or not, per FAQ item, without who

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-03
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "faq_item_events",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("item_id", sa.String(length=64), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_faq_item_events")),
    )
    op.create_index(op.f("ix_faq_item_events_item_id"), "faq_item_events", ["item_id"])
    op.create_index(op.f("ix_faq_item_events_created_at"), "faq_item_events", ["created_at"])


def downgrade() -> None:
    op.drop_index(op.f("ix_faq_item_events_created_at"), table_name="faq_item_events")
    op.drop_index(op.f("ix_faq_item_events_item_id"), table_name="faq_item_events")
    op.drop_table("faq_item_events")
