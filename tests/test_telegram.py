"""The Telegram adapter end to end: the unmodified aiogram bot against a fake Bot API, with scripted residents."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
import signal
import socket
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from pydantic import SecretStr
from sqlalchemy import select

from bot.adapters.telegram import TEXT_LIMIT, TelegramAdapter, TelegramSender, make_bot
from bot.app import Application
from bot.config import ConfigError, TelegramSettings, WebSettings, load_config
from bot.core.delivery import DeliveryError, RecipientUnreachable, RetryLater
from bot.core.layout import split_text, utf16_length
from bot.core.types import Button, Handled, Incoming, Location, Outgoing, Photo, Platform, Reply
from bot.notifier import RateLimiter
from bot.services.appeal_stages import AppealStage
from bot.services.appeals import AppealDraft, answer_appeal, move_appeal, open_appeal
from bot.web import WebServer
from storage.db import session_factory
from storage.models import Appeal, OutboxMessage, Rating
from storage.uow import UnitOfWork
from tests.conftest import spawn_bot, stored_resident, write_config
from tests.fake_telegram import FakeTelegram, Shown, User

COMMANDS = {"start": "Начать сначала", "menu": "Главное меню", "help": "Справка", "cancel": "Отменить текущее действие"}

TOKEN = "123456:TEST-token"
SECRET = "s3cret_Webhook-token"
ANNA = User(1001, "Анна", "Петрова")
BORIS = User(1002, "Борис")

Feed = Callable[[Incoming], Awaitable[Handled]]


@dataclass
class Running:
    """An adapter running against the fake server, and every `Incoming` it gave the core."""

    fake: FakeTelegram
    adapter: TelegramAdapter
    incoming: list[Incoming] = field(default_factory=list)

    def resident(self, user: User) -> Resident:
        return Resident(self, user)


@dataclass
class Resident:
    """A person in a Telegram chat with the bot: sends messages, presses buttons, reads what the bot showed."""

    running: Running
    user: User

    @property
    def chat(self) -> list[Shown]:
        return self.running.fake.chats[self.user.id]

    async def send(
        self,
        text: str | None = None,
        *,
        photo: str | None = None,
        caption: str | None = None,
        location: tuple[float, float] | None = None,
    ) -> list[str]:
        """The texts of the messages the bot sent back."""
        fake = self.running.fake
        return await self._do(fake.message_update(self.user, text, photo=photo, caption=caption, location=location))

    async def press(self, label: str) -> list[str]:
        """Press the newest button with this label; the press must be answered so the button stops spinning."""
        fake = self.running.fake
        shown = next(message for message in reversed(self.chat) if label in message.labels)
        payload = next(payload for row in shown.buttons for text, payload in row if text == label)
        update = fake.callback_update(self.user, shown, payload)
        replies = await self._do(update)
        answered = [call["callback_query_id"] for call in fake.calls_of("answerCallbackQuery")]
        assert update["callback_query"]["id"] in answered
        return replies

    async def _do(self, update: dict[str, Any]) -> list[str]:
        fake, before = self.running.fake, len(self.chat)
        update_id = fake.push(update)
        await fake.wait_until(lambda: fake.confirmed_below > update_id)  # received: its task is running
        await self.running.adapter.wait_idle()
        return [shown.text for shown in self.chat[before:]]


def settings_for(fake: FakeTelegram, **changes: Any) -> TelegramSettings:
    return TelegramSettings(token=SecretStr(TOKEN), api_base=fake.url, **changes)


async def start(
    fake: FakeTelegram,
    app: Application,
    feed: Feed | None = None,
    limiter: RateLimiter | None = None,
    **changes: Any,
) -> tuple[Running, Callable[[], Awaitable[None]]]:
    """Run an adapter in the background, with the app's notifier sending through it; returns it and a function
    that stops it cleanly. Where a test is not about the limits, the interval between two messages to one chat
    is short, so that a resident's steps need not wait a second each."""
    seen: list[Incoming] = []
    core = feed or app.dispatcher.feed

    async def recording_feed(incoming: Incoming) -> Handled:
        seen.append(incoming)
        return await core(incoming)

    port = changes.pop("port", 0)
    adapter = TelegramAdapter(settings_for(fake, **changes), recording_feed, app.notifier.deliver, COMMANDS)
    app.notifier.register(adapter.sender, limiter or RateLimiter(per_second=1000, chat_interval=0.01))
    running = Running(fake, adapter, seen)
    server = WebServer(WebSettings(host="127.0.0.1", port=port), adapter.endpoints())
    await server.start()
    stop = asyncio.Event()
    task = asyncio.create_task(running.adapter.run(stop))
    ready = "setWebhook" if changes.get("mode") == "webhook" else "getUpdates"
    await fake.wait_until(lambda: fake.calls_of(ready) or task.done())

    async def stopped() -> None:
        await server.stop()
        stop.set()
        await task

    return running, stopped


