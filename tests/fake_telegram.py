"""A fake Telegram Bot API on 127.0.0.1 for tests and benchmarks: scripted updates in, every call recorded."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import math
import re
import time
from collections import defaultdict, deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, ClassVar

from aiohttp import web

METHODS = frozenset(
    "getMe getUpdates sendMessage editMessageText answerCallbackQuery sendChatAction sendPhoto getFile "
    "setMyCommands setWebhook deleteWebhook".split()
)
SENDING = frozenset({"sendMessage", "sendPhoto"})  # the calls Telegram counts against its sending limits
BOT_ID = 777000
BOT_USERNAME = "priemnaya_test_bot"  # what getMe says; "/start@priemnaya_test_bot" addresses this bot in a group
CHAT_TYPES = frozenset({"private", "group", "supergroup", "channel"})
# The users Telegram puts in `from` of a message sent on behalf of a chat (`sender_chat`): a channel, or the group
# itself (an anonymous group admin).
CHANNEL_BOT = {"id": 136817688, "is_bot": True, "first_name": "Channel", "username": "Channel_Bot"}
GROUP_ANONYMOUS_BOT = {"id": 1087968824, "is_bot": True, "first_name": "Group", "username": "GroupAnonymousBot"}
# Entities Telegram finds in a message's text: a command opening it, and @username mentions anywhere.
COMMAND = re.compile(r"/[A-Za-z0-9_]{1,64}(?:@[A-Za-z0-9_]{3,32})?(?![A-Za-z0-9_@])")
MENTION = re.compile(r"(?<![A-Za-z0-9_@/])@[A-Za-z0-9_]{5,32}(?![A-Za-z0-9_])")
GROUP_WINDOW = 60.0  # seconds over which Telegram counts the messages to one group
HOLD_POLL = 0.02  # seconds between two looks at whether a held call's client is still there


@dataclass
class Call:
    method: str
    params: dict[str, Any]
    received_at: float  # loop time
    answered_at: float | None = None
    dropped: bool = False  # held, and its client went away before the release: never answered, no effect


@dataclass
class Shown:
    """A message of the bot as the resident sees it: its text, inline buttons as (label, payload), edits."""

    message_id: int
    text: str
    buttons: list[list[tuple[str, str]]]
    edits: int = 0

    @property
    def labels(self) -> list[str]:
        return [label for row in self.buttons for label, _ in row]


@dataclass
class Failure:
    status: int
    description: str
    retry_after: int | None = None


@dataclass(frozen=True)
class User:
    id: int
    first_name: str
    last_name: str | None = None

    def as_json(self) -> dict[str, Any]:
        user: dict[str, Any] = {"id": self.id, "is_bot": False, "first_name": self.first_name}
        if self.last_name:
            user["last_name"] = self.last_name
        return user


@dataclass(frozen=True)
class Chat:
    """A chat other than a user's private one (or one given explicitly): group ids are negative, e.g. -100123..."""

    id: int
    type: str  # "private", "group", "supergroup" or "channel"
    title: str | None = None

    def __post_init__(self) -> None:
        if self.type not in CHAT_TYPES:
            raise ValueError(f"chat type must be one of {sorted(CHAT_TYPES)}, not {self.type!r}")

    def as_json(self) -> dict[str, Any]:
        chat: dict[str, Any] = {"id": self.id, "type": self.type}
        if self.title is not None:
            chat["title"] = self.title
        return chat


