"""Residents on every platform, behind one interface, so a conversation is written once and run on each: in the
console chat, in Telegram (unmodified aiogram against the fake Bot API) and in VK (unmodified vkbottle against
the fake VK API)."""

from __future__ import annotations

import asyncio
import io
import re
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

from pydantic import SecretStr

from bot.adapters.console import ConsoleChat
from bot.adapters.vk import VkAdapter
from bot.app import Application
from bot.config import VkSettings, WebSettings
from bot.core.intake import StoredCursor
from bot.core.types import Handled, Incoming, Reply
from bot.notifier import RateLimiter
from bot.web import WebServer
from tests import fake_telegram, fake_vk
from tests.test_telegram import Running, start

VK_TOKEN = "vk1.a.test-token"
MORE_BUTTONS = "Ещё варианты:"
PLATFORMS = ("console", "telegram", "vk")

Feed = Callable[[Incoming], Awaitable[Handled]]


class Resident(Protocol):
    """A person talking to the bot. `send` and `press` return the texts of the bot's messages that appeared or
    changed in reply (a card edited in place counts); `buttons` are the labels the resident can press now."""

    platform: str
    user_id: str

    async def send(
        self,
        text: str | None = None,
        *,
        photo: str | None = None,
        caption: str | None = None,
        location: tuple[float, float] | None = None,
    ) -> list[str]: ...

    async def press(self, label: str) -> list[str]: ...

    @property
    def buttons(self) -> list[str]: ...

    async def notices(self, app: Application) -> list[str]:
        """Deliver what the outbox holds and return the messages that arrived unasked."""
        ...


# The console


@dataclass
class ConsoleResident:
    app: Application
    user_id: str
    name: str
    platform: str = "console"
    _replies: list[Reply] = field(default_factory=list)
    _buttons: list[str] = field(default_factory=list)
    _terminal: io.StringIO = field(default_factory=io.StringIO)
    _chat: ConsoleChat | None = None

    def __post_init__(self) -> None:
        async def recording(incoming: Incoming) -> Handled:
            handled = await self.app.dispatcher.feed(incoming)
            self._replies.extend(handled)
            return handled

        self._chat = ConsoleChat(recording, user_id=self.user_id, display_name=self.name, sink=self._terminal)
        self.app.notifier.register(self._chat)

    async def send(
        self,
        text: str | None = None,
        *,
        photo: str | None = None,
        caption: str | None = None,
        location: tuple[float, float] | None = None,
    ) -> list[str]:
        if photo is not None:
            line = f"/photo {photo} {caption or ''}".strip()
        elif location is not None:
            line = f"/location {location[0]} {location[1]}"
        else:
            line = text or ""
        return await self._say(line)

    async def press(self, label: str) -> list[str]:
        assert label in self.buttons, f"no button {label!r}; shown: {self.buttons}"
        return await self._say(label)

    @property
    def buttons(self) -> list[str]:
        return self._buttons

    async def notices(self, app: Application) -> list[str]:
        """The notifications printed into the terminal, without their numbered buttons (kept as `buttons`)."""
        while await app.notifier.deliver_due():
            pass
        printed = self._terminal.getvalue()
        self._terminal.seek(0)
        self._terminal.truncate()
        texts = []
        for block in printed.split("🔔 ")[1:]:
            text, *buttons = re.split(r"\n  \[\d+\] ", block.strip().removesuffix(">").rstrip())
            texts.append(text)
            self._buttons = buttons or self._buttons
        return texts

    async def _say(self, line: str) -> list[str]:
        assert self._chat is not None
        before = len(self._replies)
        await self._chat.say(line)
        replies = self._replies[before:]
        for reply in replies:
            self._buttons = [button.text for row in reply.buttons for button in row] or self._buttons
        return [reply.text for reply in replies]


# Telegram


@dataclass
class TelegramResident:
    running: Running
    user: fake_telegram.User
    platform: str = "telegram"
    _seen: int = 0

    @property
    def user_id(self) -> str:
        return str(self.user.id)

    @property
    def chat(self) -> list[fake_telegram.Shown]:
        return self.running.fake.chats[self.user.id]

    async def send(
        self,
        text: str | None = None,
        *,
        photo: str | None = None,
        caption: str | None = None,
        location: tuple[float, float] | None = None,
    ) -> list[str]:
        fake = self.running.fake
        return await self._do(fake.message_update(self.user, text, photo=photo, caption=caption, location=location))

    async def press(self, label: str) -> list[str]:
        shown = next((message for message in reversed(self.chat) if label in message.labels), None)
        assert shown is not None, f"no button {label!r}; shown: {self.buttons}"
        payload = next(payload for row in shown.buttons for text, payload in row if text == label)
        return await self._do(self.running.fake.callback_update(self.user, shown, payload))

    @property
    def buttons(self) -> list[str]:
        with_buttons = [message for message in self.chat if message.buttons]
        return with_buttons[-1].labels if with_buttons else []

    async def notices(self, app: Application) -> list[str]:
        while await app.notifier.deliver_due():
            pass
        arrived = [message.text for message in self.chat[self._seen :]]
        self._seen = len(self.chat)
        return arrived

    async def _do(self, update: dict[str, Any]) -> list[str]:
        fake = self.running.fake
        before = {message.message_id: (message.text, message.edits) for message in self.chat}
        update_id = fake.push(update)
        await fake.wait_until(lambda: fake.confirmed_below > update_id)  # received: its task is running
        await self.running.adapter.wait_idle()
        self._seen = len(self.chat)
        return [m.text for m in self.chat if before.get(m.message_id) != (m.text, m.edits)]


# VK


