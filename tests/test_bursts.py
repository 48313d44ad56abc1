"""Bursts within Telegram's limits: a hundred residents at once each get their answer, through unmodified aiogram
against a fake Bot API that answers 429 above 30 messages a second and 1 a second per chat."""

from __future__ import annotations

import asyncio
import re

import pytest
from sqlalchemy import func, select

from bot.app import Application
from bot.core.types import Platform
from storage.db import session_factory
from storage.models import Appeal
from tests.fake_telegram import FakeTelegram, User
from tests.test_telegram import start

RESIDENTS = [User(50_000 + number, f"Житель{number}") for number in range(100)]
NUMBER = re.compile(r"Обращение принято, его номер — (А-\d{4}-\d{6})\.")


def with_telegram_limits(fake: FakeTelegram) -> None:
    fake.rate_limit, fake.chat_interval = 30, 1.0


async def test_a_hundred_residents_writing_at_once_each_get_the_menu(app: Application, fake: FakeTelegram) -> None:
    with_telegram_limits(fake)
    running, stopped = await start(fake, app, limiter=app.rate_limiter(Platform.TELEGRAM))
    try:
        for user in RESIDENTS:
            fake.push(fake.message_update(user, "/start"))
        await fake.wait_until(lambda: all(fake.chats[user.id] for user in RESIDENTS), seconds=30)
        await running.adapter.wait_idle()
    finally:
        await stopped()
    for user in RESIDENTS:
        [greeting] = fake.chats[user.id]
        assert greeting.text.startswith(f"Здравствуйте, {user.first_name}!")
    assert len(fake.sent_at) == 100
    assert fake.sent_at[-1] - fake.sent_at[0] >= 3.0  # no faster than 30 a second: the limiter paced them


async def walk_to_the_summary(fake: FakeTelegram, user: User, house: int) -> None:
    """Take a resident through the wizard to its summary, each step once the previous one was answered (waiting
    for this resident's chat, not for the whole bot to be idle, as residents at once never leave it idle)."""
    chat = fake.chats[user.id]

    async def step(update: dict[str, object]) -> None:
        before = (len(chat), sum(shown.edits for shown in chat))
        fake.push(update)
        await fake.wait_until(lambda: (len(chat), sum(shown.edits for shown in chat)) != before)

    async def press(label: str) -> None:
        shown = next(message for message in reversed(chat) if label in message.labels)
        payload = next(payload for row in shown.buttons for text, payload in row if text == label)
        await step(fake.callback_update(user, shown, payload))

    await step(fake.message_update(user, "/start"))
    await press("Подать обращение")
    await press("Согласен(на)")
    await press("ЖКХ")
    await step(fake.message_update(user, f"Не работает лифт в доме {house}, третий день"))
    await press("Без фото")
    await step(fake.message_update(user, f"ул. Мира, {house}"))
    await press("Пропустить")


@pytest.mark.slow
async def test_a_hundred_residents_submitting_at_once_are_each_told_their_number(
    app: Application, fake: FakeTelegram
) -> None:
    running, stopped = await start(fake, app)  # preparing the wizards: no limits yet
    try:
        await asyncio.gather(*(walk_to_the_summary(fake, user, n) for n, user in enumerate(RESIDENTS)))
        with_telegram_limits(fake)
        app.notifier.register(running.adapter.sender, app.rate_limiter(Platform.TELEGRAM))
        for user in RESIDENTS:
            summary = fake.chats[user.id][-1]
            assert summary.text.startswith("Проверьте обращение:")
            fake.push(fake.callback_update(user, summary, "appeal:submit"))
        told = lambda user: any(NUMBER.match(shown.text) for shown in fake.chats[user.id])  # noqa: E731
        await fake.wait_until(lambda: all(told(user) for user in RESIDENTS), seconds=30)
        await running.adapter.wait_idle()
    finally:
        await stopped()
    numbers = set()
    for user in RESIDENTS:
        [confirmation] = [shown.text for shown in fake.chats[user.id] if NUMBER.match(shown.text)]
        numbers.add(NUMBER.match(confirmation)[1])  # type: ignore[index]
    assert len(numbers) == 100
    async with session_factory(app.engine)() as session:
        assert (await session.execute(select(func.count()).select_from(Appeal))).scalar_one() == 100