@dataclass
class FakeTelegram:
    """Serves `/bot<token>/<method>` like the Bot API. Tests push updates, read chats, and script failures."""

    poll_wait: float = 1.0  # the longest a getUpdates call waits, whatever timeout it asks for
    # Sending limits, enforced like Telegram's: a message that would make more than `rate_limit` in any 1 s, or
    # come to a chat sooner than `chat_interval` s after the previous one, is answered 429 with `retry_after`.
    rate_limit: float | None = None
    chat_interval: float | None = None
    # And, to a chat with a negative id (a group, a supergroup or a channel), at most `group_per_minute` messages
    # in any 60 s (Telegram's is 20).
    group_per_minute: int | None = None
    throttled: int = 0  # 429s answered because of the limits above
    dropped_holds: int = 0  # held calls whose client went away (the bot was killed) before the release
    sent_at: list[float] = field(default_factory=list)  # loop time of every message let through the limits
    calls: list[Call] = field(default_factory=list)
    chats: dict[int, list[Shown]] = field(default_factory=lambda: defaultdict(list))
    confirmed_below: int = 0  # every update with a smaller id has been confirmed by a later getUpdates offset
    _pending: deque[dict[str, Any]] = field(default_factory=deque)
    _failures: dict[str, deque[Failure]] = field(default_factory=lambda: defaultdict(deque))
    _delays: dict[str, float] = field(default_factory=dict)
    _window: deque[float] = field(default_factory=deque)  # messages let through in the last second
    _last_to_chat: dict[int, float] = field(default_factory=dict)
    _to_group: dict[int, deque[float]] = field(default_factory=lambda: defaultdict(deque))  # in the last minute
    _holds: dict[str, asyncio.Event] = field(default_factory=dict)  # method -> set when released
    _held: list[Call] = field(default_factory=list)  # calls received while held, not yet answered or dropped
    _known_chats: dict[int, Chat] = field(default_factory=dict)  # every Chat a test has given
    _users: dict[int, User] = field(default_factory=dict)  # every User a test has given, by id
    _update_ids: itertools.count[int] = field(default_factory=lambda: itertools.count(1))
    _message_ids: itertools.count[int] = field(default_factory=lambda: itertools.count(1))
    _changed: asyncio.Event = field(default_factory=asyncio.Event)
    _runner: web.AppRunner | None = None
    url: str = ""
    bot_username: ClassVar[str] = BOT_USERNAME

    async def start(self) -> str:
        app = web.Application()
        app.router.add_post("/bot{token}/{method}", self._api)
        app.router.add_get("/file/bot{token}/{path:.+}", self._file)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        self.url = f"http://127.0.0.1:{port}"
        return self.url

    async def close(self) -> None:
        for method in list(self._holds):  # a held call would keep the server from closing
            self.release(method)
        if self._runner is not None:
            await self._runner.cleanup()

    # Scripting what residents do

    def push(self, update: dict[str, Any], update_id: int | None = None) -> int:
        """Queue a raw update (without update_id, or with a given one to repeat it); returns its id."""
        update_id = next(self._update_ids) if update_id is None else update_id
        self._pending.append({"update_id": update_id, **update})
        self._notify()
        return update_id

    def message_update(
        self,
        user: User,
        text: str | None = None,
        *,
        photo: str | None = None,
        caption: str | None = None,
        location: tuple[float, float] | None = None,
        chat: Chat | None = None,
        sender_chat: Chat | None = None,
    ) -> dict[str, Any]:
        """A message from `user` in their private chat with the bot, or in `chat`. With `sender_chat` it was sent
        on behalf of a channel or of the group itself (an anonymous admin): `from` is then Telegram's stand-in user.
        In a chat of type "channel" it is a channel post: no `from`, the channel is the sender."""
        self._users[user.id] = user
        message: dict[str, Any] = {"message_id": next(self._message_ids), "date": int(time.time())}
        if chat is None:
            message["chat"] = {"id": user.id, "type": "private", "first_name": user.first_name}
        else:
            self._known_chats[chat.id] = chat
            message["chat"] = chat.as_json()
        if chat is not None and chat.type == "channel":
            sender_chat = sender_chat or chat
        elif sender_chat is not None:
            message["from"] = dict(CHANNEL_BOT if sender_chat.type == "channel" else GROUP_ANONYMOUS_BOT)
        else:
            message["from"] = user.as_json()
        if sender_chat is not None:
            self._known_chats[sender_chat.id] = sender_chat
            message["sender_chat"] = sender_chat.as_json()
        if text is not None:
            message["text"] = text
            if entities := _entities(text):
                message["entities"] = entities
        if photo is not None:  # Telegram sends every size, smallest first
            message["photo"] = [
                {"file_id": f"{photo}-{side}", "file_unique_id": f"u{photo}{side}", "width": side, "height": side}
                for side in (90, 320, 1280)
            ]
            if caption is not None:
                message["caption"] = caption
                if entities := _entities(caption):
                    message["caption_entities"] = entities
        if location is not None:
            message["location"] = {"latitude": location[0], "longitude": location[1]}
        return {"channel_post" if chat is not None and chat.type == "channel" else "message": message}

    def callback_update(self, user: User, shown: Shown, payload: str, *, chat: Chat | None = None) -> dict[str, Any]:
        """`user` pressed a button of `shown`, a message of the bot in their private chat, or in `chat`."""
        self._users[user.id] = user
        if chat is not None:
            self._known_chats[chat.id] = chat
        return {
            "callback_query": {
                "id": f"cq{next(self._message_ids)}",
                "from": user.as_json(),
                "chat_instance": "1",
                "data": payload,
                "message": self._message_json(user.id if chat is None else chat.id, shown.message_id, shown.text),
            }
        }

    def fail(self, method: str, status: int, description: str, retry_after: int | None = None, times: int = 1) -> None:
        """Answer the next `times` calls of `method` with an error, e.g. 403 "Forbidden: bot was blocked..."."""
        self._failures[method].extend(Failure(status, description, retry_after) for _ in range(times))

    def delay(self, method: str, seconds: float) -> None:
        """Hold every answer to `method` for `seconds`, like a slow network."""
        self._delays[method] = seconds

    def hold(self, method: str) -> None:
        """Receive and record calls of `method` (`calls`, `wait_until` see them) but answer none until `release`.
        A held call takes effect only when answered: if its client goes away meanwhile (the bot was killed), the
        call is marked `dropped`, counted in `dropped_holds`, and, e.g., its message never shows in `chats`."""
        self._holds.setdefault(method, asyncio.Event())

    def release(self, method: str) -> None:
        """Answer the held calls of `method` (those whose client is still there) and stop holding it."""
        released = self._holds.pop(method, None)
        if released is not None:
            released.set()

    # Reading what happened

    def calls_of(self, method: str) -> list[dict[str, Any]]:
        return [call.params for call in self.calls if call.method == method]

    def held_calls(self, method: str | None = None) -> list[Call]:
        """The calls (of `method`, or of any) waiting for a `release`, oldest first."""
        return [call for call in self._held if method is None or call.method == method]

    async def wait_until(self, condition: Callable[[], object], seconds: float = 10.0) -> None:
        """Return once `condition()` holds (checked after every call), or raise TimeoutError after `seconds`."""
        deadline = asyncio.get_running_loop().time() + seconds
        while not condition():
            remaining = deadline - asyncio.get_running_loop().time()
            if remaining <= 0:
                raise TimeoutError("the fake Telegram never saw what the test waited for")
            self._changed.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._changed.wait(), min(remaining, 0.2))

    # The API

    async def _api(self, request: web.Request) -> web.Response:
        method = request.match_info["method"]
        form = await request.post()
        params = {key: _decode(value) for key, value in form.items() if isinstance(value, str)}
        loop = asyncio.get_running_loop()
        call = Call(method, params, received_at=loop.time())
        self.calls.append(call)
        self._notify()
        if method in self._holds and not await self._released(request, call, self._holds[method]):
            call.dropped = True
            self.dropped_holds += 1
            self._notify()
            return _error(499, "Client Closed Request")  # nobody reads it: aiohttp drops it quietly
        try:
            return await self._respond(method, params)
        finally:
            call.answered_at = loop.time()
            self._notify()

    async def _released(self, request: web.Request, call: Call, released: asyncio.Event) -> bool:
        """Wait for the release of a held call; False if its client went away first."""
        self._held.append(call)
        try:
            while not released.is_set():
                if _client_gone(request):
                    return False
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(released.wait(), HOLD_POLL)
            return not _client_gone(request)
        except asyncio.CancelledError:  # aiohttp's handler cancellation, if on: the client went away
            call.dropped = True
            self.dropped_holds += 1
            raise
        finally:
            self._held.remove(call)

    async def _respond(self, method: str, params: dict[str, Any]) -> web.Response:
        if method not in METHODS:
            return _error(404, "Not Found: method not found")
        if self._delays.get(method):
            await asyncio.sleep(self._delays[method])
        if self._failures[method]:
            failure = self._failures[method].popleft()
            return _error(failure.status, failure.description, failure.retry_after)
        if method == "getUpdates":
            return _ok(await self._get_updates(params))
        if method in SENDING and (wait := self._throttle(int(params["chat_id"]))) > 0:
            self.throttled += 1
            seconds = max(1, math.ceil(wait))  # Telegram says whole seconds
            return _error(429, f"Too Many Requests: retry after {seconds}", seconds)
        return _ok(self._answer(method, params))

    def _throttle(self, chat_id: int) -> float:
        """How long this message should have waited for the sending limits (0: it may go now, and is counted)."""
        now = asyncio.get_running_loop().time()
        window = self._window
        while window and window[0] <= now - 1.0:
            window.popleft()
        wait = 0.0
        if self.rate_limit is not None and len(window) >= self.rate_limit:
            wait = window[0] + 1.0 - now
        last = self._last_to_chat.get(chat_id)
        if self.chat_interval is not None and last is not None and now - last < self.chat_interval:
            wait = max(wait, last + self.chat_interval - now)
        per_minute = self.group_per_minute
        group = self._to_group[chat_id] if per_minute is not None and chat_id < 0 else None
        if group is not None and per_minute is not None:
            while group and group[0] <= now - GROUP_WINDOW:
                group.popleft()
            if len(group) >= per_minute:
                wait = max(wait, group[0] + GROUP_WINDOW - now)
        if wait > 0:
            return wait
        if self.rate_limit is not None:
            window.append(now)
        if self.chat_interval is not None:
            self._last_to_chat[chat_id] = now
        if group is not None:
            group.append(now)
        self.sent_at.append(now)
        return 0.0

    async def _get_updates(self, params: dict[str, Any]) -> list[dict[str, Any]]:
        offset = int(params.get("offset", 0))
        if offset:
            self.confirmed_below = max(self.confirmed_below, offset)
            while self._pending and self._pending[0]["update_id"] < offset:
                self._pending.popleft()
            self._notify()
        if not self._pending and int(params.get("timeout", 0)) > 0:
            self._changed.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._changed.wait(), self.poll_wait)
        return list(itertools.islice(self._pending, int(params.get("limit", 100))))

    def _answer(self, method: str, params: dict[str, Any]) -> object:
        if method == "getMe":
            return {"id": BOT_ID, "is_bot": True, "first_name": "Приёмная", "username": BOT_USERNAME}
        if method == "sendMessage":
            chat_id, text = int(params["chat_id"]), params["text"]
            shown = Shown(next(self._message_ids), text, _buttons(params.get("reply_markup")))
            self.chats[chat_id].append(shown)
            return self._message_json(chat_id, shown.message_id, text)
        if method == "editMessageText":
            chat_id, message_id = int(params["chat_id"]), int(params["message_id"])
            earlier = next((s for s in self.chats[chat_id] if s.message_id == message_id), None)
            if earlier is None:
                return _Refusal("Bad Request: message to edit not found")
            buttons = _buttons(params.get("reply_markup"))
            if (earlier.text, earlier.buttons) == (params["text"], buttons):
                return _Refusal("Bad Request: message is not modified")
            earlier.text, earlier.buttons, earlier.edits = params["text"], buttons, earlier.edits + 1
            return self._message_json(chat_id, message_id, earlier.text)
        if method == "sendPhoto":
            chat_id = int(params["chat_id"])
            message = self._message_json(chat_id, next(self._message_ids), None)
            message["photo"] = [{"file_id": "sent", "file_unique_id": "sent", "width": 1, "height": 1}]
            return message
        if method == "getFile":
            file_id = params["file_id"]
            return {"file_id": file_id, "file_unique_id": f"u{file_id}", "file_path": f"photos/{file_id}.jpg"}
        return True

    async def _file(self, request: web.Request) -> web.Response:
        return web.Response(body=b"\xff\xd8\xff\xd9", content_type="image/jpeg")

    def _message_json(self, chat_id: int, message_id: int, text: str | None) -> dict[str, Any]:
        message: dict[str, Any] = {
            "message_id": message_id,
            "date": int(time.time()),
            "chat": self._chat_json(chat_id),
            "from": {"id": BOT_ID, "is_bot": True, "first_name": "Приёмная", "username": BOT_USERNAME},
        }
        if text is not None:
            message["text"] = text
        return message

    def _chat_json(self, chat_id: int) -> dict[str, Any]:
        """The chat as Telegram describes it: a Chat given earlier, else a user's private chat for a positive id."""
        if (chat := self._known_chats.get(chat_id)) is not None:
            return chat.as_json()
        if chat_id > 0:
            private: dict[str, Any] = {"id": chat_id, "type": "private"}
            if (user := self._users.get(chat_id)) is not None:
                private["first_name"] = user.first_name
            return private
        return {"id": chat_id, "type": "supergroup" if str(chat_id).startswith("-100") else "group"}

    def _notify(self) -> None:
        self._changed.set()


