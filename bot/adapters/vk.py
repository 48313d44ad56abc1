"""VK through vkbottle 4: a community's messages in as `Incoming`, replies out with VK's keyboards; bots long poll
or the Callback API."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import hashlib
import json
import logging
import secrets
from collections import OrderedDict, deque
from collections.abc import Awaitable, Callable
from typing import Any, Protocol

import aiohttp
from aiohttp import ClientError, web
from vkbottle import API, VKAPIError
from vkbottle.http import AiohttpClient
from vkbottle.polling import BotPolling

from bot.config import VkSettings
from bot.core.delivery import DeliveryError, RecipientUnreachable, RetryLater, TokenRefused
from bot.core.intake import Deliver, Feed, Intake
from bot.core.layout import KeyboardLimits, lay_out, split_text
from bot.core.types import Button, ChatKind, Incoming, Keyboard, Location, Photo, Platform, Reply
from bot.core.waiting import uninterrupted, wait_for_event
from bot.notifier import SendLimiter
from bot.web import Endpoint

log = logging.getLogger(__name__)

TEXT_LIMIT = 4096  # characters in one message
PAYLOAD_LIMIT = 255  # characters of a button's payload (JSON)
INLINE = KeyboardLimits(rows=6, buttons=10, per_row=5, label=40)  # a keyboard under a message
REGULAR = KeyboardLimits(rows=10, buttons=40, per_row=5, label=40)  # a keyboard in place of the phone's keys
GROUP_CHATS_FROM = 2_000_000_000  # peer ids from here on are multi-user conversations
START = {"command": "start"}  # the payload of VK's «Начать» button, which opens a conversation with a community
POLL_WAIT = 25  # seconds one long poll request waits for news
MAX_IN_FLIGHT = 256  # updates handled at once in long poll mode; the rest wait at VK
KNOWN_CLIENTS = 50_000  # residents whose client's abilities are remembered

# VK's error codes: the resident cannot be written to (blocked the community, denied messages, deleted the
# account, privacy settings); VK asks to slow down (seconds to wait); an earlier message cannot be edited.
UNREACHABLE = frozenset({18, 900, 901, 902, 936})
SLOW_DOWN = {6: 1.0, 9: 10.0, 29: 60.0}
EDIT_IMPOSSIBLE = frozenset({15, 100, 909})
AUTHORIZATION_FAILED = 5


class Cursor(Protocol):
    """Where the long poll stream was handled up to, kept where a restart finds it."""

    async def load(self) -> str | None: ...

    async def save(self, position: str) -> None: ...


def make_api(settings: VkSettings) -> API:
    """A vkbottle API for the community token, on the configured API server, with a session of its own."""
    if settings.token is None:
        raise ValueError("no VK token configured")
    api = API(token=settings.token.get_secret_value(), http_client=AiohttpClient())
    api.API_URL = f"{settings.api_base}/method/"
    return api


class VkSender:
    """Shows a `Reply` in a VK chat: keyboards as the resident's client draws them, long texts split, cards edited
    in place; `send` is the notifier's `Sender`. Every API request waits for the community's rate limit."""

    platform: Platform = Platform.VK

    def __init__(self, api: API, limiter: SendLimiter | None, more_buttons: str) -> None:
        self.api = api
        self._limiter = limiter
        self._more_buttons = more_buttons
        self._callback_buttons: OrderedDict[str, bool] = OrderedDict()  # peer -> its client draws callback buttons
        self._denied: set[str] = set()  # residents who denied the community messages (message_deny)

    async def download(self, file_ref: str, limit: int) -> bytes:
        """A photo a resident sent, by the URL VK gave for it (`bot.media.Downloader`); at most `limit` bytes."""
        async with aiohttp.ClientSession() as session, session.get(file_ref) as response:
            response.raise_for_status()
            data = await response.content.read(limit)
        return data

    def learn_client(self, peer_id: str, client_info: dict[str, Any] | None) -> None:
        """Note what the resident's app can draw (`client_info` of their message): callback buttons in inline
        keyboards, or only a regular keyboard."""
        if client_info is None:
            return
        callback = bool(client_info.get("inline_keyboard")) and "callback" in client_info.get("button_actions", ())
        self._callback_buttons[peer_id] = callback
        self._callback_buttons.move_to_end(peer_id)
        if len(self._callback_buttons) > KNOWN_CLIENTS:
            self._callback_buttons.popitem(last=False)

    def reachable(self, user_id: str, allowed: bool) -> None:
        """The resident allowed (message_allow) or denied (message_deny) messages from the community."""
        if allowed:
            self._denied.discard(user_id)
        else:
            self._denied.add(user_id)

    async def send(self, chat_id: str, reply: Reply, send_id: int = 0) -> None:
        if chat_id in self._denied:
            raise RecipientUnreachable("the resident denied messages from the community")
        try:
            await self.show(chat_id, reply, send_id)
        except VKAPIError as exc:
            raise delivery_error(exc) from exc
        except (ClientError, ValueError) as exc:  # the network, or an answer that is not JSON
            raise DeliveryError(f"VK API request failed: {exc!r}") from exc

    async def show(self, chat_id: str, reply: Reply, send_id: int) -> None:
        """Send (or edit into) as many messages as the text and the keyboard need; buttons go under the last
        piece of text, and those that do not fit under one message follow under extra ones."""
        inline = self._callback_buttons.get(chat_id, True)  # today's VK apps draw them; an old one says otherwise
        pages = lay_out(sendable(reply.buttons), INLINE if inline else REGULAR)
        chunks = split_text(reply.text, TEXT_LIMIT)
        messages: list[tuple[str, Keyboard]] = [(chunk, ()) for chunk in chunks]
        if pages:
            messages[-1] = (chunks[-1], pages[0])
            messages += [(self._more_buttons, page) for page in pages[1:]]
        for index, (text, buttons) in enumerate(messages):
            keyboard = keyboard_json(buttons, inline)
            edit = reply.edit_message_id if index == 0 and inline else None
            if edit is not None and await self._edit(chat_id, edit, text, keyboard):
                continue
            params: dict[str, Any] = {
                "peer_id": int(chat_id),
                "random_id": random_id(send_id, index, text),
                "message": text,
                "dont_parse_links": 1,
            }
            if keyboard is not None:
                params["keyboard"] = keyboard
            await self.request("messages.send", params, chat_id)

    async def _edit(self, chat_id: str, message_id: str, text: str, keyboard: str | None) -> bool:
        """Edit an earlier message; False when it cannot be edited any more, so a new one is sent instead."""
        params: dict[str, Any] = {
            "peer_id": int(chat_id),
            "conversation_message_id": int(message_id),
            "message": text,
            "dont_parse_links": 1,
            "keyboard": keyboard or json.dumps({"buttons": [], "inline": True}),
        }
        try:
            await self.request("messages.edit", params, chat_id)
        except VKAPIError as exc:
            if exc.code not in EDIT_IMPOSSIBLE:
                raise
            log.info("message %s in chat %s cannot be edited (%s): sending a new one", message_id, chat_id, exc)
            return False
        return True

    async def request(self, method: str, params: dict[str, Any], chat_id: str = "") -> Any:
        """One API request, within the community's rate limit."""
        if self._limiter is not None:
            await self._limiter.acquire(chat_id)
        return (await self.api.request(method, params))["response"]


