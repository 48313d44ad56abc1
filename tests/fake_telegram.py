"""A fake Telegram Bot API on 127.0.0.1 for tests and benchmarks: scripted updates in, every call recorded.

Besides private chats and groups it keeps forum supergroups (`Chat(..., is_forum=True)`) as the Bot API has them:
topics the bot creates, edits, closes and reopens, each opened by a `forum_topic_created` service message whose id
is the topic's `message_thread_id`; messages, photos, albums and locations sent into a topic; and staff writing in a
topic or pressing the buttons of a message there, as scripted updates."""

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
    "setMyCommands setWebhook deleteWebhook "
    "sendMediaGroup sendLocation editMessageReplyMarkup getChatMember "
    "createForumTopic editForumTopic closeForumTopic reopenForumTopic getForumTopicIconStickers".split()
)
# The calls Telegram counts against its sending limits: each message they post (a topic's creation posts one, an
# album one per item).
SENDING = frozenset({"sendMessage", "sendPhoto", "sendMediaGroup", "sendLocation", "createForumTopic"})
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
# Forum topics: the icon colors Telegram allows (the first is what it picks when none is given), the longest name it
# keeps (a longer one is cut), and the most items of an album.
TOPIC_COLORS = (0x6FB9F0, 0xFFD67E, 0xCB86DB, 0x8EEE98, 0xFF93B2, 0xFB6F5F)
TOPIC_NAME_LENGTH = 128
ALBUM_LIMIT = 10
# What getChatMember can say of someone: a chat's creator, an administrator, a member, one who left or was banned.
MEMBER_STATUSES = frozenset({"creator", "administrator", "member", "left", "kicked"})
# The rights getChatMember gives an administrator: all an administrator of a forum can have but promoting others.
ADMIN_RIGHTS = (
    "can_manage_chat can_delete_messages can_manage_video_chats can_restrict_members can_change_info "
    "can_invite_users can_post_stories can_edit_stories can_delete_stories can_pin_messages can_manage_topics "
    "can_send_welcome_messages"
).split()
BOT_USER = {"id": BOT_ID, "is_bot": True, "first_name": "Приёмная", "username": BOT_USERNAME}
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
    """A message of the bot as the resident sees it: its text, inline buttons as (label, payload), edits.

    In a forum it has the topic it was posted in (`thread_id`; None: the General topic, or a chat without topics).
    A photo has the file_id or URL it was sent as in `photos` and its caption as `text`, an album item likewise
    (with the `media_group_id` the items of one album share), a location its (latitude, longitude) and `text` "".
    `reply_to` is the message it explicitly replies to (not the topic's opening message every topic message
    implicitly answers)."""

    message_id: int
    text: str
    buttons: list[list[tuple[str, str]]]
    edits: int = 0
    thread_id: int | None = None
    photos: list[str] = field(default_factory=list)
    location: tuple[float, float] | None = None
    reply_to: int | None = None
    media_group_id: str | None = None

    @property
    def labels(self) -> list[str]:
        return [label for row in self.buttons for label, _ in row]


