"""Repositories: the only code that builds queries, one small class per aggregate."""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from operator import itemgetter
from typing import Any, NamedTuple, cast

from sqlalchemy import (
    Boolean,
    ColumnElement,
    CursorResult,
    and_,
    case,
    delete,
    exists,
    func,
    insert,
    literal,
    literal_column,
    or_,
    select,
    type_coerce,
    update,
)
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import aliased, selectinload

from storage.aggregates import local_time, percentile, seconds_between
from storage.models import (
    UNSETTLED,
    ApiToken,
    Appeal,
    AppealAttachment,
    AppealCounter,
    AppealEvent,
    AppealReminder,
    DialogState,
    FaqItemEvent,
    OutboxMessage,
    ProcessedUpdate,
    Rating,
    ReceivingCursor,
    Resident,
    SendSlot,
    StaffCard,
    UnmatchedQuestion,
    UTCDateTime,
    WebLogin,
    WebSession,
    utcnow,
)

MAX_STORED_QUESTION = 2000
IDS_PER_QUERY = 5000  # ids in one IN list, well within the drivers' limits on bound parameters
LAST_SEEN_PRECISION = timedelta(hours=1)


async def _add_first(session: AsyncSession, row: object) -> bool:
    """Insert a row in a savepoint; False if a unique constraint shows another transaction inserted it first
    (the surrounding transaction goes on either way)."""
    try:
        async with session.begin_nested():
            session.add(row)
    except IntegrityError:
        return False
    return True


ERASED_TEXT = "[удалено]"  # what an erased text of an appeal reads as, for staff and reports


@dataclass(slots=True)
class ResidentProfile:
    """A resident as every update needs them, apart from any session, so that it can be kept between updates.

    `id` is None while the resident is not stored: nothing is kept of someone who has not consented to the
    processing of their data (they read the menu, ask questions, or refuse); their dialog lives in memory only.
    """

    id: int | None
    display_name: str | None
    consent_given_at: datetime | None
    last_seen_at: datetime

    def seen(self, now: datetime, display_name: str | None) -> None:
        """Note a message: the last-seen time at most hourly (not a write on every message), and the name the
        platform shows, which is personal data and so kept only once the resident has consented to processing."""
        if self.consent_given_at is not None and display_name and self.display_name != display_name:
            self.display_name = display_name
        if now - self.last_seen_at >= LAST_SEEN_PRECISION:
            self.last_seen_at = now


@dataclass(frozen=True, slots=True)
class Conversation:
    """A resident and the dialog step they are at, with what the dialog has gathered."""

    profile: ResidentProfile
    state: str | None
    data: dict[str, Any]


class ResidentRepository:
    def __init__(self, session: AsyncSession) -> None:
        self._session = session

    async def get(self, resident_id: int) -> Resident | None:
        return await self._session.get(Resident, resident_id)

    async def conversation(self, platform: str, platform_user_id: str, *, now: datetime | None = None) -> Conversation:
        """The resident's profile and dialog, in one query, their row locked until the transaction ends (another
        process handling the same resident's next update waits: a double press files one appeal); for a
        resident not stored, a blank one."""
        # The lock first, then the read: a read in the locking statement would see the dialog as it was before
        # the other transaction's commit (PostgreSQL re-reads only the locked row).
        await self._session.execute(
            select(Resident.id)
            .where(Resident.platform == platform, Resident.platform_user_id == platform_user_id)
            .with_for_update()
        )
        found = await self._find_conversation(platform, platform_user_id)
        if found is not None:
            return found
        return Conversation(ResidentProfile(None, None, None, now or utcnow()), None, {})

    async def add(self, platform: str, platform_user_id: str, profile: ResidentProfile) -> int:
        """Store a resident with the profile's values and return their id; should a parallel update have stored
        them first, the profile is written over that row."""
        resident = Resident(
            platform=platform,
            platform_user_id=platform_user_id,
            display_name=profile.display_name,
            consent_given_at=profile.consent_given_at,
            created_at=profile.last_seen_at,
            last_seen_at=profile.last_seen_at,
        )
        if await _add_first(self._session, resident):
            return resident.id
        found = await self._find_conversation(platform, platform_user_id)
        if found is None or found.profile.id is None:
            raise LookupError(f"resident {platform}:{platform_user_id} neither inserted nor found")
        await self.save_profile(dataclasses.replace(profile, id=found.profile.id))
        return found.profile.id

    async def _find_conversation(self, platform: str, platform_user_id: str) -> Conversation | None:
        query = (
            select(
                Resident.id,
                Resident.display_name,
                Resident.consent_given_at,
                Resident.last_seen_at,
                DialogState.state,
                DialogState.data,
            )
            .outerjoin(DialogState)
            .where(Resident.platform == platform, Resident.platform_user_id == platform_user_id)
        )
        row = (await self._session.execute(query)).one_or_none()
        if row is None:
            return None
        resident_id, display_name, consent_given_at, last_seen_at, state, data = row
        return Conversation(
            ResidentProfile(resident_id, display_name, consent_given_at, last_seen_at), state, data or {}
        )

    async def erase(self, resident: Resident, now: datetime) -> None:
        """Forget who the resident is: their messenger id (so messages from it start afresh), name, consent,
        dialog, and messages to them not delivered yet."""
        await self._session.execute(
            delete(OutboxMessage).where(
                OutboxMessage.platform == resident.platform,
                OutboxMessage.chat_id == resident.platform_user_id,
                OutboxMessage.sent_at.is_(None),
            )
        )
        await self._session.execute(delete(DialogState).where(DialogState.resident_id == resident.id))
        resident.platform_user_id = f"erased:{resident.id}"
        resident.display_name = None
        resident.consent_given_at = None
        resident.erased_at = now

    async def dormant(self, before: datetime, finished_stages: Sequence[str], limit: int) -> list[int]:
        """Residents not erased, not seen since `before`, whose appeals are all finished and unchanged since."""
        recent = (
            select(Appeal.id)
            .where(
                Appeal.resident_id == Resident.id,
                or_(Appeal.updated_at >= before, Appeal.stage.not_in(finished_stages)),
            )
            .exists()
        )
        query = (
            select(Resident.id)
            .where(Resident.erased_at.is_(None), Resident.last_seen_at < before, ~recent)
            .order_by(Resident.id)
            .limit(limit)
        )
        return list((await self._session.execute(query)).scalars())

    async def save_profile(self, profile: ResidentProfile) -> None:
        if profile.id is None:
            raise ValueError("a resident not stored yet is stored with add()")
        await self._session.execute(
            update(Resident)
            .where(Resident.id == profile.id)
            .values(
                display_name=profile.display_name,
                consent_given_at=profile.consent_given_at,
                last_seen_at=profile.last_seen_at,
            )
        )