def answering(*replies: Reply) -> Callable[[Incoming], Handled]:
    """What the core returns for an update that changed nothing: these replies, kept in memory."""
    return lambda incoming: Handled(incoming.platform, incoming.chat_id, tuple(Outgoing(reply) for reply in replies))


@pytest.fixture
async def telegram(app: Application, fake: FakeTelegram) -> AsyncIterator[Running]:
    running, stopped = await start(fake, app)
    yield running
    await stopped()


async def test_start_shows_the_menu_and_registers_the_commands(telegram: Running) -> None:
    anna = telegram.resident(ANNA)
    [greeting] = await anna.send("/start")
    assert greeting.startswith("Здравствуйте, Анна Петрова!\nЭто бот «Администрация города Тестовска».")
    assert anna.chat[0].buttons == [
        [("Задать вопрос", "menu:ask"), ("Подать обращение", "menu:appeal")],
        [("Мои обращения", "menu:my"), ("Помощь", "menu:help")],
    ]
    [sent] = telegram.fake.calls_of("sendMessage")
    assert "parse_mode" not in sent  # plain text: nothing to escape
    [commands] = telegram.fake.calls_of("setMyCommands")
    assert {c["command"]: c["description"] for c in commands["commands"]} == COMMANDS
    assert telegram.fake.calls_of("deleteWebhook")  # polling works only without a webhook
    [incoming] = telegram.incoming
    assert (incoming.platform, incoming.user_id, incoming.chat_id, incoming.text) == (
        Platform.TELEGRAM,
        "1001",
        "1001",
        "/start",
    )


async def test_a_deep_link_payload_reaches_the_core(telegram: Running) -> None:
    [greeting] = await telegram.resident(BORIS).send("/start district-5")
    assert greeting.startswith("Здравствуйте, Борис!")
    assert telegram.incoming[0].command == ("start", "district-5")


async def test_questions_get_an_answer_or_suggestions_and_a_press_shows_one(telegram: Running) -> None:
    anna = telegram.resident(ANNA)
    [answer] = await anna.send("нет горячей воды")  # the answer and what to do if it is not the one: one message
    assert answer.startswith("❓ Почему нет горячей воды и когда её дадут?\n\nСначала проверьте")
    assert answer.endswith(
        "\n\nЕсли это не ответ на ваш вопрос, задайте его иначе или подайте обращение — его рассмотрят специалисты."
    )
    assert anna.chat[-1].labels == [
        "👍 Помогло",
        "👎 Не помогло",
        "Задать другой вопрос",
        "Подать обращение",
        "Главное меню",
    ]
    [suggestions] = await anna.send("автобус")
    assert suggestions == "Точного ответа я не нашёл. Может быть, вы спрашиваете об одном из этих вопросов?"
    offer = anna.chat[-1]
    assert offer.labels[-1] == "Ничего не подходит — подать обращение"
    [shown] = await anna.press(offer.labels[0])
    assert shown.startswith(f"❓ {offer.labels[0]}")
    pressed = telegram.incoming[-1]
    assert pressed.payload == offer.buttons[0][0][1]
    assert pressed.message_id == str(offer.message_id)  # the message carrying the button


