"""Residents only in private chats: in groups the bot points to its private chat on /start or a mention, and
says nothing else; posts on behalf of a chat and commands for other bots are nobody's."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from sqlalchemy import func, select

from bot.app import Application
from storage.db import session_factory
from storage.models import Resident
from tests.fake_telegram import Chat, FakeTelegram, Shown
from tests.test_telegram import ANNA, BORIS, Running, start

GROUP = Chat(-1001234567890, "supergroup", "Жители дома 5")
SMALL_GROUP = Chat(-4567, "group", "Совет дома")
CHANNEL = Chat(-1009876543210, "channel", "Новости района")
POINTER = "Я отвечаю жителям только в личных сообщениях"


@pytest.fixture
async def telegram(app: Application, fake: FakeTelegram) -> AsyncIterator[Running]:
    running, stopped = await start(fake, app)
    yield running
    await stopped()


async def sent(running: Running, update: dict[str, object]) -> None:
    """Push an update and wait until the bot has handled it and delivered whatever it answered."""
    fake = running.fake
    update_id = fake.push(update)
    await fake.wait_until(lambda: fake.confirmed_below > update_id)
    await running.adapter.wait_idle()


async def residents_stored(app: Application) -> int:
    async with session_factory(app.engine)() as session:
        return int((await session.execute(select(func.count()).select_from(Resident))).scalar_one())


async def test_in_a_group_start_and_mentions_get_one_pointer_and_nothing_else(
    app: Application, telegram: Running
) -> None:
    fake = telegram.fake
    for text in ("/start", "/start@priemnaya_test_bot", "@priemnaya_test_bot где подать жалобу на яму?"):
        await sent(telegram, fake.message_update(ANNA, text, chat=GROUP))
    await sent(telegram, fake.message_update(BORIS, "/start", chat=SMALL_GROUP))
    assert [shown.text.startswith(POINTER) for shown in fake.chats[GROUP.id]] == [True] * 3
    assert [shown.buttons for shown in fake.chats[GROUP.id]] == [[]] * 3  # no menu, no wizard
    assert [shown.text.startswith(POINTER) for shown in fake.chats[SMALL_GROUP.id]] == [True]

    for text in ("нет горячей воды", "Подать обращение", "Мои обращения", "/menu", "/help", "Согласен(на)"):
        await sent(telegram, fake.message_update(ANNA, text, chat=GROUP))
    await sent(telegram, fake.message_update(ANNA, photo="pit", caption="Яма", chat=GROUP))
    await sent(telegram, fake.message_update(ANNA, location=(55.75, 37.61), chat=GROUP))
    pointer = fake.chats[GROUP.id][0]
    await sent(telegram, fake.callback_update(ANNA, Shown(pointer.message_id, "x", []), "menu:my", chat=GROUP))
    assert len(fake.chats[GROUP.id]) == 3  # nothing more was posted there
    assert len(fake.calls_of("answerCallbackQuery")) == 1  # the press was answered, so it stops spinning
    assert fake.chats[ANNA.id] == []  # nor in private: she has not written there
    assert await residents_stored(app) == 0  # and nothing of anybody was stored


async def test_posts_on_behalf_of_a_chat_and_commands_for_other_bots_are_ignored(
    app: Application, telegram: Running
) -> None:
    fake = telegram.fake
    await sent(telegram, fake.message_update(ANNA, "/start", chat=GROUP, sender_chat=GROUP))  # anonymous admin
    await sent(telegram, fake.message_update(ANNA, "/start", chat=GROUP, sender_chat=CHANNEL))  # as a channel
    await sent(telegram, fake.message_update(ANNA, "/start@other_bot", chat=GROUP))
    await sent(telegram, fake.message_update(ANNA, "/start", chat=CHANNEL))  # a channel post
    await sent(telegram, fake.message_update(ANNA, "/start@other_bot"))  # even in private
    await sent(telegram, fake.message_update(ANNA, "/help@Other_Bot"))
    assert not fake.calls_of("sendMessage")
    assert await residents_stored(app) == 0

    await sent(telegram, fake.message_update(ANNA, "/start@Priemnaya_Test_Bot"))  # its own, in any case
    [greeting] = fake.chats[ANNA.id]
    assert greeting.text.startswith("Здравствуйте, Анна Петрова!")
