"""The one way out to residents: replies and outbox messages go through per-chat lanes, within the platforms'
rate limits, waiting out 429s, retrying failures and giving up on residents who blocked the bot."""

from __future__ import annotations

import asyncio
import logging
import math
import secrets
import time
import weakref
from collections import Counter, deque
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Protocol

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.core.delivery import DeliveryError, RecipientUnreachable, RetryLater, Sender
from bot.core.types import Handled, Reply, keyboard_from_json
from bot.core.waiting import uninterrupted, wait_for_event
from storage.db import is_outage
from storage.models import OutboxMessage, utcnow
from storage.uow import UnitOfWork

log = logging.getLogger(__name__)

LEASE = timedelta(seconds=8)  # a claim lapses this long after its holder stopped renewing it (it died)
RENEW_EVERY = 2.0  # seconds between lease renewals while this process holds messages
WAIT_IN_LANE = 10.0  # a 429 up to this many seconds is waited out in place; a stored message waits longer in the DB
MEMORY_RETRIES = (1.0, 2.0, 4.0)  # seconds before each new try of a reply kept only in memory
MEMORY_WAIT_LIMIT = 60.0  # a reply kept only in memory is given up when the platform asks to wait longer
OUTAGE_BACKOFF = (0.5, 1.0, 2.0)  # seconds between rounds while the database is unavailable (a cheap try)


class SendLimiter(Protocol):
    """Waits for a send slot to a chat within a platform's limits."""

    async def acquire(self, chat_id: str) -> None: ...


class SharedRateLimiter:
    """The limits of `RateLimiter`, kept by every process of the bot together: each send reserves its slot in the
    database (the platform overall, and the chat), so several workers never exceed a limit between them.

    Slots are spaced evenly (1 s + headroom over `per_second` apart overall); a reservation is one short
    transaction. Between the reservation and the arrival at the platform lie a database round trip and a sleep
    in each process, so the headroom is wider than `RateLimiter`'s. The processes' clocks must agree (one
    machine, or NTP)."""

    WINDOW_HEADROOM = 0.15  # seconds
    CHAT_HEADROOM = 1.15

    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        platform: str,
        per_second: float,
        chat_interval: float,
        group_interval: float = 0.0,
    ) -> None:
        self._sessions = sessions
        self._platform = platform
        self._interval = (1.0 + self.WINDOW_HEADROOM) / per_second
        self._chat_interval = chat_interval * self.CHAT_HEADROOM
        self._group_interval = max(chat_interval, group_interval) * self.CHAT_HEADROOM

    async def acquire(self, chat_id: str) -> None:
        chat = chat_id.partition("/")[0]  # a topic counts as its group
        interval = self._group_interval if chat.startswith("-") else self._chat_interval
        now = time.time()
        async with UnitOfWork(self._sessions) as uow:
            overall = await uow.send_slots.reserve(self._platform, self._interval, now)
            to_chat = await uow.send_slots.reserve(f"{self._platform}:{chat}", interval, now) if interval else now
            await uow.commit()
        wait = max(overall, to_chat) - time.time()
        if wait > 0:
            await asyncio.sleep(wait)