class AppealRepository:
    def __init__(self, session: AsyncSession) -> None:
        self._session = session

    def add(self, appeal: Appeal) -> None:
        self._session.add(appeal)

    async def next_number(self, year: int) -> int:
        """The next sequence number of the year; concurrent callers get distinct numbers."""
        bump = (
            update(AppealCounter)
            .where(AppealCounter.year == year)
            .values(last_number=AppealCounter.last_number + 1)
            .returning(AppealCounter.last_number)
        )
        number = (await self._session.execute(bump)).scalar_one_or_none()
        if number is not None:
            return number
        if await _add_first(self._session, AppealCounter(year=year, last_number=1)):
            return 1
        return (await self._session.execute(bump)).scalar_one()  # another transaction started the year first

    async def add_event(self, event: AppealEvent) -> int:
        """Record an event of an appeal; returns its id."""
        self._session.add(event)
        await self._session.flush()
        return event.id

    async def event(self, event_id: int) -> AppealEvent | None:
        return await self._session.get(AppealEvent, event_id)

    async def get(self, appeal_id: int) -> Appeal | None:
        query = select(Appeal).where(Appeal.id == appeal_id).options(*_appeal_details())
        return (await self._session.execute(query)).scalar_one_or_none()

    async def by_number(self, number: str) -> Appeal | None:
        """The appeal with this number, whoever's it is (for staff)."""
        query = select(Appeal).where(Appeal.number == number).options(*_appeal_details())
        return (await self._session.execute(query)).scalar_one_or_none()

    async def owned_by(self, resident_id: int, number: str) -> Appeal | None:
        """The appeal with this number if it is this resident's, else None."""
        query = (
            select(Appeal).where(Appeal.number == number, Appeal.resident_id == resident_id).options(*_appeal_details())
        )
        return (await self._session.execute(query)).scalar_one_or_none()

    async def in_full(
        self, resident_id: int | None = None, finished_before: datetime | None = None, limit: int | None = None
    ) -> list[Appeal]:
        """Appeals with their history, photos and ratings: a resident's, or those finished (closed, rejected,
        redirected) before a moment whose texts are not erased yet; oldest first."""
        query = select(Appeal).options(*_appeal_details(), selectinload(Appeal.ratings))
        if resident_id is not None:
            query = query.where(Appeal.resident_id == resident_id)
        if finished_before is not None:
            query = query.where(Appeal.closed_at < finished_before, Appeal.description != ERASED_TEXT)
        return list((await self._session.execute(query.order_by(Appeal.created_at, Appeal.id).limit(limit))).scalars())

    async def of_resident(self, resident_id: int, limit: int = 10, offset: int = 0) -> list[Appeal]:
        """A page of a resident's appeals, newest first."""
        query = (
            select(Appeal)
            .where(Appeal.resident_id == resident_id)
            .order_by(Appeal.created_at.desc(), Appeal.id.desc())
            .limit(limit)
            .offset(offset)
        )
        return list((await self._session.execute(query)).scalars())

    async def attachments_to_keep(self, platforms: Sequence[str], max_tries: int, limit: int) -> list[AppealAttachment]:
        """Photos not in the media store yet, nor refused, from these platforms, oldest first."""
        query = (
            select(AppealAttachment)
            .where(
                AppealAttachment.media_path.is_(None),
                AppealAttachment.media_problem.is_(None),
                AppealAttachment.media_attempts < max_tries,
                AppealAttachment.platform.in_(platforms),
            )
            .order_by(AppealAttachment.id)
            .limit(limit)
        )
        return list((await self._session.execute(query)).scalars())

    async def attachments_with_ids(self, ids: Sequence[int]) -> list[AppealAttachment]:
        """The photos of these ids that still exist (an erasure deletes them)."""
        query = select(AppealAttachment).where(AppealAttachment.id.in_(ids)).order_by(AppealAttachment.id)
        return list((await self._session.execute(query)).scalars())

    async def media_visible(self, media_path: str, departments: list[str] | None) -> bool:
        """Whether a stored photo belongs to an appeal of these departments (None: of any)."""
        query = select(AppealAttachment.id).join(Appeal).where(AppealAttachment.media_path == media_path)
        if departments is not None:
            query = query.where(Appeal.department.in_(departments))
        return (await self._session.execute(query.limit(1))).first() is not None

    async def media_paths(self) -> list[str]:
        """The media store's files that photos of appeals refer to."""
        query = select(AppealAttachment.media_path).where(AppealAttachment.media_path.is_not(None))
        return [path for path in (await self._session.execute(query)).scalars() if path]

    async def count_of_resident(self, resident_id: int) -> int:
        query = select(func.count(Appeal.id)).where(Appeal.resident_id == resident_id)
        return int((await self._session.execute(query)).scalar_one())

    async def filed_since(self, resident_id: int, since: datetime) -> list[datetime]:
        """When the resident filed the appeals they filed since `since`, oldest first."""
        query = (
            select(Appeal.created_at)
            .where(Appeal.resident_id == resident_id, Appeal.created_at >= since)
            .order_by(Appeal.created_at)
        )
        return list((await self._session.execute(query)).scalars())

    async def search(
        self, where: AppealFilter, *, limit: int | None = 200, offset: int = 0, newest_first: bool = False
    ) -> list[Appeal]:
        """The appeals `where` finds, oldest first (or newest first), `limit` of them (None: all) after `offset`."""
        order = (Appeal.created_at.desc(), Appeal.id.desc()) if newest_first else (Appeal.created_at, Appeal.id)
        query = select(Appeal).where(*_found(where)).order_by(*order).offset(offset).limit(limit)
        return list((await self._session.execute(query)).scalars())

    async def count(self, where: AppealFilter) -> int:
        """How many appeals `where` finds."""
        query = select(func.count()).select_from(Appeal).where(*_found(where))
        return (await self._session.execute(query)).scalar_one()

    async def answered_before(self, moment: datetime) -> list[Appeal]:
        """Appeals answered before `moment` and still waiting for the resident's rating."""
        query = (
            select(Appeal)
            .where(Appeal.stage == "answered", Appeal.answered_at < moment)
            .options(*_appeal_details())
            .order_by(Appeal.id)
        )
        return list((await self._session.execute(query)).scalars())

    async def awaiting_clarification_since(self, moment: datetime) -> list[Appeal]:
        """Open appeals whose clarification request has waited since before `moment`."""
        query = (
            select(Appeal)
            .where(Appeal.clarification_asked_at.is_not(None), Appeal.clarification_asked_at < moment)
            .options(*_appeal_details())
            .order_by(Appeal.id)
        )
        return list((await self._session.execute(query)).scalars())

    async def with_deadline_between(self, start: datetime, end: datetime, open_stages: list[str]) -> list[Appeal]:
        """Open appeals with a first-response or resolution deadline in [start, end)."""
        first = and_(
            Appeal.first_response_at.is_(None),
            Appeal.first_response_due_at >= start,
            Appeal.first_response_due_at < end,
        )
        resolution = and_(Appeal.resolution_due_at >= start, Appeal.resolution_due_at < end)
        query = select(Appeal).where(Appeal.stage.in_(open_stages), or_(first, resolution)).order_by(Appeal.id)
        return list((await self._session.execute(query)).scalars())

    async def figures(
        self, start: datetime, end: datetime, by: str | None, departments: list[str] | None = None
    ) -> list[GroupFigures]:
        """The figures of the appeals opened in [start, end), per `by` ("category" or "department") in name
        order, or of all of them (None: one group named ""); worked out by the database, two queries."""
        conditions = _opened(start, end, departments)
        group: ColumnElement[str] = getattr(Appeal, by) if by else literal_column("''")
        counted = select(
            group,
            func.count(),
            percentile(Appeal.first_response_hours, 0.5),
            percentile(Appeal.first_response_hours, 0.9),
            func.sum(case((Appeal.first_response_at <= Appeal.first_response_due_at, 1), else_=0)),
            func.sum(case((Appeal.answered_at <= Appeal.resolution_due_at, 1), else_=0)),
            percentile(seconds_between(Appeal.answered_at, Appeal.created_at) / 86400, 0.5),
        ).where(*conditions)
        rated = select(group, Rating.score, func.count()).join(Appeal, Rating.appeal_id == Appeal.id).where(*conditions)
        if by:
            counted = counted.group_by(group).order_by(group)
            rated = rated.group_by(group, Rating.score)
        else:
            rated = rated.group_by(Rating.score)
        scores: dict[str, dict[int, int]] = {}
        for name, score, count in (await self._session.execute(rated)).all():
            scores.setdefault(name, {})[score] = count
        return [
            GroupFigures(name, opened, median, p90, first or 0, answered or 0, resolution, scores.get(name, {}))
            for name, opened, median, p90, first, answered, resolution in (await self._session.execute(counted)).all()
        ]

    async def opened_per_category(
        self, bounds: Sequence[datetime], departments: list[str] | None = None
    ) -> dict[tuple[str, int], int]:
        """How many appeals of each category were opened in each span [bounds[i], bounds[i + 1]), by (category, i)."""
        if len(bounds) < 2:
            return {}
        span = case(*((Appeal.created_at < bound, index) for index, bound in enumerate(bounds[1:-1])),
                    else_=len(bounds) - 2)  # fmt: skip
        query = (
            select(Appeal.category, span, func.count())
            .where(*_opened(bounds[0], bounds[-1], departments))
            .group_by(Appeal.category, span)
        )
        return {(category, index): count for category, index, count in (await self._session.execute(query)).all()}

    async def unsettled(self, limit: int) -> list[tuple[int, datetime, datetime]]:
        """Appeals with a first response whose time in working hours is still to be worked out:
        (id, opened, first response)."""
        query = (
            select(Appeal.id, Appeal.created_at, Appeal.first_response_at)
            .where(UNSETTLED)  # the partial index's own predicate
            .order_by(Appeal.id)
            .limit(limit)
        )
        return [(id_, created, cast(datetime, responded)) for id_, created, responded in
                (await self._session.execute(query)).all()]  # fmt: skip

    async def settle(self, hours: dict[int, float]) -> None:
        """Keep the first-response times in working hours, by appeal id."""
        if hours:
            values = [{"id": id_, "first_response_hours": value} for id_, value in hours.items()]
            await self._session.execute(update(Appeal), values)

    async def timelines(
        self, start: datetime, end: datetime, *, zone: str, now: datetime, departments: list[str] | None = None
    ) -> AsyncIterator[list[AppealTimeline]]:
        """The timelines of the appeals opened in [start, end), oldest first, in batches, with their moments as
        wall-clock times in the IANA time zone `zone` and their deadlines judged at `now`. The database converts
        and judges; the moments of the history and the last rating are the appeal's own columns, so it reads one
        row per appeal however long the histories: one query, and one for the photos. Between batches the event
        loop gets its turn: two years of a large city are 100,000 rows, and the bot must go on answering residents
        while they are read."""
        conditions = _opened(start, end, departments)
        moment, zone_name = literal(now, UTCDateTime()), literal(zone)  # one parameter each, however often used

        def local(column: Any) -> ColumnElement[datetime]:
            return local_time(column, zone_name)

        def in_time(done: Any, due: Any) -> ColumnElement[bool | None]:
            # None while an open deadline is still ahead, or without a deadline
            judged = case((due.is_(None), None), (done.is_(None), case((due < moment, False), else_=None)),
                          else_=done <= due)  # fmt: skip
            return type_coerce(judged, Boolean())

        resolved = func.coalesce(Appeal.answered_at, Appeal.closed_at)
        query = (
            select(
                Appeal.id, Appeal.number, Appeal.category, Appeal.department, Appeal.stage, local(Appeal.created_at),
                local(Appeal.accepted_at), local(Appeal.in_progress_at), local(Appeal.answered_at),
                local(Appeal.reached_closed_at), local(Appeal.first_response_at), local(Appeal.first_response_due_at),
                in_time(Appeal.first_response_at, Appeal.first_response_due_at),
                local(Appeal.resolution_due_at), Appeal.extended_at.is_not(None),
                in_time(resolved, Appeal.resolution_due_at), local(Appeal.closed_at), Appeal.last_score,
                local(Appeal.last_rated_at), Appeal.actors,
            )
            .where(*conditions)
        )  # fmt: skip
        attached: dict[int, list[str | None]] = {}
        paths = (
            select(AppealAttachment.appeal_id, AppealAttachment.media_path)
            .join(Appeal, AppealAttachment.appeal_id == Appeal.id).where(*conditions).order_by(AppealAttachment.id)
        )  # fmt: skip
        for appeal_id, path in (await self._session.execute(paths)).all():
            attached.setdefault(appeal_id, []).append(path)
        # (how many, those kept) of each appeal with photos; most have none
        photos = {appeal_id: (len(kept), tuple(filter(None, kept))) for appeal_id, kept in attached.items()}
        no_photos: tuple[int, tuple[str, ...]] = (0, ())
        connection = await self._session.connection()  # Core rows: no ORM loading for plain columns
        # Put in order here rather than by the database: unordered, it sends each row as its scan finds it and
        # the driver reads them meanwhile, instead of both waiting while it sorts the period (12,300 appeals:
        # 82 ms instead of 118 on PostgreSQL; the sort here takes 1).
        rows: list[Sequence[Any]] = []
        for part in (await connection.execute(query)).partitions(TIMELINE_BATCH):
            rows += part
            await asyncio.sleep(0)
        rows.sort(key=itemgetter(0))  # by id: as they were filed
        for first in range(0, len(rows), TIMELINE_BATCH):
            batch = []
            for id_, *columns in rows[first : first + TIMELINE_BATCH]:
                columns += photos.get(id_, no_photos)
                batch.append(AppealTimeline._make(columns))
            yield batch
            await asyncio.sleep(0)


