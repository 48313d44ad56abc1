"""the appeal keeps the moments of its history the exports show (the last move to accepted, in progress and
closed; the extension), who acted on it and its last rating, so that an export reads one row per appeal instead
of grouping every appeal's whole history and ratings; filled in here from the histories so far

Revision ID: 0016
Revises: 0015
Create Date: 2026-12-04
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0016"
down_revision: str | None = "0015"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

RESIDENT = "resident"  # the resident's own entries are not among the actors (bot.services.appeal_stages)
MOMENTS = {  # column: which entries of the history it is the last of
    "accepted_at": "kind = 'move' AND to_stage = 'accepted'",
    "in_progress_at": "kind = 'move' AND to_stage = 'in_progress'",
    "reached_closed_at": "kind = 'move' AND to_stage = 'closed'",
    "extended_at": "kind = 'extension'",
}
BATCH = 5000  # appeals whose actors are written at a time


def upgrade() -> None:
    with op.batch_alter_table("appeals") as table:
        for column in MOMENTS:
            table.add_column(sa.Column(column, sa.DateTime(timezone=True), nullable=True))
        table.add_column(sa.Column("actors", sa.Text(), server_default="", nullable=False))
        table.add_column(sa.Column("last_score", sa.SmallInteger(), nullable=True))
        table.add_column(sa.Column("last_rated_at", sa.DateTime(timezone=True), nullable=True))
    last = "FROM ratings WHERE id = (SELECT max(id) FROM ratings WHERE appeal_id = appeals.id)"
    values = [
        *(f"{column} = (SELECT max(created_at) FROM appeal_events WHERE appeal_id = appeals.id AND {which})"
          for column, which in MOMENTS.items()),
        f"last_score = (SELECT score {last})",
        f"last_rated_at = (SELECT created_at {last})",
    ]  # fmt: skip
    connection = op.get_bind()
    # Who acted, without repeats and sorted as bot.services.appeals sorts them: by code point, which is the "C"
    # collation's order on PostgreSQL; SQLite's aggregate cannot order, so there they are joined here.
    postgresql = connection.dialect.name == "postgresql"
    if postgresql:
        acted = f"SELECT DISTINCT actor FROM appeal_events WHERE appeal_id = appeals.id AND actor != '{RESIDENT}'"
        aggregate = """string_agg(actor, ', ' ORDER BY actor COLLATE "C")"""
        values.append(f"actors = coalesce((SELECT {aggregate} FROM ({acted}) AS acted), '')")
    connection.execute(sa.text(f"UPDATE appeals SET {', '.join(values)}"))  # one pass: each row written once
    if postgresql:
        return
    rows = connection.execute(
        sa.text("SELECT DISTINCT appeal_id, actor FROM appeal_events WHERE actor != :resident"), {"resident": RESIDENT}
    )
    actors: dict[int, list[str]] = {}
    for appeal_id, actor in rows:
        actors.setdefault(appeal_id, []).append(actor)
    update = sa.text("UPDATE appeals SET actors = :actors WHERE id = :id")
    joined = [{"id": appeal_id, "actors": ", ".join(sorted(names))} for appeal_id, names in actors.items()]
    for start in range(0, len(joined), BATCH):
        connection.execute(update, joined[start : start + BATCH])


def downgrade() -> None:
    with op.batch_alter_table("appeals") as table:
        for column in [*MOMENTS, "actors", "last_score", "last_rated_at"]:
            table.drop_column(column)