class RateLimiter:
    """At most `per_second` sends overall and one per `chat_interval` seconds to a chat, first come, first served.

    Each interval is measured from the moment the previous send was let through, so however late a timer
    fires, two sends never come closer than the limit allows. The platform counts arrivals, not departures, and
    the network may bring messages closer together than they left: at most `per_second` sends go in any window
    of 1 s + WINDOW_HEADROOM (so a burst that arrives that much closer together still keeps the limit), and the
    interval to one chat gets CHAT_HEADROOM on top.
    """

    WINDOW_HEADROOM = 0.045  # seconds: the arrival jitter tolerated at the limit; more would cost throughput
    CHAT_HEADROOM = 1.05

    def __init__(self, per_second: float, chat_interval: float, group_interval: float = 0.0) -> None:
        self._interval = 1.0 / per_second
        self._group_interval = max(chat_interval, group_interval) * self.CHAT_HEADROOM
        self._window = 1.0 + self.WINDOW_HEADROOM
        self._per_second = max(1, math.floor(per_second))
        self._chat_interval = chat_interval * self.CHAT_HEADROOM
        self._next = 0.0
        self._recent: deque[float] = deque()  # when the sends of the last window were let through
        self._lock = asyncio.Lock()
        self._chats: dict[str, tuple[asyncio.Lock, list[float]]] = {}  # chat -> (its lock, [next allowed time])

    async def acquire(self, chat_id: str) -> None:
        """Wait for a send slot to `chat_id`; a topic "CHAT/THREAD" counts as its group (a negative id), which
        gets `group_interval` (Telegram: about 20 messages a minute into one group)."""
        loop = asyncio.get_running_loop()
        chat_id = chat_id.partition("/")[0]
        lock, next_for_chat = self._chats.setdefault(chat_id, (asyncio.Lock(), [0.0]))
        async with lock:
            if next_for_chat[0] > loop.time():
                await asyncio.sleep(next_for_chat[0] - loop.time())
            async with self._lock:
                while True:
                    now = loop.time()
                    while self._recent and self._recent[0] <= now - self._window:
                        self._recent.popleft()
                    full = len(self._recent) >= self._per_second
                    wait = max(self._next - now, self._recent[0] + self._window - now if full else 0.0)
                    if wait <= 0:
                        break
                    await asyncio.sleep(wait)
                self._recent.append(now)
                self._next = now + self._interval
            group = chat_id.startswith("-")
            next_for_chat[0] = loop.time() + (self._group_interval if group else self._chat_interval)
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


@dataclass(frozen=True, slots=True)
class Message:
    """A message on its way to a chat; `outbox_id` is None for a reply kept only in memory."""

    platform: str
    chat_id: str
    reply: Reply
    outbox_id: int | None = None
    attempts: int = 1  # tries so far, this one included (a stored message counts its claims)
    memory_id: int = field(default_factory=lambda: secrets.randbits(62))  # a reply kept in memory: its send id

    @property
    def send_id(self) -> int:
        """The same for every try of this message (see `Sender.send`)."""
        return self.outbox_id if self.outbox_id is not None else self.memory_id

    def __str__(self) -> str:
        what = f"outbox message {self.outbox_id}" if self.outbox_id is not None else "a reply"
        return f"{what} to {self.platform} chat {self.chat_id}"