async def test_a_whole_appeal_with_a_photo_and_a_location_then_my_appeals(app: Application, telegram: Running) -> None:
    anna = telegram.resident(ANNA)
    await anna.send("/start")
    assert (await anna.press("Подать обращение"))[0].startswith("Чтобы принять обращение, нам нужно ваше согласие")
    assert await anna.press("Согласен(на)") == ["Выберите тему обращения:"]
    assert (await anna.press("Дороги"))[0].startswith("Опишите проблему")
    described = await anna.send(photo="pit", caption="Огромная яма на дороге у дома 5 по улице Ленина")
    assert described[0].startswith("Если есть фото")
    assert await anna.press("Готово") == ["Где это? Отправьте геолокацию или напишите адрес (улица, дом, ориентир)."]
    assert (await anna.send(location=(55.751, 37.618)))[0].startswith("Оставьте телефон")
    [summary] = await anna.send("+7 912 345-67-89")
    assert summary.startswith(
        "Проверьте обращение:\n\nТема: Дороги\nОписание: Огромная яма на дороге у дома 5 по улице Ленина\n"
        "Фото: 1\nМесто: геолокация 55.75100, 37.61800\nТелефон: +79123456789"
    )
    [created] = await anna.press("Отправить")
    number = re.match(r"Обращение принято, его номер — (А-\d{4}-\d{6})\.", created)
    assert number is not None
    photo_update = next(incoming for incoming in telegram.incoming if incoming.photos)
    assert photo_update.photos == (Photo("pit-1280"),)  # the largest size
    assert telegram.incoming[-3].location == Location(55.751, 37.618)
    async with session_factory(app.engine)() as session:
        [appeal] = (await session.execute(select(Appeal))).scalars()
        await session.refresh(appeal, ["attachments"])
    assert [attachment.platform_file_id for attachment in appeal.attachments] == ["pit-1280"]

    assert await anna.press("Мои обращения") == ["Ваши обращения, новые сверху. Нажмите, чтобы открыть:"]
    listing = anna.chat[-1]
    item = listing.labels[0]
    assert item.startswith(f"{number[1]} · Новое, ждёт регистрации")
    assert await anna.press(item) == []  # the card replaces the list in the same message
    assert listing.edits == 1
    assert listing.text.startswith(f"Обращение {number[1]}\nТема: Дороги\nЭтап: Новое, ждёт регистрации")
    assert listing.labels == ["Дополнить", "К списку обращений", "Главное меню"]
    assert await anna.press("К списку обращений") == []
    assert (listing.edits, listing.text) == (2, "Ваши обращения, новые сверху. Нажмите, чтобы открыть:")


async def test_a_blocked_resident_is_given_up_and_a_server_error_retried(
    telegram: Running, caplog: pytest.LogCaptureFixture
) -> None:
    fake = telegram.fake
    fake.fail("sendMessage", 403, "Forbidden: bot was blocked by the user")
    fake.fail("sendMessage", 502, "Bad Gateway")
    with caplog.at_level(logging.INFO, logger="bot.notifier"):
        assert await telegram.resident(BORIS).send("/start") == []
        [help_text] = await telegram.resident(BORIS).send("/help")  # the second try, a second later
    assert help_text.startswith("Я помогаю жителям связаться")
    blocked, postponed = (record.getMessage() for record in caplog.records)
    assert blocked == (
        "a reply to telegram chat 1002 given up: the recipient is unreachable "
        "(Telegram server says - Forbidden: bot was blocked by the user)"
    )
    assert postponed == (
        "a reply to telegram chat 1002 postponed by 1 s: try 1 failed (Telegram server says - Bad Gateway)"
    )
    [greeting] = await telegram.resident(ANNA).send("/start")
    assert greeting.startswith("Здравствуйте, Анна Петрова!")


async def test_a_repeated_update_is_handled_once(telegram: Running) -> None:
    fake = telegram.fake
    update = fake.message_update(ANNA, "/help")
    update_id = fake.push(update)
    fake.push(update, update_id=update_id)  # a re-delivery of the same update
    await fake.wait_until(lambda: fake.confirmed_below > update_id)
    await telegram.adapter.wait_idle()
    assert [shown.text.split("\n")[0] for shown in fake.chats[ANNA.id]] == [
        "Я помогаю жителям связаться с «Администрация города Тестовска»."
    ]


