"""A resident's rights over their personal data (152-FZ): see everything stored about them, have it erased; and
the retention period after which finished appeals keep only what statistics need."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from bot.services.appeal_stages import FINAL_STAGES
from storage.models import Appeal, Resident
from storage.repositories import ERASED_TEXT
from storage.uow import UnitOfWork


@dataclass(frozen=True, slots=True)
class StoredData:
    """Everything the bot keeps about one resident."""

    resident: Resident
    appeals: list[Appeal]


async def stored_data(uow: UnitOfWork, resident_id: int) -> StoredData | None:
    resident = await uow.residents.get(resident_id)
    if resident is None or resident.erased_at is not None:
        return None
    return StoredData(resident, await uow.appeals.in_full(resident_id=resident_id))


async def forget(uow: UnitOfWork, resident_id: int, now: datetime) -> int:
    """Erase a resident's personal data: their messenger id and name, the texts, places, phones and photos of
    their appeals, their dialog and undelivered messages. The appeals stay, anonymised, for statistics (topic,
    department, stages and times, rating scores). Returns how many appeals were anonymised."""
    resident = await uow.residents.get(resident_id)
    if resident is None or resident.erased_at is not None:
        return 0
    appeals = await uow.appeals.in_full(resident_id=resident_id)
    for appeal in appeals:
        anonymise(appeal, now)
    await uow.residents.erase(resident, now)
    return len(appeals)


def anonymise(appeal: Appeal, now: datetime) -> None:
    """Keep what statistics need; erase what tells who the resident is or what anyone wrote about it."""
    appeal.description = ERASED_TEXT
    appeal.address = None
    appeal.latitude = appeal.longitude = None
    appeal.phone = None
    appeal.answer_text = ERASED_TEXT if appeal.answer_text else None
    appeal.attachments.clear()
    for event in appeal.events:
        if event.comment:
            event.comment = ERASED_TEXT
    for rating in appeal.ratings:
        rating.comment = None
    appeal.updated_at = now  # its staff card is brought up to date, and shows the erasure


async def expire(uow: UnitOfWork, now: datetime, retention: timedelta, batch: int = 200) -> int:
    """Anonymise appeals finished longer ago than `retention`, and erase residents not seen since then whose
    appeals are all finished and unchanged since then too; returns how many appeals and residents it did (at
    most a batch of each)."""
    cutoff = now - retention
    # The residents first: anonymising marks their appeals changed.
    residents = await uow.residents.dormant(cutoff, [stage.value for stage in FINAL_STAGES], batch)
    appeals = await uow.appeals.in_full(finished_before=cutoff, limit=batch)
    for appeal in appeals:
        anonymise(appeal, now)
    for resident_id in residents:
        await forget(uow, resident_id, now)
    return len(appeals) + len(residents)
