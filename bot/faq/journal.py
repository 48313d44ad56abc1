"""The FAQ's journal: questions it could not answer, and answers shown and rated; kept in memory briefly, written
to the database in batches, so a resident's answer never waits for the write."""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from collections.abc import Callable

from storage.repositories import FaqUse, Miss
from storage.uow import UnitOfWork

log = logging.getLogger(__name__)

FLUSH_DELAY = 1.0  # seconds a miss may wait to be written together with the next ones
MAX_WAITING = 10_000  # entries kept while the database cannot take them; the oldest go first
MAX_RETRY_DELAY = 60.0  # seconds between tries while the database keeps failing


class FaqJournal:
    """Admins extend the FAQ from the misses (`faq misses`, `faq suggest`) and rewrite answers residents do not
    find helpful (`faq stats`).

    `record` only queues; `run` writes what is queued once a second, in one transaction, and `flush` writes the
    rest on shutdown. While the database fails, entries wait (at most `limit` of them) and are tried again.
    """

    def __init__(
        self, uow_factory: Callable[[], UnitOfWork], delay: float = FLUSH_DELAY, limit: int = MAX_WAITING
    ) -> None:
        self._uow_factory = uow_factory
        self._delay = delay
        self._limit = limit
        self._waiting: deque[Miss | FaqUse] = deque(maxlen=limit)
        self._queued = asyncio.Event()
        self._writing = asyncio.Lock()
        self._dropped = 0

    def record(self, entry: Miss | FaqUse) -> None:
        if len(self._waiting) == self._limit:
            self._note_dropped(1)
        self._waiting.append(entry)
        self._queued.set()

    async def flush(self) -> None:
        """Write every queued miss; on failure they are queued again and the error is raised."""
        async with self._writing:
            batch, self._waiting = self._waiting, deque(maxlen=self._limit)
            if not batch:
                return
            try:
                async with self._uow_factory() as uow:
                    await uow.unmatched.add_many([entry for entry in batch if isinstance(entry, Miss)])
                    await uow.faq_uses.add_many([entry for entry in batch if isinstance(entry, FaqUse)])
                    await uow.commit()
            except BaseException:
                self._note_dropped(len(batch) + len(self._waiting) - self._limit)
                batch.extend(self._waiting)  # those recorded meanwhile go after; the oldest fall off the front
                self._waiting = batch
                raise
            if self._dropped:
                log.warning("%d FAQ journal entries were dropped while the database could not take them", self._dropped)
                self._dropped = 0

    def _note_dropped(self, count: int) -> None:
        if count <= 0:
            return
        if not self._dropped:
            log.warning("more than %d FAQ journal entries wait to be written: dropping the oldest", self._limit)
        self._dropped += count

    async def run(self) -> None:
        """Write queued entries a moment after they arrive, until cancelled; back off while the database fails."""
        delay = self._delay
        while True:
            await self._queued.wait()
            await asyncio.sleep(delay)
            self._queued.clear()
            try:
                await self.flush()
            except Exception:
                delay = min(delay * 2, MAX_RETRY_DELAY)
                log.exception("could not write %d FAQ journal entries; trying again in %g s", len(self._waiting), delay)
                self._queued.set()
            else:
                delay = self._delay
