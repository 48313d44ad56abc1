"""A fake VK API (5.199, bots long poll) on 127.0.0.1 for tests and benchmarks: scripted residents in, every call
recorded, VK's limits and errors enforced.

Unmodified vkbottle works against it as against VK: `api = API(token)`, `api.API_URL = f"{url}/method/"`, and
`BotPolling(api)` finds the long poll server through groups.getById and groups.getLongPollServer. Every answer is
HTTP 200 with `{"response": ...}` or `{"error": {"error_code", "error_msg", "request_params"}}`, which vkbottle
raises as `VKAPIError[code]`.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import secrets
import time
from collections import defaultdict, deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, NamedTuple

from aiohttp import web

API_VERSION = "5.199"
GROUP_ID = 229_000_001
GROUP_NAME = "Администрация города"
CHAT_PEER_BASE = 2_000_000_000  # the peer_id of group conversation n is 2000000000 + n
MAX_TEXT = 4096  # characters in a message
MAX_UPDATES = 100  # events in one long poll answer
MAX_LABEL = 40
MAX_PAYLOAD = 255  # characters of a button's payload, as a JSON string
MAX_IN_ROW = 5
MAX_SNACKBAR = 90
BOARD_LIMITS = {True: (6, 10), False: (10, 40)}  # inline? -> (rows, buttons in all)
COLORS = frozenset({"primary", "secondary", "negative", "positive"})
BUTTON_KINDS = frozenset({"text", "callback", "open_link", "location", "vkpay", "open_app"})
LABELLED = frozenset({"text", "callback", "open_link", "open_app"})  # the kinds that must have a label
# The sizes VK lists for a photo; deliberately not sorted, so that code has to pick the largest by area.
PHOTO_SIZES = (("m", 130, 97), ("s", 75, 56), ("z", 1280, 960), ("x", 604, 453), ("y", 807, 605))
JPEG = b"\xff\xd8\xff\xd9"
INVALID = "One of the parameters specified was missing or invalid: "


@dataclass
class Call:
    method: str
    params: dict[str, str]  # form fields and query parameters, without access_token and v
    received_at: float  # loop time
    version: str | None = None  # the `v` the client asked for
    answered_at: float | None = None


@dataclass(frozen=True)
class User:
    id: int
    first_name: str
    last_name: str | None = None

    def as_json(self) -> dict[str, Any]:
        """As users.get describes the user."""
        return {
            "id": self.id,
            "first_name": self.first_name,
            "last_name": self.last_name or "",
            "can_access_closed": True,
            "is_closed": False,
        }


@dataclass(frozen=True)
class ClientInfo:
    """What a resident's VK app can show, as VK tells the bot in `client_info` of every message_new."""

    button_actions: tuple[str, ...] = (
        "text", "vkpay", "open_app", "location", "open_link", "callback", "intent_subscribe", "intent_unsubscribe"
    )  # fmt: skip
    keyboard: bool = True
    inline_keyboard: bool = True
    carousel: bool = True
    lang_id: int = 0

    def as_json(self) -> dict[str, Any]:
        return {
            "button_actions": list(self.button_actions),
            "keyboard": self.keyboard,
            "inline_keyboard": self.inline_keyboard,
            "carousel": self.carousel,
            "lang_id": self.lang_id,
        }

    def shows(self, kind: str, inline: bool) -> bool:
        """Whether this client shows a button of this kind, in an inline or a regular keyboard."""
        return kind in self.button_actions and (self.inline_keyboard if inline else self.keyboard)


NEW_CLIENT = ClientInfo()
OLD_CLIENT = ClientInfo(button_actions=("text",), keyboard=True, inline_keyboard=False, carousel=False)


@dataclass
class Shown:
    """A message of the bot as the resident sees it: text, keyboard buttons as (label, payload string) with their
    action types in `kinds` (row by row), and how many times it was edited."""

    message_id: int
    conversation_message_id: int
    text: str
    buttons: list[list[tuple[str, str]]]
    inline: bool = False
    kinds: list[str] = field(default_factory=list)
    edits: int = 0
    random_id: int = 0
    one_time: bool = False
    attachment: str = ""

    @property
    def labels(self) -> list[str]:
        return [label for row in self.buttons for label, _ in row]