async def test_a_slow_answer_shows_typing_and_a_long_one_is_split(app: Application, fake: FakeTelegram) -> None:
    paragraph = ("Очень длинный ответ. " * 150).strip()  # 3149 characters
    long_text = f"{paragraph}\n\n{paragraph}\n\n{paragraph}"
    reply = answering(Reply(long_text, buttons=((Button("Главное меню", "menu:main"),),)))

    async def slow_feed(incoming: Incoming) -> Handled:
        await asyncio.sleep(0.6)
        return reply(incoming)

    running, stopped = await start(fake, app, slow_feed)
    try:
        shown = await running.resident(ANNA).send("что-нибудь")
    finally:
        await stopped()
    assert fake.calls_of("sendChatAction") == [{"chat_id": "1001", "action": "typing"}]
    assert shown == [paragraph] * 3
    assert [message.labels for message in fake.chats[ANNA.id]] == [[], [], ["Главное меню"]]


async def test_a_button_press_is_answered_even_when_handling_fails(app: Application, fake: FakeTelegram) -> None:
    async def broken_feed(incoming: Incoming) -> Handled:
        raise RuntimeError("a bug")

    running, stopped = await start(fake, app, broken_feed)
    try:
        shown = Shown(message_id=5, text="Меню", buttons=[[("Помощь", "menu:help")]])
        update_id = fake.push(fake.callback_update(ANNA, shown, "menu:help"))
        await fake.wait_until(lambda: fake.confirmed_below > update_id)
        await running.adapter.wait_idle()
    finally:
        await stopped()
    assert len(fake.calls_of("answerCallbackQuery")) == 1
    assert running.incoming[0].payload == "menu:help"


def test_text_is_split_at_paragraphs_then_lines_then_spaces() -> None:
    assert split_text("короткий", TEXT_LIMIT) == ["короткий"]
    assert split_text("абв где\n\nжзи клм", limit=10) == ["абв где", "жзи клм"]
    assert split_text("абв\nгде жзи клм", limit=10) == ["абв\nгде", "жзи клм"]
    assert split_text("абвгдежзиклмноп", limit=10) == ["абвгдежзик", "лмноп"]
    emoji = "🙂" * 6  # outside the BMP: two UTF-16 units each, as Telegram counts
    assert [utf16_length(piece) for piece in split_text(emoji, limit=10)] == [10, 2]


async def test_the_sender_edits_sends_and_names_each_failure(fake: FakeTelegram) -> None:
    sender = TelegramSender(make_bot(settings_for(fake)))
    try:
        await sender.send("1001", Reply("Карточка", buttons=((Button("Обновить", "my:open:1"),),)))
        [card] = fake.chats[ANNA.id]
        await sender.send("1001", Reply("Карточка, новая", edit_message_id=str(card.message_id)))
        assert (card.text, card.buttons, card.edits) == ("Карточка, новая", [], 1)
        await sender.send("1001", Reply("Карточка, новая", edit_message_id=str(card.message_id)))  # not modified
        await sender.send("1001", Reply("Вместо удалённой", edit_message_id="999"))  # deleted: a new message
        assert [message.text for message in fake.chats[ANNA.id]] == ["Карточка, новая", "Вместо удалённой"]

        failures: list[tuple[int, str, int | None, type[DeliveryError]]] = [
            (429, "Too Many Requests: retry after 7", 7, RetryLater),
            (403, "Forbidden: bot was blocked by the user", None, RecipientUnreachable),
            (403, "Forbidden: user is deactivated", None, RecipientUnreachable),
            (400, "Bad Request: chat not found", None, RecipientUnreachable),
            (400, "Bad Request: message is too long", None, DeliveryError),
            (500, "Internal Server Error", None, DeliveryError),
        ]
        for status, description, retry_after, expected in failures:
            fake.fail("sendMessage", status, description, retry_after)
            with pytest.raises(DeliveryError) as raised:
                await sender.send("1001", Reply("Уведомление"))
            assert type(raised.value) is expected, description
            if isinstance(raised.value, RetryLater):
                assert raised.value.seconds == 7
    finally:
        await sender.bot.session.close()


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


