"""A fake Telegram Bot API on 127.0.0.1 for tests and benchmarks: scripted updates in, every call recorded."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import math
import time
from collections import defaultdict, deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

METHODS = frozenset(
    "getMe getUpdates sendMessage editMessageText answerCallbackQuery sendChatAction sendPhoto getFile "
    "setMyCommands setWebhook deleteWebhook".split()
)
SENDING = frozenset({"sendMessage", "sendPhoto"})  # the calls Telegram counts against its sending limits
BOT_ID = 777000


@dataclass
class Call:
    method: str
    params: dict[str, Any]
    received_at: float  # loop time
    answered_at: float | None = None


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


@dataclass
class FakeTelegram:
    """Serves `/bot<token>/<method>` like the Bot API. Tests push updates, read chats, and script failures."""

    poll_wait: float = 1.0  # the longest a getUpdates call waits, whatever timeout it asks for
    # Sending limits, enforced like Telegram's: a message that would make more than `rate_limit` in any 1 s, or
    # come to a chat sooner than `chat_interval` s after the previous one, is answered 429 with `retry_after`.
    rate_limit: float | None = None
    chat_interval: float | None = None
    throttled: int = 0  # 429s answered because of the limits above
    sent_at: list[float] = field(default_factory=list)  # loop time of every message let through the limits
    calls: list[Call] = field(default_factory=list)
    chats: dict[int, list[Shown]] = field(default_factory=lambda: defaultdict(list))
    confirmed_below: int = 0  # every update with a smaller id has been confirmed by a later getUpdates offset
    _pending: deque[dict[str, Any]] = field(default_factory=deque)
    _failures: dict[str, deque[Failure]] = field(default_factory=lambda: defaultdict(deque))
    _delays: dict[str, float] = field(default_factory=dict)
    _window: deque[float] = field(default_factory=deque)  # messages let through in the last second
    _last_to_chat: dict[int, float] = field(default_factory=dict)
    _update_ids: itertools.count[int] = field(default_factory=lambda: itertools.count(1))
    _message_ids: itertools.count[int] = field(default_factory=lambda: itertools.count(1))
    _changed: asyncio.Event = field(default_factory=asyncio.Event)
    _runner: web.AppRunner | None = None
    url: str = ""

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
    ) -> dict[str, Any]:
        message: dict[str, Any] = {
            "message_id": next(self._message_ids),
            "date": int(time.time()),
            "chat": {"id": user.id, "type": "private", "first_name": user.first_name},
            "from": user.as_json(),
        }
        if text is not None:
            message["text"] = text
        if photo is not None:  # Telegram sends every size, smallest first
            message["photo"] = [
                {"file_id": f"{photo}-{side}", "file_unique_id": f"u{photo}{side}", "width": side, "height": side}
                for side in (90, 320, 1280)
            ]
            if caption is not None:
                message["caption"] = caption
        if location is not None:
            message["location"] = {"latitude": location[0], "longitude": location[1]}
        return {"message": message}

    def callback_update(self, user: User, shown: Shown, payload: str) -> dict[str, Any]:
        return {
            "callback_query": {
                "id": f"cq{next(self._message_ids)}",
                "from": user.as_json(),
                "chat_instance": "1",
                "data": payload,
                "message": self._message_json(user.id, shown.message_id, shown.text),
            }
        }

    def fail(self, method: str, status: int, description: str, retry_after: int | None = None, times: int = 1) -> None:
        """Answer the next `times` calls of `method` with an error, e.g. 403 "Forbidden: bot was blocked..."."""
        self._failures[method].extend(Failure(status, description, retry_after) for _ in range(times))

    def delay(self, method: str, seconds: float) -> None:
        """Hold every answer to `method` for `seconds`, like a slow network."""
        self._delays[method] = seconds

    # Reading what happened

    def calls_of(self, method: str) -> list[dict[str, Any]]:
        return [call.params for call in self.calls if call.method == method]

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
        try:
            return await self._respond(method, params)
        finally:
            call.answered_at = loop.time()
            self._notify()

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
        if wait > 0:
            return wait
        if self.rate_limit is not None:
            window.append(now)
        if self.chat_interval is not None:
            self._last_to_chat[chat_id] = now
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
            return {"id": BOT_ID, "is_bot": True, "first_name": "Приёмная", "username": "priemnaya_test_bot"}
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
            "chat": {"id": chat_id, "type": "private"},
            "from": {"id": BOT_ID, "is_bot": True, "first_name": "Приёмная"},
        }
        if text is not None:
            message["text"] = text
        return message

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


def _buttons(markup: object) -> list[list[tuple[str, str]]]:
    if not isinstance(markup, dict):
        return []
    return [[(button["text"], button["callback_data"]) for button in row] for row in markup["inline_keyboard"]]