def _opened(start: datetime, end: datetime, departments: list[str] | None) -> list[ColumnElement[bool]]:
    conditions = [Appeal.created_at >= start, Appeal.created_at < end]
    if departments is not None:
        conditions.append(Appeal.department.in_(departments))
    return conditions


def _found(where: AppealFilter) -> list[ColumnElement[bool]]:
    conditions: list[ColumnElement[bool]] = []
    if where.stages is not None:
        conditions.append(Appeal.stage.in_(where.stages))
    if where.categories is not None:
        conditions.append(Appeal.category.in_(where.categories))
    if where.department is not None:
        conditions.append(Appeal.department == where.department)
    if where.departments is not None:
        conditions.append(Appeal.department.in_(where.departments))
    if where.created_between is not None:
        conditions += _opened(*where.created_between, None)
    if where.text:
        conditions.append(or_(Appeal.number.icontains(where.text, autoescape=True),
                              Appeal.description.icontains(where.text, autoescape=True)))  # fmt: skip
    if (overdue := where.overdue) is not None:
        late_first = and_(Appeal.first_response_at.is_(None), Appeal.first_response_due_at < overdue.at)
        late_resolution = and_(Appeal.stage.in_(overdue.open_stages), Appeal.resolution_due_at < overdue.at)
        if overdue.unless_reminded is not None:
            first_kind, resolution_kind = overdue.unless_reminded
            late_first = and_(late_first, ~_reminded(first_kind))
            late_resolution = and_(late_resolution, ~_reminded(resolution_kind))
        conditions.append(or_(late_first, late_resolution))
    return conditions