async def test_webhook_checks_the_secret_and_ignores_repeats(app: Application, fake: FakeTelegram) -> None:
    port = free_port()
    _, stopped = await start(
        fake,
        app,
        mode="webhook",
        webhook_url="https://bot.example.ru/telegram",
        port=port,
        webhook_secret=SecretStr(SECRET),
    )
    url = f"http://127.0.0.1:{port}/telegram"
    update = {"update_id": 500, **fake.message_update(ANNA, "/start")}
    try:
        [webhook] = fake.calls_of("setWebhook")
        assert (webhook["url"], webhook["secret_token"]) == ("https://bot.example.ru/telegram", SECRET)
        async with aiohttp.ClientSession() as http:
            for headers in ({}, {"X-Telegram-Bot-Api-Secret-Token": "wrong"}):
                async with http.post(url, json=update, headers=headers) as response:
                    assert response.status == 401
            assert fake.chats[ANNA.id] == []
            for _ in range(2):  # Telegram re-delivers when it missed our answer
                async with http.post(url, json=update, headers={"X-Telegram-Bot-Api-Secret-Token": SECRET}) as response:
                    assert response.status == 200
    finally:
        await stopped()
    [greeting] = fake.chats[ANNA.id]
    assert greeting.text.startswith("Здравствуйте, Анна Петрова!")
    assert not fake.calls_of("getUpdates")


def test_webhook_mode_needs_a_url_and_a_secret(tmp_path: Path) -> None:
    path = write_config(
        tmp_path, "sqlite+aiosqlite:///bot.sqlite3", '[telegram]\nmode = "webhook"\nwebhook_url = "https://x.ru/t"\n'
    )
    with pytest.raises(ConfigError, match=r"\[telegram\]: webhook_secret is required in webhook mode"):
        load_config(path, environ={"PRIEMNAYA_TELEGRAM_TOKEN": TOKEN})
    config = load_config(path, environ={"PRIEMNAYA_TELEGRAM_TOKEN": TOKEN, "PRIEMNAYA_TELEGRAM_WEBHOOK_SECRET": SECRET})
    assert config.settings.telegram.webhook_secret == SecretStr(SECRET)
    with pytest.raises(ConfigError) as refused:
        load_config(path, environ={"PRIEMNAYA_TELEGRAM_TOKEN": "not-a-token"})
    assert "[telegram]: token must look like" in str(refused.value)
    assert "not-a-token" not in str(refused.value)


@pytest.mark.slow
async def test_run_answers_telegram_and_stops_on_sigterm_without_losing_the_update_in_flight(
    tmp_path: Path, fake: FakeTelegram
) -> None:
    config = write_config(tmp_path, "sqlite+aiosqlite:///bot.sqlite3", f'[telegram]\napi_base = "{fake.url}"\n')
    process = await spawn_bot(config, TOKEN, asyncio.subprocess.PIPE)
    try:
        await fake.wait_until(lambda: fake.calls_of("getUpdates"), seconds=60)
        fake.delay("sendMessage", 1.0)
        update_id = fake.push(fake.message_update(ANNA, "/start"))
        await fake.wait_until(lambda: fake.calls_of("sendMessage"))  # the reply is on its way...
        process.send_signal(signal.SIGTERM)  # ...when the bot is asked to stop
        _, stderr = await asyncio.wait_for(process.communicate(), 30)
    finally:
        if process.returncode is None:
            process.kill()
    assert process.returncode == 0, stderr.decode()
    assert "Traceback" not in stderr.decode()
    [greeting] = fake.chats[ANNA.id]
    assert greeting.text.startswith("Здравствуйте, Анна Петрова!")
    [reply] = [call for call in fake.calls if call.method == "sendMessage"]
    *_, confirm = [call for call in fake.calls if call.method == "getUpdates"]
    assert confirm.params == {"offset": str(update_id + 1), "limit": "1", "timeout": "0"}  # the last word...
    assert reply.answered_at is not None
    assert reply.answered_at <= confirm.received_at  # ...said only once the reply got through