class _Board(NamedTuple):
    buttons: list[list[tuple[str, str]]]
    kinds: list[str]
    inline: bool = False
    one_time: bool = False


class _VKError(Exception):
    def __init__(self, code: int, message: str) -> None:
        super().__init__(message)
        self.code, self.message = code, message


@dataclass
class FakeVK:
    """Serves `/method/<name>` and the bots long poll like VK. Tests push events, read chats, script failures."""

    token: str | None = None  # when given, any other access_token is refused with error 5
    poll_wait: float = 1.0  # the longest a long poll request waits, whatever `wait` it asks for
    # VK lets a community token make 20 requests in a second: a request that would make more than `rate_limit` in
    # any 1 s (counting every method; the long poll is not a method) is answered with error 6.
    rate_limit: float | None = None
    throttled: int = 0  # errors 6 answered because of the limit above
    repeats_dropped: int = 0  # messages.send repeats of a random_id, silently dropped as VK does
    sent_at: list[float] = field(default_factory=list)  # loop time of every messages.send let through the limit
    calls: list[Call] = field(default_factory=list)
    chats: dict[int, list[Shown]] = field(default_factory=lambda: defaultdict(list))
    keyboards: dict[int, Shown | None] = field(default_factory=dict)  # peer -> the message with its regular one
    answered_events: list[str] = field(default_factory=list)  # event ids given to sendMessageEventAnswer
    clients: dict[int, ClientInfo] = field(default_factory=dict)  # user -> the client of their last message
    polled_ts: int = 0  # the highest ts a long poll asked for: every event before it has been fetched
    url: str = ""
    _events: list[dict[str, Any]] = field(default_factory=list)  # the whole history; event n has ts n (from 1)
    _key: str = field(default_factory=lambda: secrets.token_hex(20))
    _allowed: set[int] = field(default_factory=set)  # users the community may write to
    _users: dict[int, User] = field(default_factory=dict)
    _random_ids: dict[tuple[int, int], Shown] = field(default_factory=dict)
    _cmids: dict[int, int] = field(default_factory=lambda: defaultdict(int))  # peer -> last conversation_message_id
    _message_ids: itertools.count[int] = field(default_factory=lambda: itertools.count(1))
    _versions: itertools.count[int] = field(default_factory=lambda: itertools.count(10_000_001))
    _failures: dict[str, deque[tuple[int, str]]] = field(default_factory=lambda: defaultdict(deque))
    _holds: dict[str, asyncio.Event] = field(default_factory=dict)
    _window: deque[float] = field(default_factory=deque)  # requests let through in the last second
    _changed: asyncio.Event = field(default_factory=asyncio.Event)
    _closed: bool = False
    _runner: web.AppRunner | None = None

    async def start(self) -> str:
        app = web.Application()
        app.router.add_post("/method/{method}", self._api)
        app.router.add_route("*", "/lp", self._long_poll)
        app.router.add_get("/photos/{name}", self._photo_file)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        self.url = f"http://127.0.0.1:{port}"
        return self.url

    async def close(self) -> None:
        self._closed = True  # waiting long polls answer at once
        for method in list(self._holds):
            self.release(method)
        self._notify()
        if self._runner is not None:
            await self._runner.cleanup()

    # Scripting what residents do

    def push(self, event: dict[str, Any], event_id: str | None = None) -> str:
        """Append an event (`{"type", "object"}`) to the long poll history; with the `event_id` of an earlier one
        it is delivered again, as VK sometimes does. Returns the event id. Like VK, a message from a user allows
        the community to answer them, message_allow allows and message_deny forbids it."""
        event_id = event_id or secrets.token_hex(20)
        event = {"group_id": GROUP_ID, **event, "event_id": event_id, "v": API_VERSION}
        self._events.append(event)
        kind, body = event.get("type"), event.get("object", {})
        if kind == "message_new":
            message = body["message"]
            if 0 < message["peer_id"] < CHAT_PEER_BASE:
                self._allowed.add(message["from_id"])
            if (client := body.get("client_info")) is not None:
                actions = tuple(client["button_actions"])
                self.clients[message["from_id"]] = ClientInfo(**{**client, "button_actions": actions})
        elif kind == "message_allow":
            self._allowed.add(body["user_id"])
        elif kind == "message_deny":
            self._allowed.discard(body["user_id"])
        self._notify()
        return event_id

    def allow(self, user: User, key: str = "") -> str:
        """The user allowed messages from the community (e.g. by a widget)."""
        self._users[user.id] = user
        return self.push({"type": "message_allow", "object": {"user_id": user.id, "key": key}})

    def deny(self, user: User) -> str:
        """The user forbade messages from the community: messages.send to them is refused with error 901."""
        self._users[user.id] = user
        return self.push({"type": "message_deny", "object": {"user_id": user.id}})

    def expire_key(self) -> None:
        """VK's long poll key expired: the next poll gets `{"failed": 2}` and must ask for a new server."""
        self._key = secrets.token_hex(20)

    def message_new(
        self,
        user: User,
        text: str = "",
        *,
        payload: dict[str, Any] | str | None = None,
        photos: tuple[str, ...] = (),
        geo: tuple[float, float] | None = None,
        client: ClientInfo = NEW_CLIENT,
        peer_id: int | None = None,
    ) -> dict[str, Any]:
        """A message of `user` to the community (not pushed), in their private chat or in conversation `peer_id`.
        As VK does, a payload comes as a JSON string, and in a conversation the bot sees message id 0."""
        self._users[user.id] = user
        peer = user.id if peer_id is None else peer_id
        message: dict[str, Any] = {
            "date": int(time.time()),
            "from_id": user.id,
            "id": 0 if peer >= CHAT_PEER_BASE else next(self._message_ids),
            "out": 0,
            "version": next(self._versions),
            "attachments": [self._photo(user, name) for name in photos],
            "conversation_message_id": self._next_cmid(peer),
            "fwd_messages": [],
            "important": False,
            "is_hidden": False,
            "peer_id": peer,
            "random_id": 0,
            "text": text,
        }
        if payload is not None:
            message["payload"] = payload if isinstance(payload, str) else _dump(payload)
        if geo is not None:
            coordinates = {"latitude": geo[0], "longitude": geo[1]}
            message["geo"] = {"type": "point", "coordinates": coordinates}
        return {"type": "message_new", "object": {"message": message, "client_info": client.as_json()}}

    def start_button(self, user: User, client: ClientInfo = NEW_CLIENT) -> dict[str, Any]:
        """What VK sends when a new resident presses «Начать» under the community's greeting."""
        return self.message_new(user, "Начать", payload={"command": "start"}, client=client)

    def press(
        self, user: User, label: str, client: ClientInfo = NEW_CLIENT, *, peer_id: int | None = None
    ) -> dict[str, Any]:
        """The event (not pushed) of `user` pressing the button `label`: in the newest bot message showing it with
        an inline keyboard, or in the chat's current regular keyboard. A callback button makes a message_event, a
        text button a message_new with the label as text and the button's payload; a one_time keyboard hides."""
        peer = user.id if peer_id is None else peer_id
        for shown in reversed(self.chats.get(peer, [])):
            if not shown.inline and shown is not self.keyboards.get(peer):
                continue
            for (text, payload), kind in zip([b for row in shown.buttons for b in row], shown.kinds, strict=True):
                if text != label:
                    continue
                if not client.shows(kind, shown.inline):
                    raise AssertionError(f"the resident's client does not show the {kind} button {label!r}")
                if shown.one_time:
                    self.keyboards[peer] = None
                if kind == "callback":
                    event = {"user_id": user.id, "peer_id": peer, "event_id": secrets.token_hex(6)}
                    if payload:
                        event["payload"] = json.loads(payload)
                    event["conversation_message_id"] = shown.conversation_message_id
                    return {"type": "message_event", "object": event}
                if kind == "text":
                    return self.message_new(user, label, payload=payload or None, client=client, peer_id=peer)
                raise AssertionError(f"press() presses text and callback buttons, not {kind} ones")
        visible = [s.labels for s in self.chats.get(peer, []) if s.inline or s is self.keyboards.get(peer)]
        raise AssertionError(f"no button {label!r} in chat {peer}; the buttons shown: {visible}")

    def fail(self, method: str, code: int, message: str, times: int = 1) -> None:
        """Answer the next `times` calls of `method` with a VK error, e.g. 9 "Flood control", 909, 10."""
        self._failures[method].extend((code, message) for _ in range(times))

    def hold(self, method: str) -> None:
        """Record calls of `method` but answer none until `release`."""
        self._holds.setdefault(method, asyncio.Event())

    def release(self, method: str) -> None:
        if (released := self._holds.pop(method, None)) is not None:
            released.set()

    # Reading what happened

    def calls_of(self, method: str) -> list[dict[str, str]]:
        return [call.params for call in self.calls if call.method == method]

    async def wait_until(self, condition: Callable[[], object], seconds: float = 10.0) -> None:
        """Return once `condition()` holds (checked after every call and event), or raise TimeoutError."""
        deadline = asyncio.get_running_loop().time() + seconds
        while not condition():
            remaining = deadline - asyncio.get_running_loop().time()
            if remaining <= 0:
                raise TimeoutError("the fake VK never saw what the test waited for")
            self._changed.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._changed.wait(), min(remaining, 0.2))

    # The API

    async def _api(self, request: web.Request) -> web.Response:
        method = request.match_info["method"]
        form = await request.post()
        fields = {**request.query, **{key: value for key, value in form.items() if isinstance(value, str)}}
        token, version = fields.pop("access_token", None), fields.pop("v", None)
        loop = asyncio.get_running_loop()
        call = Call(method, fields, received_at=loop.time(), version=version)
        self.calls.append(call)
        self._notify()
        if method in self._holds:
            await self._holds[method].wait()
        try:
            body: dict[str, Any] = {"response": self._respond(method, fields, token)}
        except _VKError as error:
            shown_params = {"method": method, "oauth": "1", "v": version or "", **fields}
            request_params = [{"key": key, "value": value} for key, value in shown_params.items()]
            body = {"error": {"error_code": error.code, "error_msg": error.message, "request_params": request_params}}
        call.answered_at = loop.time()
        self._notify()
        return web.json_response(body)

    def _respond(self, method: str, params: dict[str, str], token: str | None) -> object:
        handlers: dict[str, Callable[[dict[str, str]], object]] = {
            "groups.getById": self._group,
            "groups.getLongPollServer": self._long_poll_server,
            "messages.send": self._send,
            "messages.edit": self._edit,
            "messages.sendMessageEventAnswer": self._event_answer,
            "messages.setActivity": lambda params: 1,
            "users.get": self._users_get,
        }
        if method not in handlers:
            raise _VKError(3, "Unknown method passed")
        if self.token is not None and token != self.token:
            raise _VKError(5, "User authorization failed: invalid access_token (4).")
        if not self._let_through():
            self.throttled += 1
            raise _VKError(6, "Too many requests per second")
        if self._failures[method]:
            raise _VKError(*self._failures[method].popleft())
        return handlers[method](params)

    def _let_through(self) -> bool:
        if self.rate_limit is None:
            return True
        now = asyncio.get_running_loop().time()
        while self._window and self._window[0] <= now - 1.0:
            self._window.popleft()
        if len(self._window) >= self.rate_limit:
            return False
        self._window.append(now)
        return True

    def _group(self, params: dict[str, str]) -> object:
        group = {"id": GROUP_ID, "name": GROUP_NAME, "screen_name": f"club{GROUP_ID}", "type": "group"}
        return {"groups": [group], "profiles": []}

    def _long_poll_server(self, params: dict[str, str]) -> object:
        if "group_id" not in params:
            raise _VKError(100, INVALID + "group_id is undefined")
        if _int(params, "group_id") != GROUP_ID:
            raise _VKError(15, "Access denied: no access to call this method")
        return {"key": self._key, "server": f"{self.url}/lp", "ts": str(len(self._events) + 1)}

    def _send(self, params: dict[str, str]) -> object:
        """messages.send to one peer; answers the message id."""
        self.sent_at.append(asyncio.get_running_loop().time())
        peer = _int(params, "peer_id" if "peer_id" in params else "user_id")
        if "random_id" not in params:
            raise _VKError(100, INVALID + "random_id is a required parameter")
        random_id = _int(params, "random_id")
        text, attachment = _text(params)
        board = _keyboard(params.get("keyboard")) or _Board([], [])
        if random_id and (earlier := self._random_ids.get((peer, random_id))) is not None:
            self.repeats_dropped += 1  # VK shows nothing new and answers the earlier message's id
            return earlier.message_id
        if 0 < peer < CHAT_PEER_BASE and peer not in self._allowed:
            raise _VKError(901, "Can't send messages for users without permission")
        shown = Shown(next(self._message_ids), self._next_cmid(peer), text, board.buttons, board.inline, board.kinds)
        shown.random_id, shown.one_time, shown.attachment = random_id, board.one_time, attachment
        self.chats[peer].append(shown)
        if random_id:
            self._random_ids[peer, random_id] = shown
        if params.get("keyboard") and not board.inline:  # a regular keyboard replaces the chat's; an empty removes
            self.keyboards[peer] = shown if board.buttons else None
        return shown.message_id

    def _edit(self, params: dict[str, str]) -> object:
        """messages.edit of a bot message, found by conversation_message_id or message_id: replaces its text and
        its inline keyboard (none, if the edit gives none). Edits of too old messages (909) only by `fail`."""
        peer = _int(params, "peer_id")
        if "conversation_message_id" in params:
            wanted, by_cmid = _int(params, "conversation_message_id"), True
        elif "message_id" in params:
            wanted, by_cmid = _int(params, "message_id"), False
        else:
            raise _VKError(100, INVALID + "message_id or conversation_message_id is required")
        shown = next(
            (s for s in self.chats.get(peer, []) if (s.conversation_message_id if by_cmid else s.message_id) == wanted),
            None,
        )
        if shown is None:
            raise _VKError(100, INVALID + "message not found")
        text, attachment = _text(params)
        board = _keyboard(params.get("keyboard"))
        shown.text, shown.attachment, shown.edits = text, attachment, shown.edits + 1
        if board is not None:
            shown.buttons, shown.kinds, shown.inline, shown.one_time = board
            if not board.inline:
                self.keyboards[peer] = shown if board.buttons else None
        elif shown.inline:  # an edit without a keyboard takes the inline one away
            shown.buttons, shown.kinds, shown.inline = [], [], False
        return 1

    def _event_answer(self, params: dict[str, str]) -> object:
        """messages.sendMessageEventAnswer: ends the spinner on a callback button, maybe with a snackbar."""
        for name in ("event_id", "user_id", "peer_id"):
            if name not in params:
                raise _VKError(100, INVALID + f"{name} is a required parameter")
        if "event_data" in params:
            try:
                data = json.loads(params["event_data"])
            except ValueError:
                data = None
            if not isinstance(data, dict) or data.get("type") not in ("show_snackbar", "open_link", "open_app"):
                raise _VKError(100, INVALID + "event_data is invalid")
            if data["type"] == "show_snackbar" and not 0 < len(str(data.get("text", ""))) <= MAX_SNACKBAR:
                raise _VKError(100, INVALID + f"event_data.text must be 1..{MAX_SNACKBAR} characters")
        self.answered_events.append(params["event_id"])
        return 1

    def _users_get(self, params: dict[str, str]) -> object:
        ids = [int(part) for part in params.get("user_ids", "").split(",") if part.strip().lstrip("-").isdigit()]
        return [self._users[user_id].as_json() for user_id in ids if user_id in self._users]

    # The long poll and files

    async def _long_poll(self, request: web.Request) -> web.Response:
        """`act=a_check&key=..&ts=..&wait=..`: the events from number `ts` on, or, when there are none yet, the
        first to come within `wait` (at most `poll_wait`) seconds. The whole history is kept, so an older ts
        gets its events again."""
        params = dict(request.query)
        if request.method == "POST":
            params.update({key: value for key, value in (await request.post()).items() if isinstance(value, str)})
        if params.get("key") != self._key:
            return web.json_response({"failed": 2})
        try:
            ts = int(params.get("ts", ""))
        except ValueError:
            ts = 0
        if ts < 1:
            return web.json_response({"failed": 1, "ts": str(len(self._events) + 1)})
        self.polled_ts = max(self.polled_ts, ts)
        self._notify()
        loop = asyncio.get_running_loop()
        try:
            wait = min(float(params.get("wait", self.poll_wait)), self.poll_wait)
        except ValueError:
            wait = self.poll_wait
        deadline = loop.time() + wait
        while len(self._events) < ts and not self._closed and (remaining := deadline - loop.time()) > 0:
            self._changed.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._changed.wait(), remaining)
        updates = self._events[ts - 1 : ts - 1 + MAX_UPDATES]
        return web.json_response({"ts": str(ts + len(updates)), "updates": updates})

    async def _photo_file(self, request: web.Request) -> web.Response:
        return web.Response(body=JPEG, content_type="image/jpeg")

    def _photo(self, user: User, name: str) -> dict[str, Any]:
        sizes = [
            {"type": kind, "url": f"{self.url}/photos/{name}-{kind}.jpg", "width": width, "height": height}
            for kind, width, height in PHOTO_SIZES
        ]
        largest = next(size for size in sizes if size["type"] == "z")
        photo = {
            "id": next(self._message_ids),
            "owner_id": user.id,
            "access_key": secrets.token_hex(9),
            "album_id": -3,  # VK's album of photos sent in messages
            "date": int(time.time()),
            "sizes": sizes,
            "orig_photo": {**largest, "type": "base"},
            "text": "",
            "has_tags": False,
        }
        return {"type": "photo", "photo": photo}

    def _next_cmid(self, peer: int) -> int:
        self._cmids[peer] += 1
        return self._cmids[peer]

    def _notify(self) -> None:
        self._changed.set()


