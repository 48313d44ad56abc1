"""The outbox: stage changes reach residents exactly once, through crashes, 429s, blocked users and two workers."""

from __future__ import annotations

import asyncio
import itertools
import time
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select

from bot.app import Application
from bot.config import Config
from bot.core.delivery import DeliveryError, RecipientUnreachable, RetryLater
from bot.core.types import Platform, Reply
from bot.notifier import LEASE, Notifier, RateLimiter, RetryPolicy
from bot.services.appeal_stages import AppealStage
from bot.services.appeals import AppealDraft, move_appeal, open_appeal
from storage.db import create_engine, session_factory
from storage.models import Appeal, OutboxMessage
from storage.uow import UnitOfWork
from tests.conftest import stored_resident

START = datetime(2026, 11, 23, 7, 0, tzinfo=UTC)


class Clock:
    def __init__(self) -> None:
        self.now = START

    def __call__(self) -> datetime:
        return self.now


class FakeTelegram:
    """A stand-in for the platform: records what residents received; scripted failures come first."""

    platform = Platform.TELEGRAM

    def __init__(self, *failures: Exception, block: asyncio.Event | None = None) -> None:
        self.failures = list(failures)
        self.received: list[tuple[str, str]] = []
        self.calls = 0
        self.block = block
        self.entered = asyncio.Event()

    async def send(self, chat_id: str, reply: Reply, send_id: int = 0) -> None:
        self.calls += 1
        self.entered.set()
        if self.block is not None:
            await self.block.wait()
        if self.failures:
            raise self.failures.pop(0)
        self.received.append((chat_id, reply.text))


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
async def app(config: Config, clock: Clock) -> AsyncIterator[Application]:
    application = await Application.start(config, clock=clock)
    yield application
    await application.close()


async def appeal_of(app: Application, clock: Clock, user: str = "42") -> str:
    async with UnitOfWork(session_factory(app.engine)) as uow:
        resident_id = await stored_resident(uow, "telegram", user)
        appeal = await open_appeal(
            uow,
            app.services.appeals,
            resident_id,
            "telegram",
            AppealDraft("ЖКХ", "Не работает лифт в подъезде"),
            clock(),
        )
        await uow.commit()
        return appeal.number


async def accept(app: Application, clock: Clock, number: str, comment: str | None = "Передано в УК") -> None:
    async with UnitOfWork(session_factory(app.engine)) as uow:
        await move_appeal(
            uow, app.services.notices, number, AppealStage.ACCEPTED, actor="staff:olga", now=clock(), comment=comment
        )
        await uow.commit()


def notifier(app: Application, clock: Clock, **retry: float) -> Notifier:
    """A fresh dispatcher, as a restarted process would have."""
    return Notifier(session_factory(app.engine), RetryPolicy(**retry), clock=clock)  # type: ignore[arg-type]


async def outbox(app: Application) -> list[OutboxMessage]:
    async with session_factory(app.engine)() as session:
        return list((await session.execute(select(OutboxMessage).order_by(OutboxMessage.id))).scalars())


async def test_stage_change_and_its_notification_commit_together(app: Application, clock: Clock) -> None:
    number = await appeal_of(app, clock)
    async with UnitOfWork(session_factory(app.engine)) as uow:
        await move_appeal(uow, app.services.notices, number, AppealStage.ACCEPTED, actor="staff", now=clock())
        # no commit: as if the process died here
    assert await outbox(app) == []
    async with session_factory(app.engine)() as session:
        assert (await session.execute(select(Appeal.stage))).scalar_one() == "new"

    await accept(app, clock, number)
    [message] = await outbox(app)
    assert (message.platform, message.chat_id, message.status) == ("telegram", "42", "pending")
    assert message.text == (
        f"Обращение {number}: новый этап — «Зарегистрировано».\nКомментарий специалиста: Передано в УК"
    )
    assert message.buttons == [[{"text": "Открыть обращение", "payload": f"my:open:{number}"}]]