def delivery_error(exc: VKAPIError) -> DeliveryError:
    """What a VK error means for the message: the resident is unreachable, VK asks to wait, or try later."""
    if exc.code in UNREACHABLE:
        return RecipientUnreachable(f"VK error {exc.code}: {exc.error_msg}")
    if exc.code in SLOW_DOWN:
        return RetryLater(SLOW_DOWN[exc.code], f"(VK error {exc.code}: {exc.error_msg})")
    return DeliveryError(f"VK error {exc.code}: {exc.error_msg}")


def random_id(send_id: int, index: int, text: str) -> int:
    """VK's `random_id` for one piece of a message: the same for every try of it, so VK shows it once; 0 (no
    check) when the message has no send id."""
    if not send_id:
        return 0
    digest = hashlib.blake2b(f"{send_id}:{index}:{text}".encode(), digest_size=4).digest()
    return int.from_bytes(digest, "big") & 0x7FFFFFFF or 1


def sendable(buttons: Keyboard) -> Keyboard:
    """The buttons whose payload VK accepts; any other is left out, with an error logged."""
    rows = []
    for row in buttons:
        kept = []
        for button in row:
            if not button.payload or len(button_payload(button)) > PAYLOAD_LIMIT:
                log.error("button %r left out: its payload %r is empty or too long for VK", button.text, button.payload)
                continue
            kept.append(button)
        if kept:
            rows.append(tuple(kept))
    return tuple(rows)