def _int(params: dict[str, str], name: str) -> int:
    try:
        return int(params[name])
    except (KeyError, ValueError):
        raise _VKError(100, INVALID + f"{name} not integer") from None


def _text(params: dict[str, str]) -> tuple[str, str]:
    """The text and attachment of a message being sent or edited, checked as VK does."""
    text, attachment = params.get("message", ""), params.get("attachment", "")
    if len(text) > MAX_TEXT:
        raise _VKError(914, "Message is too long")
    if not text.strip() and not attachment and "lat" not in params:
        raise _VKError(100, INVALID + "message is empty or invalid")
    return text, attachment


def _dump(value: object) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


def _keyboard(raw: str | None) -> _Board | None:
    """A keyboard checked as VK checks it: error 911 "Keyboard format is invalid" with the reason."""
    if not raw:
        return None

    def invalid(reason: str) -> _VKError:
        return _VKError(911, f"Keyboard format is invalid: {reason}")

    try:
        board = json.loads(raw)
    except ValueError:
        raise invalid("not JSON") from None
    if not isinstance(board, dict) or not isinstance(board.get("buttons"), list):
        raise invalid("buttons is required and must be an array of rows")
    inline, one_time = board.get("inline", False), board.get("one_time", False)
    if not isinstance(inline, bool) or not isinstance(one_time, bool):
        raise invalid("inline and one_time must be booleans")
    if inline and one_time:
        raise invalid("one_time is not allowed for an inline keyboard")
    max_rows, max_buttons = BOARD_LIMITS[inline]
    if len(board["buttons"]) > max_rows:
        raise invalid(f"at most {max_rows} rows allowed")
    buttons: list[list[tuple[str, str]]] = []
    kinds: list[str] = []
    for row in board["buttons"]:
        if not isinstance(row, list) or not row:
            raise invalid("a row must be a non-empty array of buttons")
        if len(row) > MAX_IN_ROW:
            raise invalid(f"at most {MAX_IN_ROW} buttons in a row allowed")
        buttons.append([])
        for button in row:
            action = button.get("action") if isinstance(button, dict) else None
            if not isinstance(action, dict) or action.get("type") not in BUTTON_KINDS:
                raise invalid(f"button action type must be one of {sorted(BUTTON_KINDS)}")
            label = action.get("label", "")
            if action["type"] in LABELLED and not (isinstance(label, str) and 0 < len(label) <= MAX_LABEL):
                raise invalid(f"button label must be 1..{MAX_LABEL} characters")
            payload = action.get("payload", "")
            if not isinstance(payload, str):
                payload = _dump(payload)  # VK takes an object too (vkbottle sends one) and gives it back as a string
            elif payload:
                try:
                    json.loads(payload)
                except ValueError:
                    raise invalid("button payload must be JSON") from None
            if len(payload) > MAX_PAYLOAD:
                raise invalid(f"button payload is longer than {MAX_PAYLOAD} characters")
            if "color" in button and button["color"] not in COLORS:
                raise invalid(f"button color must be one of {sorted(COLORS)}")
            buttons[-1].append((str(label), payload))
            kinds.append(action["type"])
    if len(kinds) > max_buttons:
        raise invalid(f"at most {max_buttons} buttons allowed")
    return _Board(buttons, kinds, inline, one_time)
