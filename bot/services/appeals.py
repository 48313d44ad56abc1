"""Appeals as a service: open one from a resident's draft, move it through its stages, answer it, route it."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from bot.services.appeal_stages import FINAL_STAGES, RESIDENT_ACTOR, AppealStage, DomainError, StageMove, move
from bot.services.notices import Notices
from bot.services.working_time import WorkingCalendar
from storage.models import Appeal, AppealAttachment, AppealEvent
from storage.repositories import AppealFilter, Overdue
from storage.uow import UnitOfWork

OPEN_STAGES = (AppealStage.NEW, AppealStage.ACCEPTED, AppealStage.IN_PROGRESS)


class AppealNotFound(DomainError):
    def __init__(self, number: str) -> None:
        super().__init__(f"no appeal numbered '{number}'")


class UnknownDepartment(DomainError):
    def __init__(self, department: str, known: Sequence[str]) -> None:
        super().__init__(f"unknown department '{department}'; known: {', '.join(known)}")


@dataclass(frozen=True, slots=True)
class AppealPolicy:
    """The municipality's rules for appeals, from bot.toml: topics, departments, deadlines."""

    categories: Mapping[str, str]  # category -> department
    departments: Sequence[str]
    calendar: WorkingCalendar
    first_response_hours: float
    resolution_days: int


@dataclass(frozen=True, slots=True)
class AppealDraft:
    """What a resident filled in the wizard."""

    category: str
    description: str
    photos: tuple[str, ...] = ()
    address: str | None = None
    latitude: float | None = None
    longitude: float | None = None
    phone: str | None = None


def appeal_number(year: int, sequence: int) -> str:
    return f"А-{year}-{sequence:06d}"


# An appeal number as people type it: a Cyrillic or Latin "А", any case, spaces or dashes, zeros left out.
_TYPED_NUMBER = re.compile(r"(?<![\w])[АAаa]\s*-?\s*(20\d\d)\s*-?\s*(\d{1,6})(?!\d)")


def typed_number(text: str, year: int | None = None) -> str | None:
    """The appeal number in `text` as people type it ("a-2026-123", "А 2026 000123"); with `year`, a bare
    sequence number ("123") is that year's. None if there is none."""
    found = _TYPED_NUMBER.search(text)
    if found is not None:
        return appeal_number(int(found.group(1)), int(found.group(2)))
    bare = text.strip()
    if year is not None and bare.isdigit() and len(bare) <= 6 and int(bare) > 0:
        return appeal_number(year, int(bare))
    return None


async def open_appeal(
    uow: UnitOfWork, policy: AppealPolicy, resident_id: int, platform: str, draft: AppealDraft, now: datetime
) -> Appeal:
    """Register a new appeal: number, department by category, deadlines, and the first entry of its history."""
    if draft.category not in policy.categories:
        raise DomainError(f"unknown category '{draft.category}'")
    year = now.astimezone(policy.calendar.timezone).year
    appeal = Appeal(
        number=appeal_number(year, await uow.appeals.next_number(year)),
        resident_id=resident_id,
        category=draft.category,
        department=policy.categories[draft.category],
        stage=AppealStage.NEW.value,
        description=draft.description,
        address=draft.address,
        latitude=draft.latitude,
        longitude=draft.longitude,
        phone=draft.phone,
        created_at=now,
        updated_at=now,
        first_response_due_at=policy.calendar.add_working_hours(now, policy.first_response_hours),
        resolution_due_at=policy.calendar.add_days(now, policy.resolution_days),
        attachments=[
            AppealAttachment(platform=platform, platform_file_id=photo, created_at=now) for photo in draft.photos
        ],
        events=[AppealEvent(actor=RESIDENT_ACTOR, to_stage=AppealStage.NEW.value, created_at=now)],
        actors="",
    )
    uow.appeals.add(appeal)
    return appeal


async def move_appeal(
    uow: UnitOfWork,
    notices: Notices,
    number: str,
    target: AppealStage,
    *,
    actor: str,
    now: datetime,
    comment: str | None = None,
    visible_to_resident: bool = True,
) -> Appeal:
    """Move an appeal to another stage and queue the resident's notification, in the caller's transaction;
    or raise a DomainError saying why it may not go there."""
    appeal = await _find(uow, number)
    record = move(
        AppealStage(appeal.stage), target, actor=actor, at=now, comment=comment, visible_to_resident=visible_to_resident
    )
    _record(appeal, record)
    await notices.stage_changed(uow, appeal, record)
    return appeal