# Notifications: the app's notifier delivering the outbox through the adapter's sender (aiogram) to the fake


@contextlib.asynccontextmanager
async def delivering(app: Application, sender: TelegramSender, sweep: float = 0.1) -> AsyncIterator[None]:
    """The app's notifier running with this sender under bot.toml's Telegram limits. Waking it every `sweep`
    seconds stands in for the scheduler's periodic outbox sweep, which picks up messages due later (retries)."""
    app.notifier.register(sender, app.rate_limiter(Platform.TELEGRAM))
    task = asyncio.create_task(app.notifier.run(idle_timeout=sweep))
    try:
        yield
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)


@pytest.fixture
async def sender(fake: FakeTelegram) -> AsyncIterator[TelegramSender]:
    telegram_sender = TelegramSender(make_bot(settings_for(fake)))
    yield telegram_sender
    await telegram_sender.bot.session.close()


async def staff_move(app: Application, number: str, stage: AppealStage, comment: str | None = None) -> None:
    """What a staff member's tool does: move the appeal (its notification commits with it), wake the notifier."""
    async with UnitOfWork(session_factory(app.engine)) as uow:
        await move_appeal(
            uow, app.services.notices, number, stage, actor="staff:olga", now=app.services.clock(), comment=comment
        )
        await uow.commit()
    app.notifier.wake()


async def staff_answer(app: Application, number: str, text: str) -> None:
    async with UnitOfWork(session_factory(app.engine)) as uow:
        await answer_appeal(uow, app.services.notices, number, text, actor="staff:olga", now=app.services.clock())
        await uow.commit()
    app.notifier.wake()


async def appeal_of(app: Application, user: User) -> str:
    """An appeal a Telegram resident opened earlier (through the services, to keep the test short)."""
    async with UnitOfWork(session_factory(app.engine)) as uow:
        resident_id = await stored_resident(uow, "telegram", str(user.id))
        draft = AppealDraft("Дороги", "Огромная яма на дороге у дома 5 по улице Ленина")
        appeal = await open_appeal(uow, app.services.appeals, resident_id, "telegram", draft, app.services.clock())
        await uow.commit()
        return appeal.number


async def outbox_rows(app: Application) -> list[OutboxMessage]:
    async with session_factory(app.engine)() as session:
        return list((await session.execute(select(OutboxMessage).order_by(OutboxMessage.id))).scalars())


async def outbox_settled(app: Application, seconds: float = 10.0) -> list[OutboxMessage]:
    """The outbox once nothing in it is pending any more."""
    deadline = asyncio.get_running_loop().time() + seconds
    while True:
        rows = await outbox_rows(app)
        if all(row.status != "pending" for row in rows):
            return rows
        assert asyncio.get_running_loop().time() < deadline, "the outbox was never settled"
        await asyncio.sleep(0.05)


def sent_texts(fake: FakeTelegram) -> list[str]:
    return [params["text"] for params in fake.calls_of("sendMessage")]


