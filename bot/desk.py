"""The staff desk: keeps one forum topic per appeal in the staff group, with the appeal's card in it, up to date
with the appeal, whoever changed it (a button, the command line, the scheduler), within the group's limits."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Protocol
from zoneinfo import ZoneInfo

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.core.delivery import DeliveryError, RetryLater
from bot.core.types import Reply
from bot.core.waiting import wait_for_event
from bot.notifier import SendLimiter
from bot.services.staff import card_buttons, card_text, topic_closed, topic_name
from bot.texts import Texts
from storage.models import Appeal, StaffCard, utcnow
from storage.uow import UnitOfWork

log = logging.getLogger(__name__)

LEASE = timedelta(seconds=60)  # a card being brought up to date is left to its process this long
RETRY_AFTER_FAILURE = timedelta(seconds=30)
ALBUM = 10  # photos in one album (Telegram's limit)


class StaffBoard(Protocol):
    """What the staff group's platform offers the desk (Telegram's forum topics); errors are DeliveryErrors."""

    async def create_topic(self, chat_id: str, name: str) -> int: ...

    async def rename_topic(self, chat_id: str, thread_id: int, name: str) -> None: ...

    async def close_topic(self, chat_id: str, thread_id: int, closed: bool) -> None: ...

    async def post(self, chat_id: str, thread_id: int, reply: Reply) -> str: ...

    async def edit(self, chat_id: str, message_id: str, reply: Reply) -> bool: ...

    async def post_photos(self, chat_id: str, thread_id: int, photos: list[str], caption: str) -> bool: ...

    async def post_place(self, chat_id: str, thread_id: int, latitude: float, longitude: float) -> None: ...


class StaffDesk:
    """Brings the cards of changed appeals up to date. A new appeal gets its topic, named like
    `🆕 А-2026-000123 · ЖКХ · ул. Ленина, 5` (the mark shows the stage), and its card; a changed one gets its card
    edited in place, the topic renamed, and closed or reopened with the appeal. Where each topic and card is, and
    what the card last showed, is stored after each step, so a restart neither loses one nor creates a topic
    twice. Every call to the group waits for its limit (Telegram: about 20 messages a minute into one group, a
    new topic included)."""

    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        texts: Texts,
        timezone: ZoneInfo,
        chat_id: str,
        board: StaffBoard,
        limiter: SendLimiter | None,
        clock: Callable[[], datetime] = utcnow,
        batch: int = 20,
    ) -> None:
        self._sessions = sessions
        self._texts = texts
        self._timezone = timezone
        self._chat_id = chat_id
        self._board = board
        self._limiter = limiter
        self._clock = clock
        self._batch = batch
        self._wake = asyncio.Event()

    def wake(self) -> None:
        self._wake.set()

    async def run(self, interval: float) -> None:
        """Bring cards up to date until cancelled: whenever woken, and every `interval` seconds."""
        while True:
            self._wake.clear()
            try:
                while await self.sync_due():
                    pass
            except Exception:
                log.exception("staff desk: a round failed; trying again")
            await wait_for_event(self._wake, interval)

    async def sync_due(self) -> int:
        """Claim a batch of appeals whose card is missing or out of date and bring each up to date; returns how
        many were claimed."""
        now = self._clock()
        async with UnitOfWork(self._sessions) as uow:
            claimed = await uow.staff_cards.claim_stale(self._chat_id, now, now + LEASE, self._batch)
            await uow.commit()
        for appeal_id in claimed:
            try:
                await self._sync(appeal_id)
            except RetryLater as exc:
                log.warning("staff desk: appeal %s waits %g s (the group's limit)", appeal_id, exc.seconds)
                await self._release(appeal_id, timedelta(seconds=exc.seconds))
            except DeliveryError as exc:
                log.warning("staff desk: appeal %s not brought up to date (%s); trying again later", appeal_id, exc)
                await self._release(appeal_id, RETRY_AFTER_FAILURE)
        return len(claimed)

    async def _sync(self, appeal_id: int) -> None:
        async with UnitOfWork(self._sessions) as uow:
            appeal = await uow.appeals.get(appeal_id)
            card = await uow.staff_cards.get(appeal_id)
            if appeal is None or card is None:
                return
            shown_state = appeal.updated_at
            name, closed = topic_name(self._texts, appeal), topic_closed(appeal)
            reply = Reply(card_text(self._texts, appeal, self._timezone), card_buttons(self._texts, appeal))
            board, chat = self._board, self._chat_id
            if card.thread_id is None:
                await self._pace()
                card.thread_id = await board.create_topic(chat, name)
                card.topic_name = name
                await uow.commit()  # at once: a topic must never be created twice
            if card.message_id is None or not await self._edited(card.message_id, reply):
                await self._pace()
                card.message_id = await board.post(chat, card.thread_id, reply)
                await uow.commit()
            await self._post_media(uow, appeal, card)
            if card.topic_name != name:
                await self._pace()
                await board.rename_topic(chat, card.thread_id, name)
                card.topic_name = name
            if card.topic_closed != closed:
                await self._pace()
                await board.close_topic(chat, card.thread_id, closed)
                card.topic_closed = closed
            card.synced_at = shown_state
            card.claimed_until = None
            await uow.commit()

    async def _post_media(self, uow: UnitOfWork, appeal: Appeal, card: StaffCard) -> None:
        """Under the card, the photos not posted yet (the resident's first ones, then those they add), as albums,
        and the map pin of the place; each stored as posted at once, so none is posted twice."""
        assert card.thread_id is not None
        new = [photo for photo in appeal.attachments if card.last_photo_id is None or photo.id > card.last_photo_id]
        for start in range(0, len(new), ALBUM):
            album = new[start : start + ALBUM]
            for _ in album:
                await self._pace()  # each photo of an album is a message of the group's limit
            caption = self._texts("desk.photos_caption", number=appeal.number)
            refs = [photo.platform_file_id for photo in album]
            if not await self._board.post_photos(self._chat_id, card.thread_id, refs, caption):
                await self._pace()
                failed = self._texts("desk.photos_failed", count=len(album))
                await self._board.post(self._chat_id, card.thread_id, Reply(failed))
            card.last_photo_id = album[-1].id
            await uow.commit()
        if not card.place_posted and appeal.latitude is not None and appeal.longitude is not None:
            await self._pace()
            await self._board.post_place(self._chat_id, card.thread_id, appeal.latitude, appeal.longitude)
            card.place_posted = True
            await uow.commit()

    async def _edited(self, message_id: str, reply: Reply) -> bool:
        await self._pace()
        return await self._board.edit(self._chat_id, message_id, reply)

    async def _pace(self) -> None:
        if self._limiter is not None:
            await self._limiter.acquire(self._chat_id)

    async def _release(self, appeal_id: int, after: timedelta) -> None:
        async with UnitOfWork(self._sessions) as uow:
            card = await uow.staff_cards.get(appeal_id)
            if card is not None:
                card.claimed_until = self._clock() + after
                await uow.commit()