async def test_a_crash_between_commit_and_send_still_delivers_exactly_once(app: Application, clock: Clock) -> None:
    number = await appeal_of(app, clock)
    await accept(app, clock, number)  # committed; no dispatcher was running (crashed)
    telegram = FakeTelegram()
    restarted = notifier(app, clock)
    restarted.register(telegram)
    assert await restarted.deliver_due() == 1
    assert await restarted.deliver_due() == 0
    assert telegram.received == [
        ("42", f"Обращение {number}: новый этап — «Зарегистрировано».\nКомментарий специалиста: Передано в УК")
    ]
    [message] = await outbox(app)
    assert (message.status, message.sent_at) == ("sent", clock.now)


async def claimed_by_a_dead_process(app: Application, clock: Clock) -> None:
    """What a process killed while sending leaves behind: due messages claimed under its lease."""
    async with UnitOfWork(session_factory(app.engine)) as uow:
        await uow.outbox.claim_due(["telegram"], clock(), clock() + LEASE, 100, claimant="dead")
        await uow.commit()


async def test_a_dispatcher_killed_mid_send_is_taken_over_after_its_lease(app: Application, clock: Clock) -> None:
    number = await appeal_of(app, clock)
    await accept(app, clock, number, comment=None)
    await claimed_by_a_dead_process(app, clock)

    telegram = FakeTelegram()
    second = notifier(app, clock)  # another worker on the database
    second.register(telegram)
    assert await second.deliver_due() == 0  # still leased to the dead process
    clock.now += LEASE
    assert await second.deliver_due() == 1
    assert await second.deliver_due() == 0
    assert telegram.received == [("42", f"Обращение {number}: новый этап — «Зарегистрировано».")]


async def test_a_single_process_restarting_takes_back_its_claims_at_once(app: Application, clock: Clock) -> None:
    number = await appeal_of(app, clock)
    await accept(app, clock, number, comment=None)
    await claimed_by_a_dead_process(app, clock)

    telegram = FakeTelegram()
    restarted = Notifier(session_factory(app.engine), RetryPolicy(), clock=clock, takes_over_claims=True)
    restarted.register(telegram)
    task = asyncio.create_task(restarted.run())
    try:
        await wait_for(lambda: telegram.received)  # no lease to wait for: the clock does not move
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
    assert telegram.received == [("42", f"Обращение {number}: новый этап — «Зарегистрировано».")]
    [message] = await outbox(app)
    assert (message.status, message.claimed_by) == ("sent", None)


async def test_a_clean_stop_hands_back_what_it_held(app: Application, clock: Clock) -> None:
    number = await appeal_of(app, clock)
    await accept(app, clock, number, comment=None)
    stuck = FakeTelegram(block=asyncio.Event())  # the send never returns
    first = notifier(app, clock)
    first.register(stuck)
    task = asyncio.create_task(first.run())
    await asyncio.wait_for(stuck.entered.wait(), 5)
    [held] = await outbox(app)
    assert held.claimed_by == first.claimant
    task.cancel()  # the bot stops while the message is being sent
    await asyncio.gather(task, return_exceptions=True)
    assert stuck.received == []
    [handed_back] = await outbox(app)
    assert (handed_back.status, handed_back.claimed_by, handed_back.due_at) == ("pending", None, clock.now)

    telegram = FakeTelegram()
    second = notifier(app, clock)
    second.register(telegram)
    assert await second.deliver_due() == 1  # at once, not after a lease
    assert telegram.received == [("42", f"Обращение {number}: новый этап — «Зарегистрировано».")]


async def wait_for(condition: Callable[[], object], seconds: float = 5.0) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, "the condition never held"
        await asyncio.sleep(0.01)


async def test_429_is_retried_after_the_delay_the_platform_gave(app: Application, clock: Clock) -> None:
    await accept(app, clock, await appeal_of(app, clock))
    telegram = FakeTelegram(RetryLater(30))
    dispatcher = notifier(app, clock)
    dispatcher.register(telegram)
    await dispatcher.deliver_due()
    [message] = await outbox(app)
    assert (message.status, message.due_at, message.attempts) == ("pending", START + timedelta(seconds=30), 0)
    clock.now += timedelta(seconds=29)
    assert await dispatcher.deliver_due() == 0
    clock.now += timedelta(seconds=1)
    assert await dispatcher.deliver_due() == 1
    assert len(telegram.received) == 1
    assert telegram.calls == 2