class Notifier:
    """Sends everything the bot says, and delivers the outbox. Safe with several processes on PostgreSQL.

    Every message to a chat waits for the previous one to that chat (a lane), so a chat's messages arrive in
    order, and for the platform's rate limiter. Two sources feed the lanes:

    - `deliver`: an update's replies, at once, in the task that handled the update (the fast path). Replies
      stored with the update's changes are born claimed by this process (`claimant`, under a lease).
    - `run`: due outbox rows, claimed in batches: notices, retries, and replies whose fast path failed or whose
      process died. A process that stops cleanly hands back what it holds; one that died is taken over when its
      lease lapses (LEASE, renewed every RENEW_EVERY s while alive), or at once by a single process restarting
      (`takes_over_claims`).

    A stored message is recorded as sent right after the platform took it, so a crash can send at most the
    messages in that moment twice. While the database is unavailable, outcomes wait in memory and are written
    when it is back.
    """

    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        retry: RetryPolicy,
        clock: Callable[[], datetime] = utcnow,
        batch: int = 100,
        lease: timedelta = LEASE,
        takes_over_claims: bool = False,
    ) -> None:
        self.claimant = secrets.token_hex(8)
        self._sessions = sessions
        self._retry = retry
        self._clock = clock
        self._batch = batch
        self._lease = lease
        self._takes_over = takes_over_claims
        self._senders: dict[str, tuple[Sender, SendLimiter | None]] = {}
        self._lanes: weakref.WeakValueDictionary[tuple[str, str], asyncio.Lock] = weakref.WeakValueDictionary()
        self._wake = asyncio.Event()
        self._stopping = asyncio.Event()
        self._holding: set[int] = set()  # outbox ids this process holds and has not recorded an outcome for
        self._sent: list[int] = []  # delivered, not yet recorded
        self.activity: Counter[str] = Counter()  # "sent", "failed" (a try that failed): for the log's summary
        self._settled: list[tuple[int, dict[str, object]]] = []  # other outcomes, not yet recorded
        self._in_flight: set[asyncio.Task[None]] = set()  # lanes of claimed messages being sent
        self._renewed_at = 0.0

    def register(self, sender: Sender, limiter: SendLimiter | None = None) -> None:
        """Deliver this platform's messages through `sender`; messages of unregistered platforms wait."""
        self._senders[sender.platform.value] = (sender, limiter)
        self.wake()

    def wake(self) -> None:
        """Look at the outbox now (a change was committed, or the periodic sweep)."""
        self._wake.set()

    def stop_waiting(self) -> None:
        """The bot is stopping: messages stop waiting out the platform's limits (stored ones are handed back)."""
        self._stopping.set()

    def lease_until(self, now: datetime) -> datetime:
        return now + self._lease

    # The fast path

    async def deliver(self, handled: Handled) -> None:
        """Send an update's replies now, in order; what cannot go now is left to `run` (stored replies) or given
        up with a logged reason (replies kept in memory). Returns when each is sent, rescheduled or given up."""
        messages = [
            Message(handled.platform.value, handled.chat_id, outgoing.reply, outgoing.outbox_id)
            for outgoing in handled.messages
        ]
        self._holding.update(message.outbox_id for message in messages if message.outbox_id is not None)
        await self._send_in_order(messages)

    # The outbox

    async def run(self, idle_timeout: float = 60.0) -> None:
        """Deliver until cancelled; then record what was sent and hand back what is held. Claims more messages
        while earlier ones still wait for their send slots, so the platform's limit, not the database, sets the
        pace. Database errors never end it: it waits for the database and carries on."""
        outage: BaseException | None = None
        pauses = iter(OUTAGE_BACKOFF)
        claim_more = True
        try:
            while True:
                claim_more = claim_more or self._wake.is_set()
                self._wake.clear()  # before looking, so a wake-up during the round is not lost
                try:
                    claim_more = await uninterrupted(self._round(claim_more))
                except Exception as exc:
                    if outage is None or type(exc) is not type(outage):
                        if is_outage(exc):
                            log.warning("outbox: the database is unavailable (%s); waiting for it", exc)
                        else:
                            log.exception("outbox: a round failed; trying again")
                    outage = exc
                    await asyncio.sleep(next(pauses, OUTAGE_BACKOFF[-1]))
                    claim_more = True
                    continue
                if outage is not None:
                    log.warning("outbox: the database is back; delivery resumes")
                    outage, pauses = None, iter(OUTAGE_BACKOFF)
                if claim_more:
                    continue
                busy = self._in_flight or self._holding
                await wait_for_event(self._wake, min(RENEW_EVERY, idle_timeout) if busy else idle_timeout)
        finally:
            await self._hand_back()

    async def deliver_due(self) -> int:
        """Record what was sent so far, claim one batch of due messages and deliver it to the end; returns how
        many were claimed."""
        await self._record()
        claimed = await self._claim(self._batch)
        await asyncio.gather(*(self._send_in_order(lane) for lane in _by_chat(claimed)))
        await self._record()
        return len(claimed)

    async def _round(self, claim: bool) -> bool:
        """Record outcomes, renew leases, and claim if asked; True when there may be more to claim at once."""
        if self._takes_over:
            async with UnitOfWork(self._sessions) as uow:
                taken = await uow.outbox.release(self._clock())
                await uow.commit()
            self._takes_over = False
            if taken:
                log.info("outbox: took back %d message(s) held when the bot last stopped", taken)
        recorded = await self._record()
        await self._renew()
        in_flight = len(self._holding)
        if not (claim or recorded) or in_flight > self._batch // 2:
            return False
        claimed = await self._claim(self._batch - in_flight)
        for lane in _by_chat(claimed):
            task = asyncio.create_task(self._send_in_order(lane))
            self._in_flight.add(task)
            task.add_done_callback(self._lane_done)
        return len(claimed) >= self._batch - in_flight

    def _lane_done(self, task: asyncio.Task[None]) -> None:
        self._in_flight.discard(task)
        self.wake()  # outcomes to record, room to claim, and the chat's next message may be due now

    async def _claim(self, limit: int) -> list[Message]:
        if not self._senders or limit <= 0:
            return []
        now = self._clock()
        async with UnitOfWork(self._sessions) as uow:
            rows = await uow.outbox.claim_due(list(self._senders), now, now + self._lease, limit, self.claimant)
            await uow.commit()
        claimed = [_message(row) for row in rows if row.id not in self._holding]  # not those already in a lane
        self._holding.update(message.outbox_id for message in claimed if message.outbox_id is not None)
        return claimed

    async def _renew(self) -> None:
        now = asyncio.get_running_loop().time()
        if not self._holding or now - self._renewed_at < RENEW_EVERY:
            return
        async with UnitOfWork(self._sessions) as uow:
            await uow.outbox.renew(self.claimant, self._clock() + self._lease)
            await uow.commit()
        self._renewed_at = now

    async def _record(self) -> int:
        """Write the outcomes gathered so far in one transaction; on failure they are kept for the next try."""
        sent, settled = self._sent, self._settled
        if not sent and not settled:
            return 0
        self._sent, self._settled = [], []
        try:
            async with UnitOfWork(self._sessions) as uow:
                if sent:
                    await uow.outbox.mark_sent(sent, self._clock())
                for message_id, values in settled:
                    await uow.outbox.settle(message_id, **values)
                await uow.commit()
        except BaseException:
            self._sent[:0], self._settled[:0] = sent, settled
            raise
        self._holding.difference_update(sent)
        self._holding.difference_update(message_id for message_id, _ in settled)
        return len(sent) + len(settled)

    async def _hand_back(self) -> None:
        """On stop: finish nothing more, record what was sent, and release every claim for whoever runs next."""
        self._stopping.set()
        for task in self._in_flight:
            task.cancel()
        await asyncio.gather(*self._in_flight, return_exceptions=True)
        try:
            await self._record()
            async with UnitOfWork(self._sessions) as uow:
                released = await uow.outbox.release(self._clock(), claimant=self.claimant)
                await uow.commit()
        except Exception as exc:
            log.warning("outbox: could not hand back held messages (%s); they are taken over after the lease", exc)
            return
        self._holding.clear()
        if released:
            log.info("outbox: handed back %d message(s) not sent before the stop", released)

    # Sending

    async def _send_in_order(self, messages: list[Message]) -> None:
        """Send one chat's messages in order; after a stored one is rescheduled, the stored ones behind it wait
        for it (they are handed back, and `claim_due` keeps a chat's order)."""
        if not messages:
            return
        first = messages[0]
        key = (first.platform, first.chat_id)
        lane = self._lanes.get(key)
        if lane is None:
            lane = self._lanes[key] = asyncio.Lock()
        async with lane:
            for index, message in enumerate(messages):
                if not await self._send(message):  # only a stored message is rescheduled, and so are those after
                    for later in messages[index + 1 :]:
                        self._settle(later, due_at=self._clock(), attempts=later.attempts - 1)
                    return

    async def _send(self, message: Message) -> bool:
        """Send one message; False when a stored one was rescheduled (not sent, not given up)."""
        entry = self._senders.get(message.platform)
        if entry is None:
            if message.outbox_id is not None:  # another process with this platform may send it
                self._settle(message, due_at=self._clock(), attempts=message.attempts - 1)
                return False
            log.warning("%s given up: no adapter for the platform in this process", message)
            return True
        sender, limiter = entry
        tries = 0
        while True:
            tries += 1
            try:
                if limiter is not None:
                    await limiter.acquire(message.chat_id)
                await sender.send(message.chat_id, message.reply, message.send_id)
            except RecipientUnreachable as exc:
                self.activity["failed"] += 1
                log.info("%s given up: the recipient is unreachable (%s)", message, exc)
                if message.outbox_id is not None:
                    self._settle(message, status="dead", last_error=str(exc)[:1000])
                return True
            except RetryLater as exc:
                if not await self._wait_out(message, exc.seconds):
                    return message.outbox_id is None
            except Exception as exc:
                self.activity["failed"] += 1
                error = str(exc) or type(exc).__name__
                if not isinstance(exc, DeliveryError | OSError | TimeoutError):  # a bug in an adapter
                    log.exception("%s: unexpected error", message)
                    error = f"{type(exc).__name__}: {exc}"
                if message.outbox_id is not None:
                    self._failed(message, error)
                    return False
                if tries > len(MEMORY_RETRIES):
                    log.warning("%s given up after %d tries: %s", message, tries, error)
                    return True
                delay = MEMORY_RETRIES[tries - 1]
                log.warning("%s postponed by %g s: try %d failed (%s)", message, delay, tries, error)
                if await self._stopped_within(delay):
                    log.warning("%s given up: the bot is stopping", message)
                    return True
            else:
                self.activity["sent"] += 1
                if message.outbox_id is not None:
                    self._sent.append(message.outbox_id)
                    self.wake()  # record it at once: a crash before the record sends it twice
                return True

    async def _wait_out(self, message: Message, seconds: float) -> bool:
        """Wait as the platform asked, in the lane; False if the message was rescheduled or given up instead."""
        stored = message.outbox_id is not None
        if stored and seconds > WAIT_IN_LANE:
            log.warning("%s postponed: the platform asks to wait %g s; retried from the outbox", message, seconds)
            due_at = self._clock() + timedelta(seconds=seconds)
            self._settle(message, attempts=message.attempts - 1, due_at=due_at)  # a 429 is not a failed attempt
            self._wake_in(seconds)
            return False
        if not stored and seconds > MEMORY_WAIT_LIMIT:
            log.warning("%s given up: the platform asks to wait %g s", message, seconds)
            return False
        log.warning("%s postponed: the platform asks to wait %g s", message, seconds)
        if await self._stopped_within(seconds):
            if stored:
                log.info("%s left for after the restart: the bot is stopping", message)
            else:
                log.warning("%s given up: the bot is stopping", message)
            return False
        return True

    async def _stopped_within(self, seconds: float) -> bool:
        return await wait_for_event(self._stopping, seconds)

    def _failed(self, message: Message, error: str) -> None:
        if message.attempts >= self._retry.max_attempts:
            log.error("%s given up after %d attempts: %s", message, message.attempts, error)
            self._settle(message, status="dead", last_error=error[:1000])
            return
        delay = self._retry.delay(message.attempts)
        log.warning("%s postponed by %.0f s: attempt %d failed (%s)", message, delay, message.attempts, error)
        self._settle(message, due_at=self._clock() + timedelta(seconds=delay), last_error=error[:1000])
        self._wake_in(delay)

    def _settle(self, message: Message, **values: object) -> None:
        assert message.outbox_id is not None
        self._settled.append((message.outbox_id, values))
        self.wake()

    def _wake_in(self, seconds: float) -> None:
        """Look again when a rescheduled message falls due, rather than at the next sweep."""
        asyncio.get_running_loop().call_later(seconds, self.wake)


def _message(row: OutboxMessage) -> Message:
    reply = Reply(text=row.text, buttons=keyboard_from_json(row.buttons), edit_message_id=row.edit_message_id)
    return Message(row.platform, row.chat_id, reply, row.id, row.attempts)


def _by_chat(messages: list[Message]) -> list[list[Message]]:
    """Claimed messages grouped into one lane per chat, each in the order it was claimed (by id)."""
    lanes: dict[tuple[str, str], list[Message]] = {}
    for message in messages:
        lanes.setdefault((message.platform, message.chat_id), []).append(message)
    return list(lanes.values())