def button_payload(button: Button) -> str:
    return json.dumps({"b": button.payload}, ensure_ascii=False, separators=(",", ":"))


def keyboard_json(buttons: Keyboard, inline: bool) -> str | None:
    """VK's keyboard: callback buttons under the message, or text buttons in place of the phone's keys for a
    client without inline keyboards (pressing one sends its label, with the payload)."""
    if not buttons:
        return None
    kind = "callback" if inline else "text"
    rows = [
        [{"action": {"type": kind, "label": button.text, "payload": button_payload(button)}} for button in row]
        for row in buttons
    ]
    keyboard: dict[str, Any] = {"inline": True, "buttons": rows} if inline else {"one_time": False, "buttons": rows}
    return json.dumps(keyboard, ensure_ascii=False, separators=(",", ":"))


class VkAdapter:
    """Receives a community's events by bots long poll or the Callback API, feeds them to the core, has the replies
    delivered; never stops on one event.

    As with Telegram, VK is told an event is done only once the core has committed it: in long poll mode the
    stream position (`ts`) stored for a restart never passes an event still in hand, and the Callback API is
    answered "ok" then. A re-delivered event (the same `event_id`) runs once.
    """

    def __init__(
        self,
        settings: VkSettings,
        feed: Feed,
        deliver: Deliver,
        cursor: Cursor,
        more_buttons: str,
        limiter: SendLimiter | None = None,
    ) -> None:
        assert settings.group_id is not None  # the config requires it with a token
        self.settings = settings
        self.group_id = settings.group_id
        self.api = make_api(settings)
        self.sender = VkSender(self.api, limiter, more_buttons)
        self._limiter = limiter
        self._intake: Intake[str] = Intake(Platform.VK.value, feed, deliver, self._show_typing)
        self._cursor = cursor
        self._slots = asyncio.Semaphore(MAX_IN_FLIGHT)
        self._batches: deque[tuple[str, list[str]]] = deque()  # (ts the batch was asked with, its event ids)
        self._stream_ts = ""  # the ts to ask the long poll with next
        self._saved_position: str | None = None
        self._names: OrderedDict[str, str] = OrderedDict()  # user id -> name, for greetings
        self._secret = settings.secret.get_secret_value().encode() if settings.secret else b""

    def endpoints(self) -> dict[str, Endpoint]:
        """What the bot's web server serves for VK: the Callback API, in callback mode."""
        return {self.settings.callback_path: self._on_callback} if self.settings.mode == "callback" else {}

    async def run(self, stop: asyncio.Event) -> None:
        """Receive and handle events until `stop` is set; then finish what is in hand and close the session."""
        try:
            if self.settings.mode == "callback":
                log.info("VK Callback API served at %s", self.settings.callback_path)
                await stop.wait()
            else:
                await self._poll_until(stop)
        finally:
            await self._intake.wait_idle()
            await self.api.http_client.close()

    def handle(self, event: dict[str, Any]) -> asyncio.Future[None] | None:
        """Start handling an event in its own task; returns a future done once the event is committed, or None
        for an event already seen (a re-delivery)."""
        key = str(event.get("event_id") or hashlib.sha1(json.dumps(event, sort_keys=True).encode()).hexdigest())
        return self._intake.begin(key, lambda: self._process(key, event))

    async def wait_idle(self) -> None:
        await self._intake.wait_idle()

    # Receiving: bots long poll

    async def _poll_until(self, stop: asyncio.Event) -> None:
        polling = Polling(self.api, self.group_id, POLL_WAIT, self._limiter)
        server = await self._softly_forever(polling.get_server, stop)
        if server is None:
            return
        saved = await self._cursor.load()
        if saved is not None:
            log.info("VK long poll reads on from ts %s, where the bot stopped", saved)
            server["ts"] = saved
        self._stream_ts = str(server["ts"])
        saving = asyncio.create_task(self._save_progress())
        stopping = asyncio.create_task(stop.wait())
        delay = 0.5
        try:
            while not stop.is_set():
                try:
                    server = await self._next(polling, server, stopping)
                except VKAPIError as exc:
                    if exc.code == AUTHORIZATION_FAILED:
                        raise
                    error: Exception = exc
                except (ClientError, TimeoutError, ValueError) as exc:  # the network, or an answer not JSON
                    error = exc
                else:
                    delay = 0.5
                    continue
                # The server and its ts are kept: a fresh server would start after the events waiting at VK.
                log.warning("VK long poll failed (%r); trying again in %g s", error, delay)
                await wait_for_event(stop, delay)
                delay = min(delay * 2, 30.0)
        finally:
            stopping.cancel()
            await self._intake.wait_idle()
            saving.cancel()
            await asyncio.gather(saving, return_exceptions=True)
            await self._save_position()

    async def _next(self, polling: Polling, server: dict[str, Any], stopping: asyncio.Task[Any]) -> dict[str, Any]:
        """Ask for the next events and start handling them; returns the server to ask next time."""
        asking = asyncio.create_task(polling.get_event(server))
        await asyncio.wait({asking, stopping}, return_when=asyncio.FIRST_COMPLETED)
        if not asking.done():  # stopping
            asking.cancel()
            await asyncio.wait({asking})
            return server
        answer = asking.result()
        if "failed" in answer:  # VK's long poll: 1 history outdated, 2 key expired, 3 information lost
            if answer["failed"] == 1:
                log.warning("VK long poll: events before ts %s are no longer kept; some were lost", answer.get("ts"))
            return await polling.handle_failed_event(server, answer) or await polling.get_server()
        if "ts" not in answer:
            raise ValueError(f"unexpected long poll answer: {answer!r}"[:200])
        await self._take(str(server["ts"]), answer.get("updates") or [])
        server["ts"] = self._stream_ts = str(answer["ts"])
        return server

    async def _take(self, asked_with: str, updates: list[dict[str, Any]]) -> None:
        """Start the events of one long poll answer, remembering them until they are committed."""
        keys = []
        for update in updates:
            await self._slots.acquire()
            committed = self.handle(update)
            if committed is None:
                self._slots.release()
                continue
            keys.append(str(update.get("event_id")))
        self._batches.append((str(asked_with), keys))

    def _position(self) -> str:
        """Where a restart must read on from: the start of the oldest answer with an event still in hand."""
        in_hand = self._intake.in_hand
        while self._batches and not any(key in in_hand for key in self._batches[0][1]):
            self._batches.popleft()
        return self._batches[0][0] if self._batches else self._stream_ts

    async def _save_progress(self) -> None:
        """Store the position whenever events were committed (at most a few times a second)."""
        while True:
            await self._intake.progress.wait()
            self._intake.progress.clear()
            await uninterrupted(self._save_position())
            await asyncio.sleep(0.2)

    async def _save_position(self) -> None:
        position = self._position()
        if position == self._saved_position:
            return
        try:
            await self._cursor.save(position)
        except Exception as exc:  # the database may be away: the next save catches up
            log.warning("VK long poll position not stored (%s); events after it may be delivered again", exc)
            return
        self._saved_position = position

    async def _softly_forever(
        self, call: Callable[[], Awaitable[dict[str, Any]]], stop: asyncio.Event
    ) -> dict[str, Any] | None:
        """`call` until it succeeds (None if stopped first); only a refused token ends it."""
        delay = 0.5
        while not stop.is_set():
            try:
                return await call()
            except VKAPIError as exc:
                if exc.code == AUTHORIZATION_FAILED:
                    raise TokenRefused(
                        "VK refused the community token (User authorization failed): check [vk] token and group_id "
                        "in bot.toml or PRIEMNAYA_VK_TOKEN, PRIEMNAYA_VK_GROUP_ID"
                    ) from exc
                error: Exception = exc
            except (ClientError, TimeoutError, ValueError) as exc:
                error = exc
            log.warning("VK long poll server not reached (%s); trying again in %g s", error, delay)
            await wait_for_event(stop, delay)
            delay = min(delay * 2, 30.0)
        return None

    # Receiving: the Callback API

    async def _on_callback(self, request: web.Request) -> web.Response:
        try:
            event = await request.json()
        except ValueError:
            return web.Response(status=400, text="not JSON")
        if not isinstance(event, dict) or event.get("group_id") != self.group_id:
            return web.Response(status=403, text="wrong community")
        if event.get("type") == "confirmation":
            return web.Response(text=self.settings.confirmation or "")
        if not secrets.compare_digest(str(event.get("secret", "")).encode(), self._secret):
            return web.Response(status=403, text="wrong secret")
        committed = self.handle(event)
        if committed is not None:  # answer once committed, so an event is never acknowledged and then lost
            await asyncio.shield(committed)
        return web.Response(text="ok")

    # Handling one event

    async def _process(self, key: str, event: dict[str, Any]) -> None:
        kind, body = event.get("type"), event.get("object") or {}
        try:
            if kind == "message_new":
                await self._on_message(key, body)
            elif kind == "message_event":
                await self._on_button(key, body)
            elif kind in ("message_allow", "message_deny"):
                self.sender.reachable(str(body.get("user_id")), kind == "message_allow")
                log.debug("VK resident %s %s messages", body.get("user_id"), kind.removeprefix("message_") + "ed")
        except VKAPIError as exc:
            log.warning("VK event %s: %s", key, exc)
        finally:
            if self.settings.mode == "longpoll":
                self._slots.release()  # taken by `_take` before it started this event

    async def _on_message(self, key: str, body: dict[str, Any]) -> None:
        message = body.get("message") or {}
        self.sender.learn_client(str(message.get("peer_id")), body.get("client_info"))
        incoming = message_incoming(message, self.group_id, key)
        if incoming is None:
            return
        if incoming.command is not None and incoming.command[0] == "start" and incoming.chat_kind is ChatKind.PRIVATE:
            incoming = dataclasses.replace(incoming, display_name=await self._name(incoming.user_id))
        await self._intake.answer(key, incoming)

    async def _on_button(self, key: str, body: dict[str, Any]) -> None:
        answer = {"event_id": body.get("event_id"), "user_id": body.get("user_id"), "peer_id": body.get("peer_id")}
        answering = asyncio.ensure_future(  # stops the button's spinner
            self.sender.request("messages.sendMessageEventAnswer", answer, str(body.get("peer_id")))
        )
        try:
            incoming = event_incoming(body, key)
            if incoming is not None:
                await self._intake.answer(key, incoming)
        finally:
            try:
                await answering
            except (VKAPIError, ClientError, ValueError) as exc:
                log.info("could not answer VK button press %s: %s", body.get("event_id"), exc)

    async def _name(self, user_id: str) -> str | None:
        """The resident's name, for the greeting (VK's messages do not carry it)."""
        if user_id not in self._names:
            try:
                [user] = await self.sender.request("users.get", {"user_ids": user_id}, user_id)
            except (VKAPIError, ClientError, ValueError) as exc:
                log.debug("VK user %s: name not known (%s)", user_id, exc)
                return None
            self._names[user_id] = " ".join(filter(None, (user.get("first_name"), user.get("last_name"))))
            if len(self._names) > KNOWN_CLIENTS:
                self._names.popitem(last=False)
        return self._names[user_id] or None

    async def _show_typing(self, chat_id: str) -> None:
        with contextlib.suppress(VKAPIError, ClientError, ValueError):  # a nicety: the reply reports any trouble
            await self.sender.request("messages.setActivity", {"peer_id": int(chat_id), "type": "typing"}, chat_id)