async def test_blocked_resident_is_given_up_with_the_reason(app: Application, clock: Clock) -> None:
    await accept(app, clock, await appeal_of(app, clock))
    dispatcher = notifier(app, clock)
    dispatcher.register(FakeTelegram(RecipientUnreachable("Forbidden: bot was blocked by the user")))
    await dispatcher.deliver_due()
    clock.now += timedelta(days=1)
    assert await dispatcher.deliver_due() == 0
    [message] = await outbox(app)
    assert (message.status, message.last_error) == ("dead", "Forbidden: bot was blocked by the user")


async def test_other_failures_back_off_then_give_up(app: Application, clock: Clock) -> None:
    await accept(app, clock, await appeal_of(app, clock))
    telegram = FakeTelegram(DeliveryError("Bad Gateway"), OSError("connection reset"), DeliveryError("Bad Gateway"))
    dispatcher = notifier(app, clock, base_delay=10, max_delay=15, max_attempts=3)
    dispatcher.register(telegram)
    due_times = []
    for _ in range(3):
        await dispatcher.deliver_due()
        [message] = await outbox(app)
        due_times.append(message.due_at - clock.now)
        clock.now = message.due_at
    assert due_times[:2] == [timedelta(seconds=10), timedelta(seconds=15)]  # doubling, capped
    [message] = await outbox(app)
    assert (message.status, message.attempts, message.last_error) == ("dead", 3, "Bad Gateway")
    assert telegram.received == []


async def test_messages_of_a_platform_without_a_sender_wait(app: Application, clock: Clock) -> None:
    await accept(app, clock, await appeal_of(app, clock))
    dispatcher = notifier(app, clock)

    class FakeVk(FakeTelegram):
        platform = Platform.VK

    dispatcher.register(FakeVk())
    assert await dispatcher.deliver_due() == 0
    assert [message.status for message in await outbox(app)] == ["pending"]


@pytest.mark.postgres
async def test_two_dispatchers_on_postgresql_deliver_1000_with_no_duplicates(
    postgres_server: object, tmp_path: object
) -> None:
    from tests.conftest import PostgresServer

    assert isinstance(postgres_server, PostgresServer)
    url = postgres_server.fresh_database()
    engines = [create_engine(url), create_engine(url)]
    try:
        async with UnitOfWork(session_factory(engines[0])) as uow:
            for number in range(1000):
                uow.outbox.add(OutboxMessage(platform="telegram", chat_id=str(number), text=f"сообщение {number}"))
            await uow.commit()
        platforms = [FakeTelegram(), FakeTelegram()]
        dispatchers = [Notifier(session_factory(engine), RetryPolicy(), batch=50) for engine in engines]
        for dispatcher, platform in zip(dispatchers, platforms, strict=True):
            dispatcher.register(platform)

        async def drain(dispatcher: Notifier) -> None:
            while await dispatcher.deliver_due():
                pass

        await asyncio.gather(*(drain(dispatcher) for dispatcher in dispatchers))
        delivered = [chat for platform in platforms for chat, _ in platform.received]
        assert len(delivered) == 1000
        assert set(delivered) == {str(number) for number in range(1000)}
        assert all(platform.received for platform in platforms), "both dispatchers took part"
        async with UnitOfWork(session_factory(engines[0])) as uow:
            assert await uow.outbox.count_by_status() == {"sent": 1000}
    finally:
        for engine in engines:
            await engine.dispose()


async def test_rate_limiter_spaces_sends_overall_and_per_chat() -> None:
    limiter = RateLimiter(per_second=100, chat_interval=0.05)
    stamps: list[tuple[str, float]] = []

    async def send(chat: str) -> None:
        await limiter.acquire(chat)
        stamps.append((chat, time.monotonic()))

    await asyncio.gather(*(send(chat) for chat in ["a", "a", "a", "b", "c", "d", "e", "f"]))
    times = sorted(moment for _, moment in stamps)
    assert min(later - earlier for earlier, later in itertools.pairwise(times)) >= 0.0099
    chat_a = sorted(moment for chat, moment in stamps if chat == "a")
    assert min(later - earlier for earlier, later in itertools.pairwise(chat_a)) >= 0.0499