def _reminded(kind: str) -> ColumnElement[bool]:
    return exists().where(AppealReminder.appeal_id == Appeal.id, AppealReminder.kind == kind)


def _appeal_details() -> list[Any]:
    return [selectinload(Appeal.events), selectinload(Appeal.attachments)]


class DialogStateRepository:
    """A resident's dialog state; it is read with the resident (see `ResidentRepository.conversation`)."""

    def __init__(self, session: AsyncSession) -> None:
        self._session = session

    async def save(self, resident_id: int, state: str | None, data: dict[str, Any]) -> None:
        changed = update(DialogState).where(DialogState.resident_id == resident_id).values(state=state, data=data)
        result = cast(CursorResult[Any], await self._session.execute(changed))
        if result.rowcount == 0:  # the resident's first dialog
            self._session.add(DialogState(resident_id=resident_id, state=state, data=data))
            await self._session.flush()


@dataclass(frozen=True, slots=True)
class Miss:
    """A question the FAQ had no confident answer for, with the nearest item and its score."""

    text: str
    normalized: str
    platform: str | None
    best_item_id: str | None
    best_score: float | None
    asked_at: datetime


@dataclass(frozen=True, slots=True)
class Overdue:
    """Past a deadline at `at`: the first response still missing, or not resolved while in one of `open_stages`;
    with `unless_reminded` (the reminders' kinds for the two deadlines), only those not yet reminded of."""

    at: datetime
    open_stages: Sequence[str]
    unless_reminded: tuple[str, str] | None = None