class _Refusal(str):
    """An answer that is a Bot API error 400 with this description."""


def _ok(result: object) -> web.Response:
    if isinstance(result, _Refusal):
        return _error(400, str(result))
    return web.json_response({"ok": True, "result": result})


def _error(status: int, description: str, retry_after: int | None = None) -> web.Response:
    body: dict[str, Any] = {"ok": False, "error_code": status, "description": description}
    if retry_after is not None:
        body["parameters"] = {"retry_after": retry_after}
    return web.json_response(body, status=status)


def _decode(value: str) -> Any:
    """Form fields as aiogram sends them: JSON for objects, lists and booleans, plain strings otherwise."""
    if value[:1] in "[{" or value in ("true", "false"):
        try:
            return json.loads(value)
        except ValueError:
            return value
    return value


def _client_gone(request: web.Request) -> bool:
    transport = request.transport
    return transport is None or transport.is_closing()


def _entities(text: str) -> list[dict[str, Any]]:
    """The entities Telegram marks in a text: a bot command opening it, and every @username mention; offsets and
    lengths count UTF-16 code units, as Telegram does."""

    def entity(kind: str, match: re.Match[str]) -> dict[str, Any]:
        return {"type": kind, "offset": _utf16(text[: match.start()]), "length": _utf16(match[0])}

    found = []
    if command := COMMAND.match(text):
        found.append(entity("bot_command", command))
    found.extend(entity("mention", mention) for mention in MENTION.finditer(text))
    return found


def _utf16(text: str) -> int:
    return len(text.encode("utf-16-le")) // 2


def _buttons(markup: object) -> list[list[tuple[str, str]]]:
    if not isinstance(markup, dict):
        return []
    return [[(button["text"], button["callback_data"]) for button in row] for row in markup["inline_keyboard"]]
