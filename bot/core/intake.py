"""Receiving updates for an adapter: each in its own task, re-deliveries dropped, "typing..." when the core is
slow, and each update marked committed, so the platform is told it is done only then."""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from collections.abc import Awaitable, Callable, Collection, Hashable
from typing import Generic, TypeVar

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.core.types import Handled, Incoming
from storage.models import utcnow
from storage.uow import UnitOfWork

log = logging.getLogger(__name__)

Key = TypeVar("Key", bound=Hashable)
Feed = Callable[[Incoming], Awaitable[Handled]]
Deliver = Callable[[Handled], Awaitable[None]]
ShowTyping = Callable[[str], Awaitable[None]]

RECENT_UPDATES = 10_000  # update ids remembered to drop re-deliveries
TYPING_AFTER = 0.5  # seconds of handling after which the resident sees "typing..."
TYPING_SHOWN = 4.5  # seconds one "typing..." stays up (Telegram: 5 s; VK: 10 s, or until the next message)


class Intake(Generic[Key]):
    """The updates an adapter has in hand, by the platform's key for each (Telegram's update id, VK's event id).

    `begin` starts an update's work in its own task; the update counts as in hand until `committed` is called
    for it (by `answer`, once the core has committed) or its work ends. An adapter acknowledges an update to
    the platform only once it is no longer in hand, so a crash before the commit makes the platform deliver it
    again, and the core (which records committed update ids) runs it once.
    """

    def __init__(self, platform: str, feed: Feed, deliver: Deliver, show_typing: ShowTyping | None = None) -> None:
        self._platform = platform
        self._feed = feed
        self._deliver = deliver
        self._show_typing = show_typing
        self._recent: RecentIds[Key] = RecentIds(RECENT_UPDATES)
        self._tasks: set[asyncio.Task[None]] = set()
        self._in_hand: dict[Key, asyncio.Future[None]] = {}  # update -> done once its changes are committed
        self._typing_until: dict[str, float] = {}  # chat -> until when "typing..." shows there
        self.progress = asyncio.Event()  # set whenever an update in hand was committed

    @property
    def in_hand(self) -> Collection[Key]:
        return self._in_hand.keys()

    def begin(self, key: Key, work: Callable[[], Awaitable[None]]) -> asyncio.Future[None] | None:
        """Run `work` for the update `key` in its own task; returns a future done once the update is committed
        (or its work ended), or None for an update already seen (a re-delivery)."""
        if not self._recent.add(key):
            log.info("%s update %s was delivered again: ignored", self._platform, key)
            return None
        committed = self._in_hand[key] = asyncio.get_running_loop().create_future()
        self.spawn(self._run(key, work))
        return committed

    def spawn(self, work: Awaitable[None]) -> None:
        """Run `work` in a task that `wait_idle` waits for."""
        task = asyncio.ensure_future(work)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def wait_idle(self) -> None:
        """Return once no update is being handled."""
        while self._tasks:
            await asyncio.wait(self._tasks)

    async def answer(self, key: Key, incoming: Incoming) -> None:
        """Feed the core, showing "typing..." if that takes a while; once committed, have the replies delivered."""
        typing = asyncio.get_running_loop().call_later(TYPING_AFTER, self._typing, incoming.chat_id)
        try:
            handled = await self._feed(incoming)
        finally:
            typing.cancel()
        self.committed(key)
        await self._deliver(handled)

    def committed(self, key: Key) -> None:
        """The update's changes are committed (or it failed for good): the platform may be told it is done."""
        future = self._in_hand.pop(key, None)
        if future is not None and not future.done():
            future.set_result(None)
            self.progress.set()

    async def _run(self, key: Key, work: Callable[[], Awaitable[None]]) -> None:
        try:
            await work()
        except Exception:
            log.exception("%s update %s failed", self._platform, key)
        finally:
            self.committed(key)

    def _typing(self, chat_id: str) -> None:
        """Show "typing..." in the chat, unless it already shows."""
        if self._show_typing is None:
            return
        now = asyncio.get_running_loop().time()
        if self._typing_until.get(chat_id, 0.0) > now:
            return
        if len(self._typing_until) > RECENT_UPDATES:
            self._typing_until = {chat: until for chat, until in self._typing_until.items() if until > now}
        self._typing_until[chat_id] = now + TYPING_SHOWN
        self.spawn(self._show_typing(chat_id))


class RecentIds(Generic[Key]):
    """The last `size` ids seen, to tell a re-delivered update from a new one."""

    def __init__(self, size: int) -> None:
        self._order: deque[Key] = deque(maxlen=size)
        self._seen: set[Key] = set()

    def add(self, value: Key) -> bool:
        """Remember `value`; False if it was already remembered."""
        if value in self._seen:
            return False
        if len(self._order) == self._order.maxlen:
            self._seen.discard(self._order[0])
        self._order.append(value)
        self._seen.add(value)
        return True


class StoredCursor:
    """Where a platform's stream of updates was handled up to, kept in the database (never in the working
    directory), so that a restart reads on from there: what arrived meanwhile is not lost."""

    def __init__(self, sessions: async_sessionmaker[AsyncSession], stream: str) -> None:
        self._sessions = sessions
        self.stream = stream

    async def load(self) -> str | None:
        async with UnitOfWork(self._sessions) as uow:
            return await uow.cursors.get(self.stream)

    async def save(self, position: str) -> None:
        async with UnitOfWork(self._sessions) as uow:
            await uow.cursors.set(self.stream, position, utcnow())
            await uow.commit()