@dataclass
class Topic:
    """A forum topic the bot created, as it is now: name and icon after any edits, whether it is closed, and the
    bot's messages in it in order (the same `Shown` objects as in `chats`). Its `message_thread_id` is the id of the
    service message (`forum_topic_created`) that opened it, as in Telegram; that message is not among `messages`."""

    message_thread_id: int
    name: str
    icon_color: int = TOPIC_COLORS[0]
    icon_custom_emoji_id: str | None = None
    closed: bool = False
    edits: int = 0  # editForumTopic calls that changed the name or icon
    messages: list[Shown] = field(default_factory=list)


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
    is_forum: bool = False  # a supergroup with topics turned on: only a supergroup can be one

    def __post_init__(self) -> None:
        if self.type not in CHAT_TYPES:
            raise ValueError(f"chat type must be one of {sorted(CHAT_TYPES)}, not {self.type!r}")
        if self.is_forum and self.type != "supergroup":
            raise ValueError(f"only a supergroup can be a forum, not a {self.type}")

    def as_json(self) -> dict[str, Any]:
        chat: dict[str, Any] = {"id": self.id, "type": self.type}
        if self.title is not None:
            chat["title"] = self.title
        if self.is_forum:
            chat["is_forum"] = True
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
    group_window: float = GROUP_WINDOW  # a test may scale Telegram's minute down, keeping the count
    throttled: int = 0  # 429s answered because of the limits above
    revoked: set[str] = field(default_factory=set)  # tokens Telegram answers 401 Unauthorized, as a revoked one
    dropped_holds: int = 0  # held calls whose client went away (the bot was killed) before the release
    sent_at: list[float] = field(default_factory=list)  # loop time of every message let through the limits
    calls: list[Call] = field(default_factory=list)
    chats: dict[int, list[Shown]] = field(default_factory=lambda: defaultdict(list))
    topics: dict[int, list[Topic]] = field(default_factory=lambda: defaultdict(list))  # by chat, in creation order
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
    _members: dict[int, dict[int, str]] = field(default_factory=lambda: defaultdict(dict))  # chat -> user -> status
    _roots: dict[tuple[int, int], dict[str, Any]] = field(default_factory=dict)  # (chat, thread) -> its opening
    _posted: dict[tuple[int, int], dict[str, Any]] = field(default_factory=dict)  # people's messages in forums
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

    def add_chat(self, chat: Chat) -> None:
        """Make `chat` known before anyone writes there, e.g. the staff's forum the bot creates topics in."""
        self._known_chats[chat.id] = chat

    def set_member(self, chat: Chat, who: User | int, status: str) -> None:
        """What getChatMember says of `who` (a User, or a user id such as BOT_ID) in `chat`: "creator",
        "administrator", "member", "left" or "kicked". Unless set, the bot is an administrator of a forum (as it must
        be to manage topics) and a member of other groups; a user is a member of a group once they have written in
        it, else "left". A bot that is not an administrator of a forum cannot create topics, nor post in a closed
        one."""
        if status not in MEMBER_STATUSES:
            raise ValueError(f"status must be one of {sorted(MEMBER_STATUSES)}, not {status!r}")
        self._known_chats[chat.id] = chat
        if isinstance(who, User):
            self._users[who.id] = who
        self._members[chat.id][who.id if isinstance(who, User) else who] = status

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
        thread_id: int | None = None,
        reply_to: Shown | dict[str, Any] | None = None,
        attachment: dict[str, Any] | None = None,
    ) -> dict[str, Any]:
        """A message from `user` in their private chat with the bot, or in `chat`. With `sender_chat` it was sent
        on behalf of a channel or of the group itself (an anonymous admin): `from` is then Telegram's stand-in user.
        In a chat of type "channel" it is a channel post: no `from`, the channel is the sender.

        In a forum `chat`, `thread_id` puts it in that topic (one the bot created): like Telegram, it then carries
        `message_thread_id`, `is_topic_message` and, as `reply_to_message`, the topic's opening service message,
        unless it replies to `reply_to`, a message of the bot or an earlier update of this method's (whose topic it
        then lands in, if no `thread_id`)."""
        self._users[user.id] = user
        message: dict[str, Any] = {"message_id": next(self._message_ids), "date": int(time.time())}
        if chat is None:
            message["chat"] = {"id": user.id, "type": "private", "first_name": user.first_name}
        else:
            self._known_chats[chat.id] = chat
            message["chat"] = chat.as_json()
            if chat.type in ("group", "supergroup") and sender_chat is None:
                self._members[chat.id].setdefault(user.id, "member")
        if thread_id is None and reply_to is not None:
            thread_id = (
                reply_to.thread_id if isinstance(reply_to, Shown) else reply_to["message"].get("message_thread_id")
            )
        if thread_id is not None:
            if chat is None or not chat.is_forum:
                raise ValueError("only a forum chat has topics: pass chat=Chat(..., is_forum=True)")
            self.topic(chat.id, thread_id)  # there is such a topic
            message["message_thread_id"], message["is_topic_message"] = thread_id, True
            message["reply_to_message"] = self._roots[chat.id, thread_id]
        if isinstance(reply_to, Shown):
            message["reply_to_message"] = self._shown_json(user.id if chat is None else chat.id, reply_to, nested=True)
        elif reply_to is not None:  # a person's message: nested as Telegram does, without its own reply
            message["reply_to_message"] = {k: v for k, v in reply_to["message"].items() if k != "reply_to_message"}
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
        message.update(attachment or {})  # e.g. {"voice": {...}}, as Telegram describes one
        if chat is not None and chat.is_forum:  # the bot may reply to it: a reply lands in its topic
            self._posted[chat.id, message["message_id"]] = message
        return {"channel_post" if chat is not None and chat.type == "channel" else "message": message}

    def callback_update(self, user: User, shown: Shown, payload: str, *, chat: Chat | None = None) -> dict[str, Any]:
        """`user` pressed a button of `shown`, a message of the bot in their private chat, or in `chat`: the
        callback's `message` is `shown` as Telegram describes it, in a forum with its topic (`message_thread_id`,
        `is_topic_message`)."""
        self._users[user.id] = user
        if chat is not None:
            self._known_chats[chat.id] = chat
        return {
            "callback_query": {
                "id": f"cq{next(self._message_ids)}",
                "from": user.as_json(),
                "chat_instance": "1",
                "data": payload,
                "message": self._shown_json(user.id if chat is None else chat.id, shown),
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

    def topic(self, chat_id: int, message_thread_id: int) -> Topic:
        """The topic the bot created in the forum `chat_id` with this id; KeyError if there is none."""
        for topic in self.topics.get(chat_id, ()):
            if topic.message_thread_id == message_thread_id:
                return topic
        raise KeyError(f"no topic {message_thread_id} in chat {chat_id}")

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
        if request.match_info["token"] in self.revoked:
            return _error(401, "Unauthorized")
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
        if method in SENDING:  # checked before the limits, which count only what would be sent
            refusal = self._check(method, params)
            if refusal is not None:
                return _ok(refusal)
            if (wait := self._throttle(int(params["chat_id"]), _items(method, params))) > 0:
                self.throttled += 1
                seconds = max(1, math.ceil(wait))  # Telegram says whole seconds
                return _error(429, f"Too Many Requests: retry after {seconds}", seconds)
        return _ok(self._answer(method, params))

    def _throttle(self, chat_id: int, messages: int = 1) -> float:
        """How long these `messages` (one call: a message, or an album's items) should have waited for the sending
        limits (0: they may go now, and are counted)."""
        now = asyncio.get_running_loop().time()
        window = self._window
        while window and window[0] <= now - 1.0:
            window.popleft()
        wait = 0.0
        if self.rate_limit is not None:
            wait = _wait_for_room(window, math.ceil(self.rate_limit), messages, 1.0, now)
        last = self._last_to_chat.get(chat_id)
        if self.chat_interval is not None and last is not None and now - last < self.chat_interval:
            wait = max(wait, last + self.chat_interval - now)
        per_minute = self.group_per_minute
        group = self._to_group[chat_id] if per_minute is not None and chat_id < 0 else None
        if group is not None and per_minute is not None:
            while group and group[0] <= now - self.group_window:
                group.popleft()
            wait = max(wait, _wait_for_room(group, per_minute, messages, self.group_window, now))
        if wait > 0:
            return wait
        if self.rate_limit is not None:
            window.extend([now] * messages)
        if self.chat_interval is not None:
            self._last_to_chat[chat_id] = now
        if group is not None:
            group.extend([now] * messages)
        self.sent_at.extend([now] * messages)
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

    def _check(self, method: str, params: dict[str, Any]) -> _Refusal | None:
        """Why Telegram would refuse this sending call before posting anything, if it would."""
        chat_id = int(params["chat_id"])
        if method == "createForumTopic":
            if not self._is_forum(chat_id):
                return _Refusal("Bad Request: the chat is not a forum")
            if self._status(chat_id, BOT_ID) not in ("creator", "administrator"):
                return _Refusal("Bad Request: not enough rights to create a topic")
            if not _topic_name(params.get("name")):
                return _Refusal("Bad Request: title must be non-empty")
            color = params.get("icon_color")
            if color is not None and not 0 <= int(color) <= 0xFFFFFF:
                return _Refusal("Bad Request: invalid icon color specified")
            return None
        if method == "sendMessage" and not params.get("text"):
            return _Refusal("Bad Request: message text is empty")
        if method == "sendPhoto" and not params.get("photo"):
            return _Refusal('Bad Request: parameter "photo" is required')
        if method == "sendMediaGroup":
            media = params.get("media")
            if media is None:
                return _Refusal('Bad Request: parameter "media" is required')
            if not isinstance(media, list) or not media:
                return _Refusal("Bad Request: there are no messages to send")
            if len(media) > ALBUM_LIMIT:
                return _Refusal("Bad Request: too many messages to send as an album")
        placement = self._placement(chat_id, params)
        return placement if isinstance(placement, _Refusal) else None

    def _answer(self, method: str, params: dict[str, Any]) -> object:
        if method == "getMe":
            return dict(BOT_USER)
        if method in ("sendMessage", "sendPhoto", "sendLocation"):
            return self._shown_json(int(params["chat_id"]), self._post(method, params))
        if method == "sendMediaGroup":
            return self._send_album(params)
        if method in ("editMessageText", "editMessageReplyMarkup"):
            return self._edit(method, params)
        if method == "getFile":
            file_id = params["file_id"]
            return {"file_id": file_id, "file_unique_id": f"u{file_id}", "file_path": f"photos/{file_id}.jpg"}
        if method == "getChatMember":
            return self._member_json(int(params["chat_id"]), int(params["user_id"]))
        if method == "createForumTopic":
            return self._create_topic(params)
        if method in ("editForumTopic", "closeForumTopic", "reopenForumTopic"):
            return self._change_topic(method, params)
        if method == "getForumTopicIconStickers":
            return []
        return True

    def _post(self, method: str, params: dict[str, Any], **extra: Any) -> Shown:
        """Post a message of the bot (its checks passed) where `params` say: in a topic, as a reply."""
        chat_id = int(params["chat_id"])
        placement = self._placement(chat_id, params)
        assert not isinstance(placement, _Refusal), "checked before"
        thread_id, reply_to = placement
        shown = Shown(next(self._message_ids), params.get("text", ""), _buttons(params.get("reply_markup")), **extra)
        shown.thread_id, shown.reply_to = thread_id, reply_to
        if method == "sendPhoto":
            shown.photos, shown.text = [params["photo"]], params.get("caption", "")
        elif method == "sendLocation":
            shown.location = (float(params["latitude"]), float(params["longitude"]))
        self.chats[chat_id].append(shown)
        if thread_id is not None:
            self.topic(chat_id, thread_id).messages.append(shown)
        return shown

    def _send_album(self, params: dict[str, Any]) -> list[dict[str, Any]]:
        """An album: one photo message per item, sharing a `media_group_id`; a single item is sent as an ordinary
        message, outside any album, as Telegram does. Items other than photos keep only their caption here."""
        chat_id, media = int(params["chat_id"]), params["media"]
        group = f"album{next(self._message_ids)}" if len(media) > 1 else None
        sent = []
        for item in media:
            shown = self._post("sendMediaGroup", {**params, "reply_markup": None}, media_group_id=group)
            shown.text = item.get("caption", "")
            if item.get("type", "photo") == "photo":
                shown.photos = [item["media"]]
            sent.append(self._shown_json(chat_id, shown))
        return sent

    def _edit(self, method: str, params: dict[str, Any]) -> object:
        chat_id, message_id = int(params["chat_id"]), int(params["message_id"])
        earlier = next((s for s in self.chats[chat_id] if s.message_id == message_id), None)
        if earlier is None:
            return _Refusal("Bad Request: message to edit not found")
        text = params["text"] if method == "editMessageText" else earlier.text
        if method == "editMessageText" and (earlier.photos or earlier.location is not None):
            return _Refusal("Bad Request: there is no text in the message to edit")
        buttons = _buttons(params.get("reply_markup"))
        if (earlier.text, earlier.buttons) == (text, buttons):
            return _Refusal("Bad Request: message is not modified")
        earlier.text, earlier.buttons, earlier.edits = text, buttons, earlier.edits + 1
        return self._shown_json(chat_id, earlier)

    def _placement(self, chat_id: int, params: dict[str, Any]) -> _Refusal | tuple[int | None, int | None]:
        """The topic (None: none) a message to `chat_id` lands in, and the message it replies to, as Telegram finds
        them: `message_thread_id` must be a topic of the forum; without it a reply lands in the topic of the
        message it replies to. In a forum the replied message must exist, unless `allow_sending_without_reply`
        (elsewhere residents' messages are unknown here, and any id is taken). Only an administrator posts in a
        closed topic."""
        thread_id = _optional_int(params.get("message_thread_id"))
        topic = None
        if thread_id is not None:
            topic = next((t for t in self.topics.get(chat_id, ()) if t.message_thread_id == thread_id), None)
            if topic is None or not self._is_forum(chat_id):
                return _Refusal("Bad Request: message thread not found")
        reply = params.get("reply_parameters")
        reply = reply if isinstance(reply, dict) else {}
        reply_to = _optional_int(reply.get("message_id", params.get("reply_to_message_id")))
        allowed = reply.get("allow_sending_without_reply", params.get("allow_sending_without_reply")) is True
        if reply_to is not None and self._is_forum(chat_id):
            found, replied_thread = self._thread_of(chat_id, reply_to)
            if not found and not allowed:
                return _Refusal("Bad Request: message to be replied not found")
            if not found:
                reply_to = None
            elif thread_id is None and replied_thread is not None:
                thread_id = replied_thread
                topic = self.topic(chat_id, thread_id)
        if topic is not None and topic.closed and self._status(chat_id, BOT_ID) not in ("creator", "administrator"):
            return _Refusal("Bad Request: TOPIC_CLOSED")
        return thread_id, reply_to

    def _thread_of(self, chat_id: int, message_id: int) -> tuple[bool, int | None]:
        """Whether the forum `chat_id` has this message, and the topic it is in."""
        if (chat_id, message_id) in self._roots:
            return True, message_id
        if (posted := self._posted.get((chat_id, message_id))) is not None:
            return True, posted.get("message_thread_id")
        shown = next((s for s in self.chats.get(chat_id, ()) if s.message_id == message_id), None)
        return shown is not None, None if shown is None else shown.thread_id

    # Forum topics

    def _create_topic(self, params: dict[str, Any]) -> dict[str, Any]:
        """A new topic, opened by a service message whose id becomes the topic's id (the bot gets no update about
        it, its own message)."""
        chat_id = int(params["chat_id"])
        color = int(params.get("icon_color", TOPIC_COLORS[0]))
        topic = Topic(next(self._message_ids), _topic_name(params["name"]), color, params.get("icon_custom_emoji_id"))
        self.topics[chat_id].append(topic)
        created = _topic_json(topic)
        del created["message_thread_id"]
        root = self._message_json(chat_id, topic.message_thread_id, None)
        root.update(message_thread_id=topic.message_thread_id, forum_topic_created=created, is_topic_message=True)
        self._roots[chat_id, topic.message_thread_id] = root
        return _topic_json(topic)

    def _change_topic(self, method: str, params: dict[str, Any]) -> object:
        """Rename, re-icon, close or reopen a topic. Telegram posts a service message for each change (its id is
        used up here, the message is not kept); a change that changes nothing is refused, except an edit that
        names no change at all, which TDLib answers True without asking Telegram."""
        chat_id, thread_id = int(params["chat_id"]), _optional_int(params.get("message_thread_id"))
        if not self._is_forum(chat_id):
            return _Refusal("Bad Request: the chat is not a forum")
        topic = next((t for t in self.topics.get(chat_id, ()) if t.message_thread_id == thread_id), None)
        if topic is None:
            return _Refusal("Bad Request: TOPIC_ID_INVALID")
        if method == "editForumTopic":
            name, icon = params.get("name"), params.get("icon_custom_emoji_id")
            if not name and icon is None:
                return True
            new_name = _topic_name(name) if name else topic.name
            new_icon = (icon or None) if icon is not None else topic.icon_custom_emoji_id
            if (new_name, new_icon) == (topic.name, topic.icon_custom_emoji_id):
                return _Refusal("Bad Request: TOPIC_NOT_MODIFIED")
            topic.name, topic.icon_custom_emoji_id, topic.edits = new_name, new_icon, topic.edits + 1
        else:
            closed = method == "closeForumTopic"
            if topic.closed == closed:
                return _Refusal("Bad Request: TOPIC_NOT_MODIFIED")
            topic.closed = closed
        next(self._message_ids)  # the service message about the change
        return True

    def _is_forum(self, chat_id: int) -> bool:
        chat = self._known_chats.get(chat_id)
        return chat is not None and chat.is_forum

    def _status(self, chat_id: int, user_id: int) -> str:
        """What getChatMember says of `user_id` in `chat_id` (see `set_member`)."""
        if (status := self._members.get(chat_id, {}).get(user_id)) is not None:
            return status
        if user_id == BOT_ID:
            return "administrator" if self._is_forum(chat_id) else "member"
        return "left"

    def _member_json(self, chat_id: int, user_id: int) -> dict[str, Any]:
        status = self._status(chat_id, user_id)
        if user_id == BOT_ID:
            user = dict(BOT_USER)
        elif (known := self._users.get(user_id)) is not None:
            user = known.as_json()
        else:
            user = {"id": user_id, "is_bot": False, "first_name": str(user_id)}
        member: dict[str, Any] = {"status": status, "user": user}
        if status == "creator":
            member["is_anonymous"] = False
        elif status == "administrator":
            member.update(
                dict.fromkeys(ADMIN_RIGHTS, True), can_promote_members=False, can_be_edited=False, is_anonymous=False
            )
        elif status == "kicked":
            member["until_date"] = 0
        return member

    async def _file(self, request: web.Request) -> web.Response:
        return web.Response(body=b"\xff\xd8\xff\xd9", content_type="image/jpeg")

    def _message_json(self, chat_id: int, message_id: int, text: str | None) -> dict[str, Any]:
        message: dict[str, Any] = {
            "message_id": message_id,
            "date": int(time.time()),
            "chat": self._chat_json(chat_id),
            "from": dict(BOT_USER),
        }
        if text is not None:
            message["text"] = text
        return message

    def _shown_json(self, chat_id: int, shown: Shown, *, nested: bool = False) -> dict[str, Any]:
        """A message of the bot as Telegram describes it: its text, or photo and caption, or location; its inline
        keyboard; in a topic `message_thread_id`, `is_topic_message` and, as `reply_to_message`, the message it
        replies to, else the topic's opening message. `nested`: as another message's `reply_to_message`, which
        Telegram gives without a `reply_to_message` of its own."""
        media = bool(shown.photos) or shown.location is not None
        message = self._message_json(chat_id, shown.message_id, None if media else shown.text)
        if shown.photos:
            message["photo"] = [_sent_photo(shown.photos[0], shown.message_id)]
            if shown.text:
                message["caption"] = shown.text
        if shown.location is not None:
            message["location"] = {"latitude": shown.location[0], "longitude": shown.location[1]}
        if shown.media_group_id is not None:
            message["media_group_id"] = shown.media_group_id
        if shown.buttons:
            message["reply_markup"] = {
                "inline_keyboard": [
                    [{"text": text, "callback_data": data} for text, data in row] for row in shown.buttons
                ]
            }
        if shown.thread_id is not None:
            message["message_thread_id"], message["is_topic_message"] = shown.thread_id, True
        if nested:
            return message
        replied = None if shown.reply_to is None else self._replied_json(chat_id, shown.reply_to)
        if replied is None and shown.thread_id is not None:
            replied = self._roots.get((chat_id, shown.thread_id))
        if replied is not None:
            message["reply_to_message"] = replied
        return message

    def _replied_json(self, chat_id: int, message_id: int) -> dict[str, Any] | None:
        """The message `message_id` of `chat_id` as a `reply_to_message`, if known here."""
        if (root := self._roots.get((chat_id, message_id))) is not None:
            return root
        if (posted := self._posted.get((chat_id, message_id))) is not None:
            return {key: value for key, value in posted.items() if key != "reply_to_message"}
        shown = next((s for s in self.chats.get(chat_id, ()) if s.message_id == message_id), None)
        return None if shown is None else self._shown_json(chat_id, shown, nested=True)

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


def _items(method: str, params: dict[str, Any]) -> int:
    """How many messages a sending call posts, as Telegram counts them against its limits."""
    return len(params["media"]) if method == "sendMediaGroup" else 1


def _wait_for_room(sent: deque[float], limit: int, messages: int, span: float, now: float) -> float:
    """How long until `messages` more fit among those `sent` (times, oldest first) in the last `span` s."""
    over = len(sent) + messages - limit
    if over <= 0:
        return 0.0
    oldest = sent[over - 1] if over <= len(sent) else (sent[-1] if sent else now - span)
    return oldest + span - now


def _optional_int(value: object) -> int | None:
    return None if value is None else int(str(value))


def _topic_name(name: object) -> str:
    """A topic's name as Telegram keeps it: trimmed, cut to TOPIC_NAME_LENGTH characters."""
    return str(name or "").strip()[:TOPIC_NAME_LENGTH]


def _topic_json(topic: Topic) -> dict[str, Any]:
    """A ForumTopic, as createForumTopic answers."""
    described: dict[str, Any] = {
        "message_thread_id": topic.message_thread_id,
        "name": topic.name,
        "icon_color": topic.icon_color,
    }
    if topic.icon_custom_emoji_id:
        described["icon_custom_emoji_id"] = topic.icon_custom_emoji_id
    return described


def _sent_photo(media: str, message_id: int) -> dict[str, Any]:
    """The PhotoSize Telegram answers for a photo the bot sent: a file_id it was sent as stays, an upload or a URL
    gets a new one."""
    file_id = f"sent{message_id}" if media.startswith(("attach://", "http://", "https://")) else media
    return {"file_id": file_id, "file_unique_id": f"u{file_id}", "width": 1280, "height": 1280}


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