@pytest.mark.slow
async def test_stage_changes_reach_the_resident_who_rates_the_answer_poorly_and_reopens_it(
    app: Application, telegram: Running
) -> None:
    fake, anna = telegram.fake, telegram.resident(ANNA)
    await anna.send("/start")
    await anna.press("Подать обращение")
    await anna.press("Согласен(на)")
    await anna.press("Дороги")
    await anna.send("Огромная яма на дороге у дома 5 по улице Ленина")
    await anna.press("Без фото")
    await anna.send("ул. Ленина, 5")
    await anna.press("Пропустить")
    [created] = await anna.press("Отправить")
    opened = re.match(r"Обращение принято, его номер — (А-\d{4}-000001)\.", created)
    assert opened is not None
    number = opened[1]

    registered = f"Обращение {number}: новый этап — «Зарегистрировано»."
    in_work = f"Обращение {number}: новый этап — «В работе».\nКомментарий специалиста: Передано в дорожную службу"
    answer = (
        f"Ответ на обращение {number}:\n\nЯму заделают до 1 декабря.\n\n"
        "Оцените, пожалуйста, насколько ответ помог: от 1 (совсем не помог) до 5 (вопрос решён)."
    )
    async with delivering(app, telegram.adapter.sender):
        await staff_move(app, number, AppealStage.ACCEPTED)
        await fake.wait_until(lambda: anna.chat[-1].text == registered)
        assert anna.chat[-1].buttons == [[("Открыть обращение", f"my:open:{number}")]]
        await staff_move(app, number, AppealStage.IN_PROGRESS, comment="Передано в дорожную службу")
        await fake.wait_until(lambda: anna.chat[-1].text == in_work)
        await staff_answer(app, number, "Яму заделают до 1 декабря.")
        await fake.wait_until(lambda: anna.chat[-1].text == answer)
        assert anna.chat[-1].buttons == [[(str(score), f"rate:{number}:{score}") for score in range(1, 6)]]

        assert await anna.press("2") == [  # the press is answered, so the button stops spinning (see `press`)
            "Жаль, что ответ не помог. Напишите, пожалуйста, что было не так, — это прочитают специалисты. "
            "Вернуть обращение в работу?"
        ]
        assert anna.chat[-1].labels == ["Вернуть в работу", "Нет, закрыть"]
        assert await anna.send("Яму только засыпали песком, после дождя она снова там") == [
            "Спасибо, ваш комментарий передан специалистам."
        ]
        [reopened] = await anna.press("Вернуть в работу")
        assert reopened.startswith(f"Обращение {number} снова в работе. Мы сообщим, когда будет новый ответ.")
        rows = await outbox_settled(app)

    notices = [row.status for row in rows if row.kind == "notice"]
    assert notices == ["sent"] * 3  # the resident's own move is not notified back
    assert {row.status for row in rows if row.kind == "reply"} == {"sent"}  # the wizard's steps, stored
    notified = [text for text in sent_texts(fake) if text.startswith((f"Обращение {number}: новый", "Ответ на"))]
    assert notified == [registered, in_work, answer]  # each once, in order
    async with session_factory(app.engine)() as session:
        appeal = (await session.execute(select(Appeal))).scalar_one()
        [rating] = (await session.execute(select(Rating))).scalars()
    assert appeal.stage == "in_progress"
    assert (rating.appeal_id, rating.score, rating.comment) == (
        appeal.id,
        2,
        "Яму только засыпали песком, после дождя она снова там",
    )


@pytest.mark.slow
async def test_a_429_on_a_notification_is_retried_after_the_delay_telegram_gave(
    app: Application, fake: FakeTelegram, sender: TelegramSender
) -> None:
    number = await appeal_of(app, ANNA)
    fake.fail("sendMessage", 429, "Too Many Requests: retry after 1", retry_after=1)
    async with delivering(app, sender):
        await staff_move(app, number, AppealStage.ACCEPTED)
        [row] = await outbox_settled(app)
    refused, delivered = (call for call in fake.calls if call.method == "sendMessage")
    assert delivered.received_at - refused.received_at >= 1.0
    registered = f"Обращение {number}: новый этап — «Зарегистрировано»."
    assert [shown.text for shown in fake.chats[ANNA.id]] == [registered]
    assert (row.status, row.attempts, row.last_error) == ("sent", 1, None)  # a 429 is not a failed attempt


async def test_a_resident_who_blocked_the_bot_has_the_notification_given_up(
    app: Application, fake: FakeTelegram, sender: TelegramSender
) -> None:
    number = await appeal_of(app, ANNA)
    fake.fail("sendMessage", 403, "Forbidden: bot was blocked by the user")
    async with delivering(app, sender):
        await staff_move(app, number, AppealStage.ACCEPTED)
        [row] = await outbox_settled(app)
        await asyncio.sleep(0.3)  # a few sweeps: a dead message is not tried again
    assert (row.status, row.last_error) == ("dead", "Telegram server says - Forbidden: bot was blocked by the user")
    assert len(fake.calls_of("sendMessage")) == 1
    assert fake.chats[ANNA.id] == []