async def answer_appeal(
    uow: UnitOfWork, notices: Notices, number: str, text: str, *, actor: str, now: datetime
) -> Appeal:
    """Give the official answer: the appeal moves to `answered` (registering it first if it was still new), and
    the resident gets the answer with buttons to rate it."""
    if not text.strip():
        raise DomainError("the answer text is empty")
    appeal = await _find(uow, number)
    if appeal.stage == AppealStage.NEW:
        _record(appeal, move(AppealStage.NEW, AppealStage.ACCEPTED, actor=actor, at=now))
    record = move(AppealStage(appeal.stage), AppealStage.ANSWERED, actor=actor, at=now, comment=text)
    _record(appeal, record)
    appeal.answer_text = text
    await notices.stage_changed(uow, appeal, record)
    return appeal


async def route_appeal(
    uow: UnitOfWork,
    policy: AppealPolicy,
    number: str,
    department: str,
    *,
    actor: str,
    now: datetime,
    comment: str | None = None,
    visible_to_resident: bool = True,
) -> Appeal:
    """Hand an appeal over to another department; its stage stays, its history notes the hand-over (with the
    comment shown to the resident, or kept for staff)."""
    if department not in policy.departments:
        raise UnknownDepartment(department, policy.departments)
    appeal = await _find(uow, number)
    if AppealStage(appeal.stage) in FINAL_STAGES:
        raise DomainError(f"appeal '{number}' is {appeal.stage}; a finished appeal is not routed")
    if department == appeal.department:
        raise DomainError(f"appeal '{number}' is already with '{department}'")
    appeal.department = department
    appeal.updated_at = now
    appeal.events.append(
        _standing(appeal, "route", actor, now, comment, department=department, visible_to_resident=visible_to_resident)
    )
    return appeal


def attach_photos(appeal: Appeal, platform: str, file_ids: list[str], now: datetime) -> None:
    """Photos the resident added to their appeal later; its card in the staff group shows them."""
    for file_id in file_ids:
        appeal.attachments.append(AppealAttachment(platform=platform, platform_file_id=file_id, created_at=now))
    if file_ids:
        appeal.updated_at = now


def is_note(event: AppealEvent) -> bool:
    """A message in the appeal's history, not a move: a staff note (for staff only), a staff message to the
    resident, or the resident's addition."""
    return event.kind == "message"


async def ask_clarification(
    uow: UnitOfWork, notices: Notices, appeal: Appeal, question: AppealEvent, now: datetime
) -> None:
    """Ask the resident to clarify, with a message staff wrote (`question`): it goes to the resident, and the
    first-response clock stops until they answer (or the appeal is closed as unclarified)."""
    if AppealStage(appeal.stage) in FINAL_STAGES:
        raise DomainError(f"appeal '{appeal.number}' is {appeal.stage}; nobody is asked about a finished appeal")
    question.visible_to_resident = True
    appeal.clarification_asked_at = appeal.clarification_asked_at or now
    await notices.clarification(uow, appeal, question.comment or "", now)


def clarified(appeal: Appeal, policy: AppealPolicy, now: datetime) -> None:
    """The resident answered a clarification request: the first-response clock runs again with the working time
    it had left when the question was asked."""
    asked = appeal.clarification_asked_at
    if asked is None:
        return
    appeal.clarification_asked_at = None
    due = appeal.first_response_due_at
    if appeal.first_response_at is None and due is not None and due > asked:
        left = policy.calendar.working_hours_between(asked, due)
        appeal.first_response_due_at = policy.calendar.add_working_hours(now, left)


def was_extended(appeal: Appeal) -> bool:
    """Whether the appeal's resolution deadline was extended already (59-FZ allows it once)."""
    return appeal.extended_at is not None


def _standing(appeal: Appeal, kind: str, actor: str, now: datetime, comment: str | None, **values: Any) -> AppealEvent:
    """An entry of the appeal's history that leaves its stage where it is (a hand-over, a message, an
    extension); its actor joins the appeal's actors."""
    _acted(appeal, actor)
    return AppealEvent(
        actor=actor,
        from_stage=appeal.stage,
        to_stage=appeal.stage,
        comment=comment,
        created_at=now,
        kind=kind,
        **values,
    )


EXTENSION_DAYS = 30  # 59-FZ, art. 12: the resolution deadline may be extended once, by up to 30 days