@dataclass(frozen=True, slots=True)
class AppealFilter:
    """Which appeals staff look for: each field given narrows the search; None leaves it open."""

    stages: Sequence[str] | None = None
    categories: Sequence[str] | None = None
    department: str | None = None
    departments: Sequence[str] | None = None  # those a staff member may see
    created_between: tuple[datetime, datetime] | None = None
    text: str | None = None  # in the number or the resident's text
    overdue: Overdue | None = None


@dataclass(frozen=True, slots=True)
class GroupFigures:
    """The figures of a group of appeals (a category, a department, or all), as the database worked them out."""

    group: str
    opened: int
    first_response_median: float | None  # working hours
    first_response_p90: float | None
    first_response_in_time: int  # appeals first answered by their deadline
    answered_in_time: int  # appeals answered by their resolution deadline
    resolution_median_days: float | None  # calendar days from opening to the answer, answered appeals
    scores: dict[int, int]  # how many ratings of each score


TIMELINE_BATCH = 2000  # timelines read between two turns of the event loop: about 20 ms


class AppealTimeline(NamedTuple):
    """What an export needs of one appeal (no texts): its moments (wall-clock times in the municipality's zone),
    deadlines and whether they were met (None: not yet known), who acted, the last rating, the photos."""

    number: str
    category: str
    department: str
    stage: str
    opened: datetime
    moved_to_accepted: datetime | None
    moved_to_in_progress: datetime | None
    moved_to_answered: datetime | None
    moved_to_closed: datetime | None
    first_response: datetime | None
    first_response_due: datetime | None
    first_response_in_time: bool | None
    resolution_due: datetime | None
    extended: bool  # its resolution deadline was extended
    resolved_in_time: bool | None
    finished: datetime | None
    rating: int | None  # the last score
    rated: datetime | None
    actors: str  # who acted, joined by ", "
    photos: int
    kept_photos: tuple[str, ...]  # paths in the media store of those downloaded


@dataclass(frozen=True, slots=True)
class FrequentMiss:
    """A group of equal unanswered questions (same normalised form): how often, an example, the nearest item."""

    normalized: str
    count: int
    example: str
    last_asked_at: datetime
    best_item_id: str | None


@dataclass(frozen=True, slots=True)
class FaqUse:
    """An FAQ answer shown ("view") or rated ("helpful", "unhelpful"), without who."""

    item_id: str
    kind: str
    at: datetime


