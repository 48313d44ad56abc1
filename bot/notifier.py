"""The outbox dispatcher: claims due messages, sends them through the platforms within their rate limits,
retries what failed, and gives up on residents who blocked the bot."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.core.delivery import DeliveryError, RecipientUnreachable, RetryLater, Sender
from bot.core.types import Reply
from bot.services.notices import keyboard_from_json
from storage.models import OutboxMessage, utcnow
from storage.uow import UnitOfWork

log = logging.getLogger(__name__)


class RateLimiter:
    """At most `per_second` sends overall and one per `chat_interval` seconds to a chat, first come, first served.

    Each interval is measured from the moment the previous send was let through, so however late a timer
    fires, two sends never come closer than the limit allows. The platform counts arrivals, not departures, and
    the network may bring messages closer together than they left: any one second holds at most one send fewer
    than the limit (a message's worth of slack), and the interval to one chat gets CHAT_HEADROOM on top.
    """

    CHAT_HEADROOM = 1.05

    def __init__(self, per_second: float, chat_interval: float) -> None:
        self._interval = 1.0 / per_second
        self._per_second = max(1, math.ceil(per_second) - 1)
        self._chat_interval = chat_interval * self.CHAT_HEADROOM
        self._next = 0.0
        self._recent: deque[float] = deque()  # when the sends of the last second were let through
        self._lock = asyncio.Lock()
        self._chats: dict[str, tuple[asyncio.Lock, list[float]]] = {}  # chat -> (its lock, [next allowed time])

    async def acquire(self, chat_id: str) -> None:
        loop = asyncio.get_running_loop()
        lock, next_for_chat = self._chats.setdefault(chat_id, (asyncio.Lock(), [0.0]))
        async with lock:
            if next_for_chat[0] > loop.time():
                await asyncio.sleep(next_for_chat[0] - loop.time())
            async with self._lock:
                while True:
                    now = loop.time()
                    while self._recent and self._recent[0] <= now - 1.0:
                        self._recent.popleft()
                    wait = max(
                        self._next - now, self._recent[0] + 1.0 - now if len(self._recent) >= self._per_second else 0.0
                    )
                    if wait <= 0:
                        break
                    await asyncio.sleep(wait)
                self._recent.append(now)
                self._next = now + self._interval
            next_for_chat[0] = loop.time() + self._chat_interval
        if len(self._chats) > 10_000:  # forget idle chats whose interval has passed
            now = loop.time()
            self._chats = {chat: entry for chat, entry in self._chats.items() if entry[0].locked() or entry[1][0] > now}


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    base_delay: float = 5.0
    max_delay: float = 3600.0
    max_attempts: int = 10

    def delay(self, attempts: int) -> float:
        return float(min(self.base_delay * 2 ** max(0, attempts - 1), self.max_delay))


class Notifier:
    """Delivers the outbox. Safe with several processes on PostgreSQL; on SQLite, run one bot process.

    Delivery is at least once: a message is marked sent shortly after the platform took it (in bulk, within
    FLUSH_INTERVAL), so only a crash in that moment can send it twice; a crash before the send loses nothing,
    as the claim's lease runs out and another round takes the message.
    """

    FLUSH_INTERVAL = 0.25  # seconds; how often sent messages are recorded

    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        retry: RetryPolicy,
        clock: Callable[[], datetime] = utcnow,
        batch: int = 100,
        lease: timedelta = timedelta(minutes=2),
    ) -> None:
        self._sessions = sessions
        self._retry = retry
        self._clock = clock
        self._batch = batch
        self._lease = lease
        self._senders: dict[str, tuple[Sender, RateLimiter | None]] = {}
        self._wake = asyncio.Event()
        self._sent: list[int] = []  # delivered, not yet recorded

    def register(self, sender: Sender, limiter: RateLimiter | None = None) -> None:
        """Deliver this platform's messages through `sender`; messages of unregistered platforms wait."""
        self._senders[sender.platform.value] = (sender, limiter)
        self.wake()

    def wake(self) -> None:
        """Look at the outbox now (a change was committed, or the periodic sweep)."""
        self._wake.set()

    async def run(self, idle_timeout: float = 60.0) -> None:
        """Deliver until cancelled. Claims more messages while earlier ones still wait for their send slots,
        so the platform's rate limit, not the database round trips, sets the pace."""
        in_flight: set[asyncio.Task[None]] = set()
        try:
            while True:
                self._wake.clear()  # before looking, so a wake-up during the round is not lost
                claimed = 0
                if len(in_flight) <= self._batch // 2:
                    try:
                        for message in await self._claim(self._batch - len(in_flight)):
                            in_flight.add(asyncio.create_task(self._deliver(message)))
                            claimed += 1
                    except Exception:
                        log.exception("claiming outbox messages failed; retrying shortly")
                        await asyncio.sleep(1.0)
                if in_flight:
                    done, _ = await asyncio.wait(
                        in_flight, timeout=self.FLUSH_INTERVAL, return_when=asyncio.FIRST_COMPLETED
                    )
                    in_flight -= done
                    await self._record_sent()
                elif not claimed:
                    await self._record_sent()
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(self._wake.wait(), idle_timeout)
        finally:
            for task in in_flight:
                task.cancel()
            await asyncio.gather(*in_flight, return_exceptions=True)
            with contextlib.suppress(Exception):  # on shutdown, record what was sent, so it is not sent again
                await self._record_sent()

    async def deliver_due(self) -> int:
        """Claim one batch of due messages and deliver it to the end; returns how many were claimed."""
        claimed = await self._claim(self._batch)
        await asyncio.gather(*(self._deliver(message) for message in claimed))
        await self._record_sent()
        return len(claimed)

    async def _claim(self, limit: int) -> list[OutboxMessage]:
        if not self._senders or limit <= 0:
            return []
        now = self._clock()
        async with UnitOfWork(self._sessions) as uow:
            claimed = await uow.outbox.claim_due(list(self._senders), now, now + self._lease, limit)
            await uow.commit()
        return claimed

    async def _record_sent(self) -> None:
        if not self._sent:
            return
        sent, self._sent = self._sent, []
        async with UnitOfWork(self._sessions) as uow:
            await uow.outbox.mark_sent(sent, self._clock())
            await uow.commit()

    async def _deliver(self, message: OutboxMessage) -> None:
        sender, limiter = self._senders[message.platform]
        reply = Reply(text=message.text, buttons=keyboard_from_json(message.buttons))
        try:
            if limiter is not None:
                await limiter.acquire(message.chat_id)
            await sender.send(message.chat_id, reply)
        except RecipientUnreachable as exc:
            log.info("outbox message %s: recipient unreachable, given up: %s", message.id, exc)
            await self._settle(message.id, status="dead", last_error=str(exc)[:1000])
        except RetryLater as exc:
            log.warning("outbox message %s: platform asks to wait %.1f s", message.id, exc.seconds)
            await self._settle(
                message.id, attempts=message.attempts - 1, due_at=self._clock() + timedelta(seconds=exc.seconds)
            )
            self._wake_in(exc.seconds)
        except (DeliveryError, OSError, TimeoutError) as exc:
            await self._failed(message, str(exc) or type(exc).__name__)
        except Exception as exc:  # a bug in an adapter must not stop the outbox
            log.exception("outbox message %s: unexpected error", message.id)
            await self._failed(message, f"{type(exc).__name__}: {exc}")
        else:
            self._sent.append(message.id)

    async def _failed(self, message: OutboxMessage, error: str) -> None:
        if message.attempts >= self._retry.max_attempts:
            log.error("outbox message %s: given up after %d attempts: %s", message.id, message.attempts, error)
            await self._settle(message.id, status="dead", last_error=error[:1000])
            return
        delay = self._retry.delay(message.attempts)
        self._wake_in(delay)
        log.warning(
            "outbox message %s: attempt %d failed (%s); retry in %.0f s", message.id, message.attempts, error, delay
        )
        await self._settle(message.id, due_at=self._clock() + timedelta(seconds=delay), last_error=error[:1000])

    def _wake_in(self, seconds: float) -> None:
        """Look again when a rescheduled message falls due, rather than at the next sweep."""
        asyncio.get_running_loop().call_later(seconds, self.wake)

    async def _settle(self, message_id: int, **values: object) -> None:
        async with UnitOfWork(self._sessions) as uow:
            await uow.outbox.settle(message_id, **values)
            await uow.commit()
