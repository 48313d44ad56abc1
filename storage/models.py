"""SQLAlchemy 2 typed models: the database schema of residents, dialogs, appeals, outbox and FAQ misses."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    CheckConstraint,
    DateTime,
    Dialect,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    SmallInteger,
    String,
    Text,
    TypeDecorator,
    UniqueConstraint,
    text,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship


def utcnow() -> datetime:
    return datetime.now(UTC)


class UTCDateTime(TypeDecorator[datetime]):
    """A timestamp stored in UTC and always read back timezone-aware, on SQLite as on PostgreSQL."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given; pass a timezone-aware one")
        return value.astimezone(UTC)

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)
    type_annotation_map = {datetime: UTCDateTime(), dict[str, Any]: JSON()}  # noqa: RUF012 (SQLAlchemy's API)


class Resident(Base):
    """A person writing to the bot from one platform account."""

    __tablename__ = "residents"
    __table_args__ = (UniqueConstraint("platform", "platform_user_id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    platform: Mapped[str] = mapped_column(String(16))
    platform_user_id: Mapped[str] = mapped_column(String(64))
    display_name: Mapped[str | None] = mapped_column(String(255))
    consent_given_at: Mapped[datetime | None]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    last_seen_at: Mapped[datetime] = mapped_column(default=utcnow)
    erased_at: Mapped[datetime | None]  # personal data erased (at their request, or after the retention period)


class DialogState(Base):
    """Where a resident is in a conversation (a wizard step and its data); survives restarts."""

    __tablename__ = "dialog_states"

    resident_id: Mapped[int] = mapped_column(ForeignKey("residents.id", ondelete="CASCADE"), primary_key=True)
    state: Mapped[str | None] = mapped_column(String(64))
    data: Mapped[dict[str, Any]] = mapped_column(default=dict)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)


# The columns the reports' figures are worked out from (bot.report), besides created_at.
FIGURES = ["category", "department", "first_response_hours", "first_response_at", "first_response_due_at",
           "answered_at", "resolution_due_at"]  # fmt: skip
# Appeals whose first-response time in working hours is still to be worked out.
UNSETTLED = text("first_response_at IS NOT NULL AND first_response_hours IS NULL")


class Appeal(Base):
    """A resident's appeal to the authority, with its current stage, routing and deadlines."""

    __tablename__ = "appeals"
    __table_args__ = (
        Index("ix_appeals_resident_created", "resident_id", "created_at"),
        Index("ix_appeals_unsettled", "id", postgresql_where=UNSETTLED, sqlite_where=UNSETTLED),
        # Appeals of a period; on PostgreSQL it also holds their ids (to join their events, for the exports) and
        # what the reports count, so they read the index only.
        Index("ix_appeals_created_at", "created_at", postgresql_include=["id", *FIGURES]),
        # Staff search by any part of the text or number (ILIKE '%...%'): trigram indexes, PostgreSQL only.
        *(
            Index(
                f"ix_appeals_{column}_trigrams", column, postgresql_using="gin", postgresql_ops={column: "gin_trgm_ops"}
            ).ddl_if(dialect="postgresql")
            for column in ("number", "description")
        ),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    number: Mapped[str] = mapped_column(String(32), unique=True)
    resident_id: Mapped[int] = mapped_column(ForeignKey("residents.id", ondelete="RESTRICT"))
    category: Mapped[str] = mapped_column(String(64))
    department: Mapped[str] = mapped_column(String(64), index=True)
    stage: Mapped[str] = mapped_column(String(20), index=True)
    description: Mapped[str] = mapped_column(Text)
    address: Mapped[str | None] = mapped_column(Text)
    latitude: Mapped[float | None] = mapped_column(Float)
    longitude: Mapped[float | None] = mapped_column(Float)
    phone: Mapped[str | None] = mapped_column(String(32))
    answer_text: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)
    first_response_due_at: Mapped[datetime | None]
    resolution_due_at: Mapped[datetime | None]
    first_response_at: Mapped[datetime | None]
    # Working hours from created_at to first_response_at, worked out once by the reports (bot.report.settle)
    first_response_hours: Mapped[float | None] = mapped_column(Float)
    clarification_asked_at: Mapped[datetime | None]  # staff wait for the resident: the first-response clock stops
    answered_at: Mapped[datetime | None]  # the last move to `answered`
    closed_at: Mapped[datetime | None]  # the last move to a final stage (closed or rejected)
    # The rest of the history the exports show, kept here as the history grows (bot.services.appeals, .ratings),
    # so that they read one row per appeal however long its history: the last move to `accepted`, to
    # `in_progress` and to `closed`, when the resolution deadline was extended, who acted besides the resident
    # (sorted, ", "), and the last rating's score and moment.
    accepted_at: Mapped[datetime | None]
    in_progress_at: Mapped[datetime | None]
    reached_closed_at: Mapped[datetime | None]
    extended_at: Mapped[datetime | None]
    actors: Mapped[str] = mapped_column(Text, server_default="")
    last_score: Mapped[int | None] = mapped_column(SmallInteger)
    last_rated_at: Mapped[datetime | None]

    attachments: Mapped[list[AppealAttachment]] = relationship(
        back_populates="appeal", cascade="all, delete-orphan", order_by="AppealAttachment.id"
    )
    events: Mapped[list[AppealEvent]] = relationship(
        back_populates="appeal", cascade="all, delete-orphan", order_by="AppealEvent.id"
    )
    ratings: Mapped[list[Rating]] = relationship(cascade="all, delete-orphan", order_by="Rating.id")


class AppealCounter(Base):
    """The last appeal number given out in a year: numbers run А-2026-000001, А-2026-000002, ..."""

    __tablename__ = "appeal_counters"

    year: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    last_number: Mapped[int] = mapped_column(Integer)


class AppealAttachment(Base):
    """A photo attached to an appeal: the platform's file id and, once downloaded, its media path."""

    __tablename__ = "appeal_attachments"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    appeal_id: Mapped[int] = mapped_column(ForeignKey("appeals.id", ondelete="CASCADE"), index=True)
    platform: Mapped[str] = mapped_column(String(16))
    platform_file_id: Mapped[str] = mapped_column(Text)  # Telegram's file_id; VK: the URL of the largest size
    media_path: Mapped[str | None] = mapped_column(String(512))  # in the media store, once downloaded
    media_attempts: Mapped[int] = mapped_column(Integer, default=0)  # downloads that failed for a passing reason
    media_problem: Mapped[str | None] = mapped_column(String(64))  # why it is not kept (too big, not an image)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    appeal: Mapped[Appeal] = relationship(back_populates="attachments")


class AppealEvent(Base):
    """One entry of an appeal's history: a stage move or a comment, by whom and for whose eyes."""

    __tablename__ = "appeal_events"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    appeal_id: Mapped[int] = mapped_column(ForeignKey("appeals.id", ondelete="CASCADE"), index=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    actor: Mapped[str] = mapped_column(String(128))
    from_stage: Mapped[str | None] = mapped_column(String(20))
    to_stage: Mapped[str] = mapped_column(String(20))
    department: Mapped[str | None] = mapped_column(String(64))  # set when the appeal was routed there
    comment: Mapped[str | None] = mapped_column(Text)
    visible_to_resident: Mapped[bool] = mapped_column(Boolean, default=True)
    # "move" (a stage move, or the creation), "route" (to another department), "message" (a staff note, a staff
    # message to the resident, the resident's addition), "extension" (the resolution deadline moved, 59-FZ)
    kind: Mapped[str] = mapped_column(String(16), default="move")

    appeal: Mapped[Appeal] = relationship(back_populates="events")


class Rating(Base):
    """A resident's satisfaction with an answer: 1 to 5 with an optional comment."""

    __tablename__ = "ratings"
    __table_args__ = (CheckConstraint("score BETWEEN 1 AND 5", name="score_range"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    appeal_id: Mapped[int] = mapped_column(ForeignKey("appeals.id", ondelete="CASCADE"), index=True)
    score: Mapped[int] = mapped_column(SmallInteger)
    comment: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class OutboxMessage(Base):
    """A message to deliver to a resident or to staff, committed with the change that caused it (transactional
    outbox): a notice, or a reply to what a resident just did.

    A process that claimed a message writes its token into `claimed_by`, and `due_at` is then the lease: past it,
    another process may take the message over. A message waiting for a retry has no claimant and its retry time
    in `due_at`. A chat's messages go out in the order of their ids.
    """

    __tablename__ = "outbox"
    __table_args__ = (
        Index("ix_outbox_status_due", "status", "due_at"),
        Index("ix_outbox_chat", "platform", "chat_id", "status"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    kind: Mapped[str] = mapped_column(String(16), default="notice")  # "notice" or "reply"
    platform: Mapped[str] = mapped_column(String(16))
    chat_id: Mapped[str] = mapped_column(String(64))
    text: Mapped[str] = mapped_column(Text)
    buttons: Mapped[list[Any] | None] = mapped_column(JSON)
    edit_message_id: Mapped[str | None] = mapped_column(String(64))  # a reply that updates an earlier message
    claimed_by: Mapped[str | None] = mapped_column(String(32))
    appeal_id: Mapped[int | None] = mapped_column(ForeignKey("appeals.id", ondelete="SET NULL"), index=True)
    status: Mapped[str] = mapped_column(String(16), default="pending")
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    last_error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    due_at: Mapped[datetime] = mapped_column(default=utcnow)
    sent_at: Mapped[datetime | None]


class ProcessedUpdate(Base):
    """A platform update whose changes were committed (Telegram's `update_id`, VK's `event_id`): written in the
    update's own transaction, so a re-delivered update is recognised, even after a crash, and not run twice."""

    __tablename__ = "processed_updates"

    platform: Mapped[str] = mapped_column(String(16), primary_key=True)
    update_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    processed_at: Mapped[datetime] = mapped_column(default=utcnow, index=True)


class ReceivingCursor(Base):
    """How far a platform's stream of updates has been handled and committed (VK's long poll `ts`), so that a
    restart reads on from there instead of losing what arrived meanwhile."""

    __tablename__ = "receiving_cursors"

    stream: Mapped[str] = mapped_column(String(64), primary_key=True)  # e.g. "vk:<community id>"
    position: Mapped[str] = mapped_column(String(64))
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)


class StaffCard(Base):
    """An appeal's place in the staff group: its forum topic and the card message in it, and the appeal's
    `updated_at` the card last showed (an appeal changed since then needs its card brought up to date)."""

    __tablename__ = "staff_cards"

    appeal_id: Mapped[int] = mapped_column(ForeignKey("appeals.id", ondelete="CASCADE"), primary_key=True)
    chat_id: Mapped[str] = mapped_column(String(64))
    thread_id: Mapped[int | None] = mapped_column(Integer)
    message_id: Mapped[str | None] = mapped_column(String(64))
    topic_name: Mapped[str | None] = mapped_column(String(128))
    topic_closed: Mapped[bool] = mapped_column(Boolean, default=False)
    last_photo_id: Mapped[int | None] = mapped_column(Integer)  # the appeal's photos up to this one are posted
    place_posted: Mapped[bool] = mapped_column(Boolean, default=False)  # the map pin of the appeal's place
    synced_at: Mapped[datetime | None]
    claimed_until: Mapped[datetime | None]  # a process is bringing the card up to date until then


class AppealReminder(Base):
    """A one-off reminder or automatic step taken for an appeal (rating reminder, deadline alert, auto-close).

    The unique (appeal, kind) pair is how several processes agree that it happens once: whoever inserts the
    row does the work.
    """

    __tablename__ = "appeal_reminders"
    __table_args__ = (UniqueConstraint("appeal_id", "kind"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    appeal_id: Mapped[int] = mapped_column(ForeignKey("appeals.id", ondelete="CASCADE"))
    kind: Mapped[str] = mapped_column(String(32))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class ApiToken(Base):
    """A bearer token of the HTTP API (and an Open311 `api_key`): stored as its SHA-256 only, revocable."""

    __tablename__ = "api_tokens"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(64), unique=True)
    scope: Mapped[str] = mapped_column(String(8))  # "read" or "write"
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    revoked_at: Mapped[datetime | None]


class WebLogin(Base):
    """A one-time sign-in link of the dashboard, for a staff member; stored as its hash, short-lived."""

    __tablename__ = "web_logins"

    token_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    member_id: Mapped[int] = mapped_column(Integer)  # the staff member's Telegram user id (0: the console's admin)
    expires_at: Mapped[datetime]
    used_at: Mapped[datetime | None]


class WebSession(Base):
    """A signed-in browser of the dashboard: its cookie's hash, who it is, and the form token against CSRF."""

    __tablename__ = "web_sessions"

    session_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    member_id: Mapped[int] = mapped_column(Integer)
    csrf: Mapped[str] = mapped_column(String(64))
    expires_at: Mapped[datetime]


class SendSlot(Base):
    """When the next message may go, for one key (a platform overall, or one chat): the sending limits that
    several worker processes keep together (`bot.notifier.SharedRateLimiter`)."""

    __tablename__ = "send_slots"

    key: Mapped[str] = mapped_column(String(96), primary_key=True)
    next_at: Mapped[float] = mapped_column(Float)  # seconds since the epoch


class FaqItemEvent(Base):
    """An FAQ answer shown to a resident, or rated by them helpful or not: counted per item for admins (`faq
    stats`), stored without who it was."""

    __tablename__ = "faq_item_events"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    item_id: Mapped[str] = mapped_column(String(64), index=True)
    kind: Mapped[str] = mapped_column(String(16))  # "view", "helpful" or "unhelpful"
    created_at: Mapped[datetime] = mapped_column(default=utcnow, index=True)


class UnmatchedQuestion(Base):
    """A resident's question the FAQ had no confident answer for, kept for admins to extend the FAQ."""

    __tablename__ = "unmatched_questions"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    text: Mapped[str] = mapped_column(Text)
    normalized: Mapped[str] = mapped_column(Text, index=True)
    platform: Mapped[str | None] = mapped_column(String(16))
    best_item_id: Mapped[str | None] = mapped_column(String(64))
    best_score: Mapped[float | None] = mapped_column(Float)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