async def extend_resolution(
    uow: UnitOfWork, policy: AppealPolicy, notices: Notices, number: str, reason: str, *, actor: str, now: datetime
) -> Appeal:
    """Extend the resolution deadline by 30 days, once, with the resident told why and until when."""
    appeal = await _find(uow, number)
    if AppealStage(appeal.stage) in FINAL_STAGES:
        raise DomainError(f"appeal '{number}' is {appeal.stage}; a finished appeal has no deadline to extend")
    if was_extended(appeal):
        raise DomainError(f"the deadline of appeal '{number}' was extended once already (59-FZ allows one extension)")
    if appeal.resolution_due_at is None or not reason.strip():
        raise DomainError("an extension needs the current deadline and a reason")
    appeal.resolution_due_at = policy.calendar.add_days(appeal.resolution_due_at, EXTENSION_DAYS)
    appeal.updated_at = now
    appeal.extended_at = now
    appeal.events.append(_standing(appeal, "extension", actor, now, reason))
    await notices.extended(uow, appeal, reason, now)
    return appeal


async def add_note(
    uow: UnitOfWork, appeal: Appeal, text: str, *, actor: str, now: datetime, visible_to_resident: bool
) -> AppealEvent:
    """Write a message into the appeal's history without moving it."""
    if not text.strip():
        raise DomainError("the text is empty")
    event = _standing(appeal, "message", actor, now, text, visible_to_resident=visible_to_resident)
    event.appeal_id = appeal.id
    await uow.appeals.add_event(event)
    return event


def overdue_at(now: datetime, unless_reminded: tuple[str, str] | None = None) -> Overdue:
    """What finds the appeals past their first-response or resolution deadline at `now` (as `is_overdue`); with
    `unless_reminded`, the reminders' kinds for the two, only those whose reminder is not recorded yet."""
    return Overdue(now, [stage.value for stage in OPEN_STAGES], unless_reminded)


async def overdue_appeals(
    uow: UnitOfWork, now: datetime, unless_reminded: tuple[str, str] | None = None
) -> list[Appeal]:
    """All appeals past a deadline at `now`, however many: the digest counts them and each gets its alert."""
    return await uow.appeals.search(AppealFilter(overdue=overdue_at(now, unless_reminded)), limit=None)


def is_overdue(appeal: Appeal, now: datetime) -> bool:
    late_first = appeal.first_response_at is None and _past(appeal.first_response_due_at, now)
    late_resolution = AppealStage(appeal.stage) in OPEN_STAGES and _past(appeal.resolution_due_at, now)
    return late_first or late_resolution


def _past(deadline: datetime | None, now: datetime) -> bool:
    return deadline is not None and deadline < now


async def _find(uow: UnitOfWork, number: str) -> Appeal:
    appeal = await uow.appeals.by_number(number)
    if appeal is None:
        raise AppealNotFound(number)
    return appeal


def _record(appeal: Appeal, record: StageMove) -> None:
    """Apply a validated stage move to the appeal and write it into the appeal's history."""
    appeal.stage = record.to_stage.value
    appeal.updated_at = record.at
    if appeal.first_response_at is None and record.from_stage is AppealStage.NEW:
        appeal.first_response_at = record.at
    if record.to_stage is AppealStage.ACCEPTED:
        appeal.accepted_at = record.at
    if record.to_stage is AppealStage.IN_PROGRESS:
        appeal.in_progress_at = record.at
    if record.to_stage is AppealStage.ANSWERED:
        appeal.answered_at = record.at
    if record.to_stage is AppealStage.CLOSED:
        appeal.reached_closed_at = record.at
    if record.to_stage in FINAL_STAGES:
        appeal.closed_at = record.at
    _acted(appeal, record.actor)
    appeal.events.append(
        AppealEvent(
            actor=record.actor,
            from_stage=record.from_stage.value if record.from_stage else None,
            to_stage=record.to_stage.value,
            comment=record.comment,
            visible_to_resident=record.visible_to_resident,
            created_at=record.at,
        )
    )


def _acted(appeal: Appeal, actor: str) -> None:
    """Add `actor` to the appeal's sorted list of those who acted on it, unless it is the resident."""
    names = appeal.actors.split(", ") if appeal.actors else []
    if actor != RESIDENT_ACTOR and actor not in names:
        appeal.actors = ", ".join(sorted([*names, actor]))