@dataclass(frozen=True, slots=True)
class FaqItemUse:
    """How often an item's answer was shown and rated."""

    item_id: str
    views: int
    helpful: int
    unhelpful: int


class ApiTokenRepository:
    def __init__(self, session: AsyncSession) -> None:
        self._session = session

    def add(self, token: ApiToken) -> None:
        self._session.add(token)

    async def by_name(self, name: str) -> ApiToken | None:
        return (await self._session.execute(select(ApiToken).where(ApiToken.name == name))).scalar_one_or_none()

    async def valid(self, token_hash: str) -> ApiToken | None:
        """The token with this hash, unless revoked."""
        query = select(ApiToken).where(ApiToken.token_hash == token_hash, ApiToken.revoked_at.is_(None))
        return (await self._session.execute(query)).scalar_one_or_none()

    async def all(self) -> list[ApiToken]:
        return list((await self._session.execute(select(ApiToken).order_by(ApiToken.id))).scalars())


class WebSignInRepository:
    """The dashboard's one-time links and sessions."""

    def __init__(self, session: AsyncSession) -> None:
        self._session = session

    def add(self, row: WebLogin | WebSession) -> None:
        self._session.add(row)

    async def use_link(self, token_hash: str, now: datetime) -> int | None:
        """Mark a link used, if it is valid and unused; returns whose it is. One use, even from two requests."""
        used = await self._session.execute(
            update(WebLogin)
            .where(WebLogin.token_hash == token_hash, WebLogin.used_at.is_(None), WebLogin.expires_at > now)
            .values(used_at=now)
            .returning(WebLogin.member_id)
        )
        return used.scalar_one_or_none()

    async def session(self, session_hash: str, now: datetime) -> WebSession | None:
        query = select(WebSession).where(WebSession.session_hash == session_hash, WebSession.expires_at > now)
        return (await self._session.execute(query)).scalar_one_or_none()

    async def end(self, session_hash: str) -> None:
        await self._session.execute(delete(WebSession).where(WebSession.session_hash == session_hash))


class SendSlotRepository:
    def __init__(self, session: AsyncSession) -> None:
        self._session = session

    async def reserve(self, key: str, interval: float, now: float) -> float:
        """Take the next slot of `key` (at `now` at the earliest) and move it on by `interval`; returns the time
        the caller may send. Concurrent callers get slots `interval` apart."""
        dialect = self._session.get_bind().dialect.name
        insert_for = postgresql_insert if dialect == "postgresql" else sqlite_insert
        later = func.greatest if dialect == "postgresql" else func.max
        statement = (
            insert_for(SendSlot)
            .values(key=key, next_at=now + interval)
            .on_conflict_do_update(
                index_elements=[SendSlot.key], set_={"next_at": later(SendSlot.next_at, now) + interval}
            )
            .returning(SendSlot.next_at)
        )
        return float((await self._session.execute(statement)).scalar_one()) - interval


class FaqUseRepository:
    def __init__(self, session: AsyncSession) -> None:
        self._session = session

    async def add_many(self, uses: Sequence[FaqUse]) -> None:
        if uses:
            rows = [{"item_id": use.item_id[:64], "kind": use.kind, "created_at": use.at} for use in uses]
            await self._session.execute(insert(FaqItemEvent), rows)

    async def per_item(self, since: datetime | None = None) -> list[FaqItemUse]:
        """Views and ratings per item, most viewed first."""

        def counted(kind: str) -> ColumnElement[int]:
            return func.count(FaqItemEvent.id).filter(FaqItemEvent.kind == kind)

        views = counted("view")
        query = select(FaqItemEvent.item_id, views, counted("helpful"), counted("unhelpful")).group_by(
            FaqItemEvent.item_id
        )
        if since is not None:
            query = query.where(FaqItemEvent.created_at >= since)
        rows = (await self._session.execute(query.order_by(views.desc(), FaqItemEvent.item_id))).all()
        return [FaqItemUse(item_id, int(v), int(h), int(u)) for item_id, v, h, u in rows]


class UnmatchedQuestionRepository:
    def __init__(self, session: AsyncSession) -> None:
        self._session = session

    async def add_many(self, misses: Sequence[Miss]) -> None:
        if not misses:
            return
        await self._session.execute(
            insert(UnmatchedQuestion),
            [
                {
                    "text": miss.text[:MAX_STORED_QUESTION],
                    "normalized": miss.normalized[:MAX_STORED_QUESTION],
                    "platform": miss.platform,
                    "best_item_id": miss.best_item_id,
                    "best_score": miss.best_score,
                    "created_at": miss.asked_at,
                }
                for miss in misses
            ],
        )

    async def most_frequent(self, since: datetime | None = None, limit: int = 20) -> list[FrequentMiss]:
        """The most often asked unanswered questions, most frequent first."""
        count = func.count(UnmatchedQuestion.id)
        last = func.max(UnmatchedQuestion.created_at)
        query = select(
            UnmatchedQuestion.normalized,
            count,
            func.max(UnmatchedQuestion.text),
            last,
            func.max(UnmatchedQuestion.best_item_id),
        ).group_by(UnmatchedQuestion.normalized)
        if since is not None:
            query = query.where(UnmatchedQuestion.created_at >= since)
        query = query.order_by(count.desc(), last.desc(), UnmatchedQuestion.normalized).limit(limit)
        rows = (await self._session.execute(query)).all()
        return [
            FrequentMiss(
                normalized=normalized,
                count=int(times),
                example=example,
                last_asked_at=last_asked,
                best_item_id=best_item_id,
            )
            for normalized, times, example, last_asked, best_item_id in rows
        ]