class Polling(BotPolling):
    """vkbottle's bots long poll, minus its state file in the working directory (the adapter keeps the position
    in the database, and only once events are committed), asking for its server within the community's rate
    limit (the long poll requests themselves are not API methods and do not count)."""

    def __init__(self, api: API, group_id: int, wait: int, limiter: SendLimiter | None) -> None:
        super().__init__(api, group_id, wait)
        self._limiter = limiter

    async def get_server(self) -> dict[str, Any]:
        if self._limiter is not None:
            await self._limiter.acquire("")
        return await super().get_server()

    def save_server_ts(self, server: dict[str, Any]) -> None:
        """Never written here (see `VkAdapter._save_position`)."""


def message_incoming(message: dict[str, Any], group_id: int, event_id: str) -> Incoming | None:
    """A message: text, a command (VK's «Начать» button), a button of a regular keyboard (its payload), photos at
    their largest size, or a place; with where it was written."""
    user_id, peer_id = message.get("from_id"), message.get("peer_id")
    if not isinstance(user_id, int) or user_id <= 0 or not isinstance(peer_id, int):  # a community's own message
        return None
    payload = parse_payload(message.get("payload"))
    text: str | None = message.get("text") or None
    button: str | None = None
    if payload == START:
        text = "/start"
    elif isinstance(payload, dict) and isinstance(payload.get("b"), str):
        button, text = payload["b"], None
    photos = tuple(Photo(url) for url in map(largest_photo, message.get("attachments") or ()) if url)
    coordinates = (message.get("geo") or {}).get("coordinates") or {}
    location = None
    if "latitude" in coordinates and "longitude" in coordinates:
        location = Location(float(coordinates["latitude"]), float(coordinates["longitude"]))
    group_chat = peer_id >= GROUP_CHATS_FROM
    kinds = [UNSUPPORTED.get(str(attachment.get("type"))) for attachment in message.get("attachments") or ()]
    return Incoming(
        platform=Platform.VK,
        user_id=str(user_id),
        chat_id=str(peer_id),
        text=text,
        payload=button,
        photos=photos,
        location=location,
        unsupported=next((kind for kind in kinds if kind), None),
        # A regular keyboard's button belongs to no message, so nothing is edited in reply to it.
        message_id=None if button is not None else str(message.get("conversation_message_id")),
        update_id=event_id,
        chat_kind=ChatKind.GROUP if group_chat else ChatKind.PRIVATE,
        mentions_bot=bool(text) and f"[club{group_id}|" in (text or ""),
    )


