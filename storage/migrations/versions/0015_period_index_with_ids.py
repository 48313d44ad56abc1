"""the period index carries the appeal's id on PostgreSQL: exports and reports join a period's appeals to their
events and ratings by id, which then comes from the index alone (SQLite's indexes hold the row id already)

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-04
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0015"
down_revision: str | None = "0014"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

FIGURES = ["category", "department", "first_response_hours", "first_response_at", "first_response_due_at",
           "answered_at", "resolution_due_at"]  # fmt: skip


def upgrade() -> None:
    _period_index(["id", *FIGURES])


def downgrade() -> None:
    _period_index(FIGURES)


def _period_index(include: list[str]) -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    op.drop_index("ix_appeals_created_at", table_name="appeals")
    op.create_index("ix_appeals_created_at", "appeals", ["created_at"], postgresql_include=include)