class ReminderRepository:
    def __init__(self, session: AsyncSession) -> None:
        self._session = session

    async def claim(self, appeal_id: int, kind: str, now: datetime) -> bool:
        """True for the one caller, across processes, that records this reminder first."""
        return await _add_first(self._session, AppealReminder(appeal_id=appeal_id, kind=kind, created_at=now))

    async def recorded(self, appeal_ids: Sequence[int]) -> set[tuple[int, str]]:
        """The reminders already recorded for these appeals, as (appeal id, kind): a scan claims only the others,
        instead of failing to claim the same ones on every pass."""
        found: set[tuple[int, str]] = set()
        for start in range(0, len(appeal_ids), IDS_PER_QUERY):
            chunk = appeal_ids[start : start + IDS_PER_QUERY]
            query = select(AppealReminder.appeal_id, AppealReminder.kind).where(AppealReminder.appeal_id.in_(chunk))
            found.update((appeal_id, kind) for appeal_id, kind in (await self._session.execute(query)).all())
        return found


class RatingRepository:
    def __init__(self, session: AsyncSession) -> None:
        self._session = session

    def add(self, rating: Rating) -> None:
        self._session.add(rating)

    async def all_of(self, appeal_id: int) -> list[Rating]:
        query = select(Rating).where(Rating.appeal_id == appeal_id).order_by(Rating.created_at, Rating.id)
        return list((await self._session.execute(query)).scalars())

    async def latest(self, appeal_id: int, since: datetime | None = None) -> Rating | None:
        """The appeal's newest rating, given at or after `since` (the answer it rates)."""
        query = select(Rating).where(Rating.appeal_id == appeal_id)
        if since is not None:
            query = query.where(Rating.created_at >= since)
        query = query.order_by(Rating.created_at.desc(), Rating.id.desc()).limit(1)
        return (await self._session.execute(query)).scalar_one_or_none()


class ProcessedUpdateRepository:
    """Platform updates whose changes are committed, so that a re-delivered one is not run twice."""

    def __init__(self, session: AsyncSession) -> None:
        self._session = session

    async def seen(self, platform: str, update_id: str) -> bool:
        query = select(exists().where(ProcessedUpdate.platform == platform, ProcessedUpdate.update_id == update_id))
        return bool((await self._session.execute(query)).scalar())

    async def record(self, platform: str, update_id: str, now: datetime) -> None:
        """Note the update in this transaction; raises IntegrityError if another transaction noted it first."""
        await self._session.execute(
            insert(ProcessedUpdate).values(platform=platform, update_id=update_id, processed_at=now)
        )

    async def forget_before(self, moment: datetime) -> int:
        """Drop the records of updates older than any re-delivery (Telegram keeps updates for 24 hours)."""
        result = await self._session.execute(delete(ProcessedUpdate).where(ProcessedUpdate.processed_at < moment))
        return cast(CursorResult[Any], result).rowcount


class ReceivingCursorRepository:
    """Where each platform stream was read up to."""

    def __init__(self, session: AsyncSession) -> None:
        self._session = session

    async def get(self, stream: str) -> str | None:
        query = select(ReceivingCursor.position).where(ReceivingCursor.stream == stream)
        return (await self._session.execute(query)).scalar_one_or_none()

    async def set(self, stream: str, position: str, now: datetime) -> None:
        changed = await self._session.execute(
            update(ReceivingCursor).where(ReceivingCursor.stream == stream).values(position=position, updated_at=now)
        )
        if cast(CursorResult[Any], changed).rowcount == 0 and not await _add_first(
            self._session, ReceivingCursor(stream=stream, position=position, updated_at=now)
        ):
            await self.set(stream, position, now)  # another process stored it first: overwrite it


class StaffCardRepository:
    """Which appeals' cards in the staff group are out of date, and where each card is."""

    def __init__(self, session: AsyncSession) -> None:
        self._session = session

    async def claim_stale(self, chat_id: str, now: datetime, until: datetime, limit: int) -> list[int]:
        """Claim (until `until`) the appeals whose card is missing or shows an older state, oldest first, that no
        other process is bringing up to date; returns their ids."""
        card = aliased(StaffCard)
        query = (
            select(Appeal.id, card.appeal_id)
            .outerjoin(card, card.appeal_id == Appeal.id)
            .where(
                or_(card.appeal_id.is_(None), card.synced_at.is_(None), card.synced_at < Appeal.updated_at),
                or_(card.claimed_until.is_(None), card.claimed_until < now),
            )
            .order_by(Appeal.id)
            .limit(limit)
        )
        claimed = []
        for appeal_id, known in (await self._session.execute(query)).all():
            if known is None:
                if await _add_first(
                    self._session, StaffCard(appeal_id=appeal_id, chat_id=chat_id, claimed_until=until)
                ):
                    claimed.append(appeal_id)
                continue
            taken = await self._session.execute(
                update(StaffCard)
                .where(
                    StaffCard.appeal_id == appeal_id,
                    or_(StaffCard.claimed_until.is_(None), StaffCard.claimed_until < now),
                )
                .values(claimed_until=until)
            )
            if cast(CursorResult[Any], taken).rowcount:
                claimed.append(appeal_id)
        return claimed

    async def get(self, appeal_id: int) -> StaffCard | None:
        return await self._session.get(StaffCard, appeal_id)

    async def in_thread(self, chat_id: str, thread_id: int) -> StaffCard | None:
        query = select(StaffCard).where(StaffCard.chat_id == chat_id, StaffCard.thread_id == thread_id)
        return (await self._session.execute(query)).scalar_one_or_none()