# VK's attachments the bot does not take, by type, as `Incoming.unsupported` names them.
UNSUPPORTED = {
    "audio_message": "voice",
    "video": "video",
    "doc": "file",
    "sticker": "sticker",
    "graffiti": "sticker",
    "audio": "audio",
}


def event_incoming(body: dict[str, Any], event_id: str) -> Incoming | None:
    """A press of a callback button, with the message that carries it (to edit that message in reply)."""
    payload = body.get("payload")
    if not isinstance(payload, dict) or not isinstance(payload.get("b"), str):
        return None
    peer_id = int(body.get("peer_id", 0))
    return Incoming(
        platform=Platform.VK,
        user_id=str(body.get("user_id")),
        chat_id=str(peer_id),
        payload=payload["b"],
        message_id=str(body["conversation_message_id"]) if body.get("conversation_message_id") else None,
        update_id=event_id,
        chat_kind=ChatKind.GROUP if peer_id >= GROUP_CHATS_FROM else ChatKind.PRIVATE,
    )


def parse_payload(raw: object) -> object:
    if not isinstance(raw, str):
        return raw
    try:
        return json.loads(raw)
    except ValueError:
        return None


def largest_photo(attachment: dict[str, Any]) -> str | None:
    """The URL of a photo attachment's largest size (VK lists sizes in no promised order)."""
    if attachment.get("type") != "photo":
        return None
    photo = attachment.get("photo") or {}
    sizes = [*photo.get("sizes", ()), *([photo["orig_photo"]] if photo.get("orig_photo") else [])]
    sizes = [size for size in sizes if size.get("url")]
    if not sizes:
        return None
    return str(max(sizes, key=lambda size: size.get("width", 0) * size.get("height", 0))["url"])
