"""The VK adapter end to end: unmodified vkbottle against a fake VK API, with scripted residents; what only VK
has (the «Начать» button, callback buttons, regular keyboards for old apps, random_id, the Callback API)."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest
from pydantic import SecretStr
from sqlalchemy import select

from bot.adapters.vk import INLINE, REGULAR, VkSender, make_api, random_id
from bot.app import Application
from bot.config import ConfigError, VkSettings, load_config
from bot.core.delivery import DeliveryError, RecipientUnreachable, RetryLater
from bot.core.types import Button, Handled, Incoming, Location, Outgoing, Photo, Platform, Reply
from bot.notifier import RateLimiter
from storage.db import session_factory
from storage.models import OutboxMessage, ReceivingCursor
from tests.conftest import ROOT, write_config
from tests.fake_vk import GROUP_ID, OLD_CLIENT, FakeVK, User
from tests.residents import MORE_BUTTONS, VK_TOKEN, VkRunning, start_vk

ANNA = User(5001, "Анна", "Петрова")
BORIS = User(5002, "Борис")
CONFIRMATION = "a1b2c3d4"
SECRET = "s3cretKey"


@pytest.fixture
async def fake() -> AsyncIterator[FakeVK]:
    server = FakeVK(token=VK_TOKEN)
    await server.start()
    yield server
    await server.close()


@pytest.fixture
async def vk(app: Application, fake: FakeVK) -> AsyncIterator[VkRunning]:
    running, stopped, _ = await start_vk(fake, app)
    yield running
    await stopped()


def answering(*replies: Reply) -> object:
    """A core that answers every update with these replies, kept in memory."""

    async def feed(incoming: Incoming) -> Handled:
        return Handled(incoming.platform, incoming.chat_id, tuple(Outgoing(reply) for reply in replies))

    return feed


async def test_the_start_button_opens_the_menu_with_callback_buttons(vk: VkRunning) -> None:
    anna = vk.resident(ANNA)
    [greeting] = await anna.send("/start")  # a new resident: VK's «Начать», text "Начать" + {"command":"start"}
    assert greeting.startswith("Здравствуйте, Анна Петрова!")  # the name comes from users.get
    [incoming] = vk.incoming
    assert (incoming.platform, incoming.user_id, incoming.chat_id, incoming.text) == (
        Platform.VK,
        "5001",
        "5001",
        "/start",
    )
    [menu] = anna.chat
    assert menu.inline
    assert set(menu.kinds) == {"callback"}
    assert menu.labels == ["Задать вопрос", "Подать обращение", "Мои обращения", "Помощь"]
    assert {call.version for call in vk.fake.calls} == {"5.199"}
    assert not await asyncio.to_thread((ROOT / ".vkbottle").exists)  # vkbottle's own state file is not written


async def test_every_button_press_is_answered(vk: VkRunning) -> None:
    anna = vk.resident(ANNA)
    await anna.send("/start")
    await anna.press("Помощь")
    await anna.press("Задать вопрос")
    pressed = [incoming for incoming in vk.incoming if incoming.payload]
    assert [incoming.payload for incoming in pressed] == ["menu:help", "menu:ask"]
    events = [call["event_id"] for call in vk.fake.calls_of("messages.sendMessageEventAnswer")]
    assert len(events) == 2
    assert events == vk.fake.answered_events


async def test_my_appeals_card_replaces_the_list_by_messages_edit(vk: VkRunning) -> None:
    anna = vk.resident(ANNA)
    await anna.send("/start")
    await anna.press("Подать обращение")
    await anna.press("Согласен(на)")
    await anna.press("ЖКХ")
    await anna.send("Не работает лифт в подъезде 2, дом 14")
    await anna.press("Без фото")
    await anna.send("ул. Ленина, 14")
    await anna.press("Пропустить")
    await anna.press("Отправить")
    await anna.press("Мои обращения")
    listing = anna.chat[-1]
    item = listing.labels[0]
    assert await anna.press(item) != []
    assert listing.edits == 1
    assert listing.text.startswith("Обращение А-")
    [edit] = vk.fake.calls_of("messages.edit")
    assert int(edit["conversation_message_id"]) == listing.conversation_message_id


async def test_a_client_without_inline_keyboards_gets_a_regular_keyboard(vk: VkRunning) -> None:
    boris = vk.resident(BORIS, OLD_CLIENT)
    await boris.send("/start")
    [menu] = boris.chat
    assert not menu.inline
    assert set(menu.kinds) == {"text"}
    assert vk.fake.keyboards[BORIS.id] is menu
    [help_text] = await boris.press("Помощь")  # sends the label as text, with the button's payload
    assert help_text.startswith("Я помогаю жителям связаться")
    assert vk.incoming[-1].payload == "menu:help"
    assert vk.incoming[-1].text is None
    assert vk.fake.calls_of("messages.edit") == []  # nothing to edit: a regular keyboard belongs to no message


async def test_keyboards_are_laid_out_within_vks_limits(app: Application, fake: FakeVK) -> None:
    many = tuple(
        (Button(f"Вариант номер {n} с очень длинной подписью, длиннее сорока", f"pick:{n}"),) for n in range(23)
    )
    running, stopped, _ = await start_vk(fake, app, feed=answering(Reply("Выберите:", buttons=many)))  # type: ignore[arg-type]
    try:
        anna = running.resident(ANNA)
        await anna.send("покажи всё")
        boris = running.resident(BORIS, OLD_CLIENT)
        await boris.send("покажи всё")
    finally:
        await stopped()
    assert [call for call in fake.calls if call.method == "messages.send"]  # no 911 anywhere: every send shown
    inline = fake.chats[ANNA.id]
    assert [message.text for message in inline] == ["Выберите:", MORE_BUTTONS, MORE_BUTTONS]
    assert [len(message.labels) for message in inline] == [10, 10, 3]
    assert all(len(message.buttons) <= INLINE.rows for message in inline)
    assert all(len(label) <= 40 and label.endswith("…") for message in inline for label in message.labels)
    assert [label.split()[2] for message in inline for label in message.labels] == [str(n) for n in range(23)]
    [regular] = fake.chats[BORIS.id]
    assert len(regular.labels) == 23
    assert len(regular.buttons) <= REGULAR.rows
    assert all(len(row) <= REGULAR.per_row for row in regular.buttons)


async def test_long_texts_are_split(app: Application, fake: FakeVK) -> None:
    paragraph = ("Очень длинный ответ. " * 150).strip()
    text = f"{paragraph}\n\n{paragraph}\n\n{paragraph}"
    menu = ((Button("Главное меню", "menu:main"),),)
    running, stopped, _ = await start_vk(fake, app, feed=answering(Reply(text, buttons=menu)))  # type: ignore[arg-type]
    try:
        assert await running.resident(ANNA).send("?") == [paragraph] * 3
    finally:
        await stopped()
    assert [message.labels for message in fake.chats[ANNA.id]] == [[], [], ["Главное меню"]]


async def test_photos_at_their_largest_size_and_a_place(vk: VkRunning) -> None:
    await vk.push(vk.fake.message_new(ANNA, "Яма", photos=("pit",), geo=(55.75, 37.61)))
    [incoming] = vk.incoming
    [photo] = incoming.photos
    assert photo == Photo(f"{vk.fake.url}/photos/pit-z.jpg")
    assert incoming.location == Location(55.75, 37.61)
    async with aiohttp.ClientSession() as http, http.get(photo.file_id) as response:
        assert response.status == 200


async def test_a_redelivered_event_is_handled_once(vk: VkRunning) -> None:
    event = vk.fake.message_new(ANNA, "/help")
    event_id = await vk.push(event)
    await vk.push(event, event_id)
    assert len(vk.fake.chats[ANNA.id]) == 1


async def test_a_retried_send_is_shown_once_thanks_to_random_id(fake: FakeVK) -> None:
    sender = VkSender(make_api(VkSettings(token=SecretStr(VK_TOKEN), group_id=GROUP_ID, api_base=fake.url)), None, "")
    fake.allow(ANNA)
    try:
        reply = Reply("Обращение А-2026-000001: новый этап — «В работе».")
        await sender.send(str(ANNA.id), reply, send_id=41)
        await sender.send(str(ANNA.id), reply, send_id=41)  # the crash came between the send and its record
        await sender.send(str(ANNA.id), reply, send_id=42)  # another message with the same text
    finally:
        await sender.api.http_client.close()
    assert [message.text for message in fake.chats[ANNA.id]] == [reply.text, reply.text]
    assert fake.repeats_dropped == 1
    assert random_id(41, 0, reply.text) != random_id(42, 0, reply.text)
    assert random_id(0, 0, reply.text) == 0


async def test_vk_errors_mean_what_they_mean(fake: FakeVK) -> None:
    sender = VkSender(make_api(VkSettings(token=SecretStr(VK_TOKEN), group_id=GROUP_ID, api_base=fake.url)), None, "")
    fake.allow(ANNA)
    with pytest.raises(RecipientUnreachable, match="901"):
        await sender.send(str(BORIS.id), Reply("Вам ответили"))  # Boris never wrote: 901
    cases: list[tuple[int, str, type[DeliveryError]]] = [
        (6, "Too many requests per second", RetryLater),
        (9, "Flood control", RetryLater),
        (902, "Can't send messages to this user due to their privacy settings", RecipientUnreachable),
        (10, "Internal server error", DeliveryError),
    ]
    try:
        for code, message, expected in cases:
            fake.fail("messages.send", code, message)
            with pytest.raises(DeliveryError) as raised:
                await sender.send(str(ANNA.id), Reply("Уведомление"))
            assert type(raised.value) is expected, code
        sender.reachable(str(ANNA.id), allowed=False)  # message_deny
        before = len(fake.calls_of("messages.send"))
        with pytest.raises(RecipientUnreachable):
            await sender.send(str(ANNA.id), Reply("Уведомление"))
        assert len(fake.calls_of("messages.send")) == before  # not even tried
    finally:
        await sender.api.http_client.close()


async def test_a_denied_resident_is_given_up_and_an_allowing_one_reached(
    app: Application, vk: VkRunning, caplog: pytest.LogCaptureFixture
) -> None:
    await vk.push(vk.fake.message_new(ANNA, "/start"))
    await vk.push({"type": "message_deny", "object": {"user_id": ANNA.id}})
    async with session_factory(app.engine)() as session, session.begin():
        session.add(OutboxMessage(platform="vk", chat_id=str(ANNA.id), text="Ваше обращение в работе"))
    with caplog.at_level(logging.INFO, logger="bot.notifier"):
        await app.notifier.deliver_due()
    async with session_factory(app.engine)() as session:
        [row] = (await session.execute(select(OutboxMessage).where(OutboxMessage.kind == "notice"))).scalars()
    assert row.status == "dead"
    assert "unreachable (the resident denied messages from the community)" in caplog.text
    await vk.push(vk.fake.allow(ANNA) and {"type": "message_allow", "object": {"user_id": ANNA.id, "key": ""}})
    await vk.push(vk.fake.message_new(ANNA, "/help"))
    assert vk.fake.chats[ANNA.id][-1].text.startswith("Я помогаю жителям")


async def test_long_poll_reads_on_after_a_restart_without_losing_or_repeating(app: Application, fake: FakeVK) -> None:
    running, stopped, _ = await start_vk(fake, app)
    await running.push(fake.message_new(ANNA, "/help"))
    await stopped()
    async with session_factory(app.engine)() as session:
        [cursor] = (await session.execute(select(ReceivingCursor))).scalars()
    assert cursor.stream == f"vk:{GROUP_ID}"
    assert int(cursor.position) == 2
    fake.push(fake.message_new(BORIS, "/help"))  # written while the bot was down
    again, stopped_again, _ = await start_vk(fake, app)
    try:
        await fake.wait_until(lambda: len(fake.chats[BORIS.id]) == 1)
        await again.adapter.wait_idle()
    finally:
        await stopped_again()
    assert len(fake.chats[ANNA.id]) == 1  # not answered twice
    assert [incoming.user_id for incoming in again.incoming] == [str(BORIS.id)]


async def test_callback_api_confirms_checks_the_secret_and_answers_ok_once(app: Application, fake: FakeVK) -> None:
    running, stopped, server = await start_vk(
        fake, app, mode="callback", confirmation=CONFIRMATION, secret=SecretStr(SECRET)
    )
    url = f"http://127.0.0.1:{server.port}/vk"
    event = {**fake.message_new(ANNA, "/start"), "group_id": GROUP_ID, "event_id": "e1", "v": "5.199"}
    fake.allow(ANNA)
    try:
        async with aiohttp.ClientSession() as http:
            async with http.post(url, json={"type": "confirmation", "group_id": GROUP_ID}) as response:
                assert (response.status, await response.text()) == (200, CONFIRMATION)
            for secret in (None, "wrong"):
                body = {**event, "secret": secret} if secret else event
                async with http.post(url, json=body) as response:
                    assert response.status == 403
            assert fake.chats[ANNA.id] == []
            for _ in range(2):  # VK posts again when it missed our "ok"
                async with http.post(url, json={**event, "secret": SECRET}) as response:
                    assert (response.status, await response.text()) == (200, "ok")
        await running.adapter.wait_idle()
    finally:
        await stopped()
    [greeting] = fake.chats[ANNA.id]
    assert greeting.text.startswith("Здравствуйте, Анна Петрова!")
    assert fake.polled_ts == 0  # no long poll in callback mode


async def test_vk_is_paced_within_the_community_limit(app: Application) -> None:
    fake = FakeVK(token=VK_TOKEN, rate_limit=20)
    await fake.start()
    running, stopped, _ = await start_vk(fake, app, limiter=RateLimiter(per_second=20, chat_interval=0))
    try:
        residents = [running.resident(User(6000 + n, f"Житель{n}")) for n in range(30)]
        for resident in residents:
            fake.push(fake.message_new(resident.user, "/help"))
        await fake.wait_until(lambda: all(fake.chats[r.user.id] for r in residents), seconds=20)
        await running.adapter.wait_idle()
    finally:
        await stopped()
        await fake.close()
    assert fake.throttled == 0
    assert all(len(fake.chats[r.user.id]) == 1 for r in residents)


def test_vk_settings_from_the_file_and_the_environment(tmp_path: Path) -> None:
    path = write_config(tmp_path, "sqlite+aiosqlite:///x.sqlite3", '[vk]\nmode = "callback"\n')
    environ = {
        "PRIEMNAYA_VK_TOKEN": "vk1.a.secret",
        "PRIEMNAYA_VK_GROUP_ID": "229000001",
        "PRIEMNAYA_VK_SECRET": "abc123",
        "PRIEMNAYA_VK_CONFIRMATION": "f00d",
        "PRIEMNAYA_WEB_PORT": "8443",
    }
    settings = load_config(path, environ=environ).settings
    assert (settings.vk.group_id, settings.vk.confirmation, settings.web.port) == (229000001, "f00d", 8443)
    assert settings.vk.secret is not None
    assert settings.vk.secret.get_secret_value() == "abc123"
    with pytest.raises(ConfigError) as missing:
        load_config(path, environ={"PRIEMNAYA_VK_TOKEN": "vk1.a.secret", "PRIEMNAYA_VK_GROUP_ID": "1"})
    assert "confirmation is required in callback mode" in str(missing.value)
    assert "vk1.a.secret" not in str(missing.value)


async def test_an_expired_long_poll_key_loses_no_event(vk: VkRunning) -> None:
    await vk.push(vk.fake.message_new(ANNA, "/help"))
    vk.fake.expire_key()  # VK's key expires every few hours: {"failed": 2}, then a new key with the same ts
    await vk.push(vk.fake.message_new(BORIS, "/help"))
    await vk.fake.wait_until(lambda: vk.fake.chats[BORIS.id])
    assert len(vk.fake.calls_of("groups.getLongPollServer")) == 2
    assert [incoming.user_id for incoming in vk.incoming] == [str(ANNA.id), str(BORIS.id)]