class OutboxRepository:
    def __init__(self, session: AsyncSession) -> None:
        self._session = session
        self.added = 0  # messages queued in this transaction

    async def waiting(self) -> int:
        """Messages not sent yet (due or waiting for a retry)."""
        query = select(func.count(OutboxMessage.id)).where(OutboxMessage.status == "pending")
        return int((await self._session.execute(query)).scalar_one())

    def add(self, message: OutboxMessage) -> None:
        self._session.add(message)
        self.added += 1

    async def add_replies(self, replies: list[dict[str, Any]]) -> list[int]:
        """Store replies (column values) already claimed by the process that sends them at once; returns their
        ids in order. One INSERT, without the ORM's unit of work: this is on every changing update's path."""
        statement = insert(OutboxMessage).returning(OutboxMessage.id, sort_by_parameter_order=True)
        return list((await self._session.scalars(statement, replies)).all())

    async def claim_due(
        self, platforms: list[str], now: datetime, lease_until: datetime, limit: int, claimant: str
    ) -> list[OutboxMessage]:
        """Take up to `limit` due messages for these platforms, oldest first: they are marked as `claimant`'s until
        `lease_until`, so no other process takes them unless this one stops renewing the lease (it died).

        A message waits while an earlier one to its chat is still to be sent (retried later, or held by a
        sender), so that a chat's messages arrive in order. On PostgreSQL, rows another process is claiming are
        skipped (FOR UPDATE SKIP LOCKED); SQLite runs one writer at a time anyway.
        """
        earlier = aliased(OutboxMessage)
        blocked_by_earlier = exists().where(
            earlier.platform == OutboxMessage.platform,
            earlier.chat_id == OutboxMessage.chat_id,
            earlier.status == "pending",
            earlier.id < OutboxMessage.id,
            earlier.due_at > now,  # waiting for a retry, or held under a live lease: not claimed in this round
        )
        query = (
            select(OutboxMessage)
            .where(
                OutboxMessage.status == "pending",
                OutboxMessage.due_at <= now,
                OutboxMessage.platform.in_(platforms),
                ~blocked_by_earlier,
            )
            .order_by(OutboxMessage.id)
            .limit(limit)
            .with_for_update(skip_locked=True, of=OutboxMessage)
        )
        rows = list((await self._session.execute(query)).scalars())
        for row in rows:
            row.due_at = lease_until
            row.claimed_by = claimant
            row.attempts += 1
        return rows

    async def renew(self, claimant: str, lease_until: datetime) -> None:
        """Extend the lease of every message `claimant` holds (it is alive and still sending them)."""
        await self._session.execute(
            update(OutboxMessage)
            .where(OutboxMessage.claimed_by == claimant, OutboxMessage.status == "pending")
            .values(due_at=lease_until)
        )

    async def release(self, now: datetime, claimant: str | None = None) -> int:
        """Hand back what `claimant` holds (a clean stop), or what anybody holds (a single process starting
        again after a crash: nobody else can be sending): due at once, for whoever claims next."""
        condition = OutboxMessage.claimed_by.is_not(None) if claimant is None else OutboxMessage.claimed_by == claimant
        result = await self._session.execute(
            update(OutboxMessage)
            .where(condition, OutboxMessage.status == "pending")
            .values(claimed_by=None, due_at=now)
        )
        return cast(CursorResult[Any], result).rowcount

    async def settle(self, message_id: int, **values: Any) -> None:
        """Record how a claimed message's delivery went (retry at, dead); it is no longer anybody's."""
        await self._session.execute(
            update(OutboxMessage).where(OutboxMessage.id == message_id).values(claimed_by=None, **values)
        )

    async def mark_sent(self, message_ids: list[int], at: datetime) -> None:
        await self._session.execute(
            update(OutboxMessage)
            .where(OutboxMessage.id.in_(message_ids))
            .values(status="sent", sent_at=at, last_error=None, claimed_by=None)
        )

    async def forget_replies_before(self, moment: datetime) -> int:
        """Drop replies delivered or given up before `moment`: unlike notices, they are no appeal's history."""
        result = await self._session.execute(
            delete(OutboxMessage).where(
                OutboxMessage.kind == "reply", OutboxMessage.status != "pending", OutboxMessage.created_at < moment
            )
        )
        return cast(CursorResult[Any], result).rowcount

    async def count_by_status(self) -> dict[str, int]:
        rows = await self._session.execute(select(OutboxMessage.status, func.count()).group_by(OutboxMessage.status))
        return {status: count for status, count in rows.all()}