@dataclass
class VkRunning:
    """A VK adapter running against the fake VK API, and every `Incoming` it gave the core."""

    fake: fake_vk.FakeVK
    adapter: VkAdapter
    incoming: list[Incoming] = field(default_factory=list)

    def resident(self, user: fake_vk.User, client: fake_vk.ClientInfo = fake_vk.NEW_CLIENT) -> VkResident:
        return VkResident(self, user, client)

    async def push(self, event: dict[str, Any], event_id: str | None = None) -> str:
        """Push an event and return once the adapter has handled it (and what it caused was sent)."""
        fake = self.fake
        event_id = fake.push(event, event_id)
        ts = len(fake._events)
        await fake.wait_until(lambda: fake.polled_ts > ts or self.adapter.settings.mode == "callback")
        await self.adapter.wait_idle()
        return event_id


async def start_vk(
    fake: fake_vk.FakeVK,
    app: Application,
    feed: Feed | None = None,
    limiter: RateLimiter | None = None,
    **changes: Any,
) -> tuple[VkRunning, Callable[[], Awaitable[None]], WebServer]:
    """Run a VK adapter in the background, with the app's notifier sending through it; returns it, a function
    that stops it cleanly, and the web server (serving the Callback API in callback mode)."""
    seen: list[Incoming] = []
    core = feed or app.dispatcher.feed

    async def recording_feed(incoming: Incoming) -> Handled:
        seen.append(incoming)
        return await core(incoming)

    settings = VkSettings(
        token=SecretStr(VK_TOKEN), group_id=fake_vk.GROUP_ID, api_base=fake.url, **{"mode": "longpoll", **changes}
    )
    cursor = StoredCursor(app.sessions, f"vk:{fake_vk.GROUP_ID}")
    adapter = VkAdapter(settings, recording_feed, app.notifier.deliver, cursor, MORE_BUTTONS, limiter=limiter)
    app.notifier.register(adapter.sender)
    running = VkRunning(fake, adapter, seen)
    server = WebServer(WebSettings(host="127.0.0.1", port=0), adapter.endpoints())
    await server.start()
    stop = asyncio.Event()
    task = asyncio.create_task(adapter.run(stop))
    if settings.mode == "longpoll":
        await fake.wait_until(lambda: fake.polled_ts or task.done())

    async def stopped() -> None:
        await server.stop()
        stop.set()
        await task

    return running, stopped, server


@dataclass
class VkResident:
    running: VkRunning
    user: fake_vk.User
    client: fake_vk.ClientInfo = fake_vk.NEW_CLIENT
    platform: str = "vk"
    _seen: int = 0

    @property
    def user_id(self) -> str:
        return str(self.user.id)

    @property
    def chat(self) -> list[fake_vk.Shown]:
        return self.running.fake.chats[self.user.id]

    async def send(
        self,
        text: str | None = None,
        *,
        photo: str | None = None,
        caption: str | None = None,
        location: tuple[float, float] | None = None,
    ) -> list[str]:
        fake = self.running.fake
        if text == "/start" and not self.chat:  # a new resident opens the conversation with «Начать»
            return await self._do(fake.start_button(self.user, self.client))
        photos = (photo,) if photo is not None else ()
        event = fake.message_new(self.user, text or caption or "", photos=photos, geo=location, client=self.client)
        return await self._do(event)

    async def press(self, label: str) -> list[str]:
        return await self._do(self.running.fake.press(self.user, label, self.client))

    @property
    def buttons(self) -> list[str]:
        """The newest message's keyboard (with the pages that follow it), or the regular keyboard."""
        fake = self.running.fake
        regular = fake.keyboards.get(self.user.id)
        if regular is not None:
            return regular.labels
        labels: list[str] = []
        for message in reversed(self.chat):
            if message.buttons:
                labels[:0] = message.labels
                if message.text != MORE_BUTTONS:
                    break
        return labels

    async def notices(self, app: Application) -> list[str]:
        while await app.notifier.deliver_due():
            pass
        arrived = [message.text for message in self.chat[self._seen :]]
        self._seen = len(self.chat)
        return arrived

    async def _do(self, event: dict[str, Any]) -> list[str]:
        before = {message.message_id: (message.text, message.edits) for message in self.chat}
        await self.running.push(event)
        self._seen = len(self.chat)
        return [m.text for m in self.chat if before.get(m.message_id) != (m.text, m.edits) and m.text != MORE_BUTTONS]


@dataclass
class Platforms:
    """Makes residents on one platform, running its adapter against its fake server while the test runs."""

    app: Application
    name: str
    telegram: Running | None = None
    vk: VkRunning | None = None
    _users: int = 0

    def resident(self, first_name: str = "Анна", last_name: str | None = "Петрова") -> Resident:
        self._users += 1
        user_id = 1000 + self._users
        if self.telegram is not None:
            return TelegramResident(self.telegram, fake_telegram.User(user_id, first_name, last_name))
        if self.vk is not None:
            return self.vk.resident(fake_vk.User(user_id, first_name, last_name))
        name = " ".join(filter(None, (first_name, last_name)))
        return ConsoleResident(self.app, f"resident-{user_id}", name)


async def platform_for(name: str, app: Application) -> AsyncIterator[Platforms]:
    """The platform `name` ready for residents: its fake server and adapter run until the test ends."""
    if name == "console":
        yield Platforms(app, name)
        return
    if name == "telegram":
        server = fake_telegram.FakeTelegram()
        await server.start()
        running, stopped = await start(server, app)
        try:
            yield Platforms(app, name, telegram=running)
        finally:
            await stopped()
            await server.close()
        return
    vk = fake_vk.FakeVK(token=VK_TOKEN)
    await vk.start()
    vk_running, vk_stopped, _ = await start_vk(vk, app)
    try:
        yield Platforms(app, name, vk=vk_running)
    finally:
        await vk_stopped()
        await vk.close()
