"""appeal figures and search: each appeal's first-response time in working hours, kept once worked out; an index
for periods of appeals; on PostgreSQL, trigram indexes (pg_trgm) for staff's search by any part of a text

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-03
"""

import logging
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

log = logging.getLogger("storage.migrations")

revision: str = "0014"
down_revision: str | None = "0013"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TRIGRAMS = ("number", "description")
FIGURES = ["category", "department", "first_response_hours", "first_response_at", "first_response_due_at",
           "answered_at", "resolution_due_at"]  # fmt: skip
UNSETTLED = sa.text("first_response_at IS NOT NULL AND first_response_hours IS NULL")


def upgrade() -> None:
    with op.batch_alter_table("appeals") as batch:
        batch.add_column(sa.Column("first_response_hours", sa.Float(), nullable=True))
    # What the reports count rides in the index on PostgreSQL: a period's figures are read from the index alone.
    op.create_index("ix_appeals_created_at", "appeals", ["created_at"], postgresql_include=FIGURES)
    op.create_index("ix_appeals_unsettled", "appeals", ["id"], postgresql_where=UNSETTLED, sqlite_where=UNSETTLED)
    bind = op.get_bind()
    if bind.dialect.name == "postgresql" and _trigrams(bind):
        for column in TRIGRAMS:
            op.create_index(f"ix_appeals_{column}_trigrams", "appeals", [column], postgresql_using="gin",
                            postgresql_ops={column: "gin_trgm_ops"})  # fmt: skip


def _trigrams(bind: sa.Connection) -> bool:
    """Whether pg_trgm is there, creating it if we may: it ships with PostgreSQL, and since version 13 a database's
    owner may create it. A database user who may not goes on without the indexes: the search reads the table."""
    try:
        with bind.begin_nested():
            bind.exec_driver_sql("CREATE EXTENSION IF NOT EXISTS pg_trgm")
    except sa.exc.DBAPIError as exc:
        driver_error = exc.orig.__cause__ if exc.orig is not None else None  # asyncpg's, under the DB-API one
        log.warning("pg_trgm could not be created (%s): the staff's search works without its indexes, only slower; "
                    "the README (Database) says how to add them later",
                    type(driver_error or exc.orig or exc).__name__)  # fmt: skip
        return False
    return True


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        for column in TRIGRAMS:
            op.drop_index(f"ix_appeals_{column}_trigrams", table_name="appeals")
    op.drop_index("ix_appeals_unsettled", table_name="appeals")
    op.drop_index("ix_appeals_created_at", table_name="appeals")
    with op.batch_alter_table("appeals") as batch:
        batch.drop_column("first_response_hours")
