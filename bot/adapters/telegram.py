"""Telegram through aiogram 3: updates in as `Incoming`, replies out as plain-text messages; polling or webhook."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
from collections.abc import AsyncIterator, Awaitable, Mapping

from aiogram import Bot
from aiogram.client.session.aiohttp import AiohttpSession
from aiogram.client.telegram import TelegramAPIServer
from aiogram.exceptions import (
    AiogramError,
    TelegramAPIError,
    TelegramBadRequest,
    TelegramForbiddenError,
    TelegramRetryAfter,
    TelegramUnauthorizedError,
)
from aiogram.methods import AnswerCallbackQuery, EditMessageText, GetMe, GetUpdates, SendChatAction, SendMessage
from aiogram.methods.base import Response
from aiogram.types import (
    BotCommand,
    CallbackQuery,
    InlineKeyboardButton,
    InlineKeyboardMarkup,
    InputMediaPhoto,
    Message,
    Update,
)
from aiohttp import web
from pydantic import ValidationError

from bot.config import TelegramSettings
from bot.core.delivery import DeliveryError, RecipientUnreachable, RetryLater, TokenRefused
from bot.core.intake import Deliver, Feed, Intake
from bot.core.layout import split_text
from bot.core.types import ChatKind, Incoming, Keyboard, Location, Photo, Platform, Reply
from bot.core.waiting import wait_for_event
from bot.media import MediaRefused
from bot.web import Endpoint

log = logging.getLogger(__name__)

CHAT_KINDS = {"private": ChatKind.PRIVATE, "group": ChatKind.GROUP, "supergroup": ChatKind.GROUP}

ALLOWED_UPDATES = ["message", "callback_query"]
TEXT_LIMIT = 4096  # characters (UTF-16 code units) in one message
CALLBACK_DATA_LIMIT = 64  # bytes of a button's payload
CAPTION_LIMIT = 1024  # characters of a photo's caption
MAX_IN_FLIGHT = 256  # updates handled at once in polling mode; the rest wait at Telegram
WAIT_FOR_PROGRESS = 0.25  # seconds polling waits for the updates in hand to commit before asking again
POLL_TIMEOUT = 25  # seconds one getUpdates call waits for news
SECRET_HEADER = "X-Telegram-Bot-Api-Secret-Token"
EDIT_IMPOSSIBLE = ("message to edit not found", "message can't be edited", "message_id_invalid")
UNREACHABLE = ("chat not found", "user is deactivated", "bot was blocked", "bot was kicked")

# aiogram reads every answer as Response[<the method's result type>]. Pydantic keeps such classes only weakly, so
# after a garbage collection the next call builds the class again (1-4 ms each, dozens of times a minute under
# load). Holding the ones the bot uses keeps them built.
RESPONSE_TYPES = tuple(
    Response[method.__returning__]  # type: ignore[name-defined]
    for method in (GetUpdates, SendMessage, EditMessageText, AnswerCallbackQuery, SendChatAction, GetMe)
)


def make_bot(settings: TelegramSettings) -> Bot:
    """An aiogram bot on the configured Bot API server; no parse mode, so texts go out exactly as written."""
    if settings.token is None:
        raise ValueError("no Telegram token configured")
    session = AiohttpSession(api=TelegramAPIServer.from_base(settings.api_base))
    return Bot(settings.token.get_secret_value(), session=session)


class TelegramSender:
    """Shows a `Reply` in a chat; `send` is the notifier's `Sender`, with errors as `DeliveryError`s."""

    platform: Platform = Platform.TELEGRAM

    def __init__(self, bot: Bot) -> None:
        self.bot = bot

    async def send(self, chat_id: str, reply: Reply, send_id: int = 0) -> None:
        """Telegram has no way to drop a repeated send, so `send_id` is not used. A chat id "CHAT/THREAD" is a
        topic of a forum supergroup."""
        chat, _, thread = chat_id.partition("/")
        async with delivery_errors():
            await self.show(chat, reply, int(thread) if thread else None)

    async def show(self, chat_id: str, reply: Reply, thread_id: int | None = None) -> str:
        """Send (or edit into) as many messages as the text needs; the buttons go under the last one, whose id
        is returned."""
        chunks = split_text(reply.text, TEXT_LIMIT)
        markup = inline_keyboard(reply.buttons)
        edit = reply.edit_message_id
        last = ""
        for number, chunk in enumerate(chunks, start=1):
            buttons = markup if number == len(chunks) else None
            if number == 1 and edit is not None and await self._edit(chat_id, edit, chunk, buttons):
                last = edit
                continue
            sent = await self.bot.send_message(
                chat_id=chat_id, text=chunk, reply_markup=buttons, message_thread_id=thread_id
            )
            last = str(sent.message_id)
        return last

    # The staff group's forum topics (`bot.desk.StaffBoard`)

    async def create_topic(self, chat_id: str, name: str) -> int:
        async with delivery_errors():
            return (await self.bot.create_forum_topic(chat_id=chat_id, name=name)).message_thread_id

    async def rename_topic(self, chat_id: str, thread_id: int, name: str) -> None:
        async with delivery_errors():
            try:
                await self.bot.edit_forum_topic(chat_id=chat_id, message_thread_id=thread_id, name=name)
            except TelegramBadRequest as exc:
                if "TOPIC_NOT_MODIFIED" not in exc.message:
                    raise

    async def close_topic(self, chat_id: str, thread_id: int, closed: bool) -> None:
        async with delivery_errors():
            try:
                if closed:
                    await self.bot.close_forum_topic(chat_id=chat_id, message_thread_id=thread_id)
                else:
                    await self.bot.reopen_forum_topic(chat_id=chat_id, message_thread_id=thread_id)
            except TelegramBadRequest as exc:
                if "TOPIC_NOT_MODIFIED" not in exc.message:
                    raise

    async def post(self, chat_id: str, thread_id: int, reply: Reply) -> str:
        async with delivery_errors():
            return await self.show(chat_id, reply, thread_id)

    async def edit(self, chat_id: str, message_id: str, reply: Reply) -> bool:
        async with delivery_errors():
            return await self._edit(chat_id, message_id, reply.text, inline_keyboard(reply.buttons))

    async def post_photos(self, chat_id: str, thread_id: int, photos: list[str], caption: str) -> bool:
        """One photo, or an album of 2-10, each a Telegram file id or a URL Telegram fetches (VK's photos); False
        when Telegram cannot show them (an expired URL, a file id of another bot)."""
        caption = caption[:CAPTION_LIMIT]
        async with delivery_errors():
            try:
                if len(photos) == 1:
                    await self.bot.send_photo(chat_id, photos[0], caption=caption, message_thread_id=thread_id)
                else:
                    media = [
                        InputMediaPhoto(media=ref, caption=caption if i == 0 else None) for i, ref in enumerate(photos)
                    ]
                    await self.bot.send_media_group(chat_id, media, message_thread_id=thread_id)  # type: ignore[arg-type]
            except TelegramBadRequest as exc:
                log.warning("photos not shown in chat %s (%s)", chat_id, exc.message)
                return False
        return True

    async def download(self, file_ref: str, limit: int) -> bytes:
        """A photo a resident sent, by its file id (`bot.media.Downloader`); at most `limit` bytes."""
        async with delivery_errors():
            file = await self.bot.get_file(file_ref)
            if file.file_size is not None and file.file_size >= limit:
                raise MediaRefused(f"{file.file_size // 1_000_000} MB, more than the store takes")
            if file.file_path is None:
                raise DeliveryError(f"Telegram gave no path for file {file_ref}")
            buffer = await self.bot.download_file(file.file_path)
        assert buffer is not None
        return buffer.read(limit)

    async def post_place(self, chat_id: str, thread_id: int, latitude: float, longitude: float) -> None:
        async with delivery_errors():
            await self.bot.send_location(chat_id, latitude, longitude, message_thread_id=thread_id)

    async def _edit(self, chat_id: str, message_id: str, text: str, markup: InlineKeyboardMarkup | None) -> bool:
        """Edit an earlier message; False when it cannot be edited any more, so a new one is sent instead."""
        try:
            await self.bot.edit_message_text(
                text=text, chat_id=chat_id, message_id=int(message_id), reply_markup=markup
            )
        except TelegramBadRequest as exc:
            description = exc.message.lower()
            if "message is not modified" in description:  # it already shows exactly this
                return True
            if any(reason in description for reason in EDIT_IMPOSSIBLE):
                log.info("message %s in chat %s cannot be edited (%s): sending a new one", message_id, chat_id, exc)
                return False
            raise
        return True


@contextlib.asynccontextmanager
async def delivery_errors() -> AsyncIterator[None]:
    """Telegram's errors as the notifier's `DeliveryError`s."""
    try:
        yield
    except TelegramRetryAfter as exc:
        raise RetryLater(exc.retry_after, exc.message) from exc
    except TelegramAPIError as exc:
        if unreachable(exc):
            raise RecipientUnreachable(str(exc)) from exc
        raise DeliveryError(str(exc)) from exc


def unreachable(exc: TelegramAPIError) -> bool:
    """The resident blocked the bot, deleted their account, or the chat is gone."""
    return isinstance(exc, TelegramForbiddenError) or any(reason in exc.message.lower() for reason in UNREACHABLE)


class TelegramAdapter:
    """Receives updates by long polling or webhook, feeds them to the core, has the replies delivered; never stops
    on one update.

    Each update is handled in its own task, the updates of one resident in arrival order (the dispatcher queues
    them). Telegram is told an update is done only once the core has committed it: polling's offset never
    passes an update still in hand, and a webhook call is answered then; so a crash makes Telegram deliver the
    update again, and the core runs it once. On stop, receiving ends first, then the updates in hand are
    finished, Telegram is told, and the session closes.
    """

    def __init__(self, settings: TelegramSettings, feed: Feed, deliver: Deliver, commands: Mapping[str, str]) -> None:
        self.settings = settings
        self._commands = dict(commands)  # the command menu: name -> description
        self.bot = make_bot(settings)
        self.sender = TelegramSender(self.bot)
        self._intake: Intake[int] = Intake(Platform.TELEGRAM.value, feed, deliver, self._show_typing)
        self._username = ""  # the bot's @username, to tell its commands and mentions in groups from others'
        self._slots = asyncio.Semaphore(MAX_IN_FLIGHT)
        self._next_update: int | None = None  # one past the newest update received by polling
        self._secret = settings.webhook_secret.get_secret_value().encode() if settings.webhook_secret else b""

    async def run(self, stop: asyncio.Event) -> None:
        """Receive and handle updates until `stop` is set; then finish what is in hand and close the session."""
        try:
            try:
                self._username = (await self.bot.me()).username or ""
            except TelegramUnauthorizedError as exc:
                raise TokenRefused(
                    "Telegram refused the bot token (Unauthorized): check [telegram] token in bot.toml or "
                    "PRIEMNAYA_TELEGRAM_TOKEN (the token @BotFather gave)"
                ) from exc
            await self._register_commands()
            if self.settings.mode == "webhook":
                await self._webhook_until(stop)
            else:
                await self._poll_until(stop)
            await self.wait_idle()
            confirm = self._confirmable()
            if confirm is not None:  # tell Telegram that everything received is done
                await self._softly(self.bot.get_updates(offset=confirm, limit=1, timeout=0), "confirm updates")
        finally:
            await self.wait_idle()
            await self.bot.session.close()

    async def wait_idle(self) -> None:
        """Return once no update is being handled."""
        await self._intake.wait_idle()

    def handle(self, update: Update) -> asyncio.Future[None] | None:
        """Start handling an update in its own task; returns a future done once the update is committed, or None
        for an update already seen (a re-delivery)."""
        return self._intake.begin(update.update_id, lambda: self._process(update))

    async def _register_commands(self) -> None:
        commands = [BotCommand(command=name, description=text) for name, text in self._commands.items()]
        await self._softly(self.bot.set_my_commands(commands), "register the command menu")

    async def _softly(self, call: Awaitable[object], what: str) -> None:
        """A call the bot can live without; only a refused token stops it."""
        try:
            await call
        except TelegramUnauthorizedError:
            raise
        except TelegramAPIError as exc:
            log.warning("could not %s: %s", what, exc)

    # Receiving

    async def _poll_until(self, stop: asyncio.Event) -> None:
        await self._softly(self.bot.delete_webhook(), "remove a webhook (it would block polling)")
        polling = asyncio.create_task(self._poll())
        stopping = asyncio.create_task(stop.wait())
        await asyncio.wait({polling, stopping}, return_when=asyncio.FIRST_COMPLETED)
        stopping.cancel()
        if polling.done():
            polling.result()  # a refused token ends polling: raise it
        else:
            polling.cancel()
            await asyncio.wait({polling})

    def _confirmable(self) -> int | None:
        """The offset that confirms every update committed and none still in hand (they have the lowest ids)."""
        return min(self._intake.in_hand, default=self._next_update)

    async def _poll(self) -> None:
        delay = 1.0
        while True:
            offset = self._confirmable()
            try:
                updates = await self.bot.get_updates(
                    offset=offset,
                    timeout=POLL_TIMEOUT,
                    allowed_updates=ALLOWED_UPDATES,
                    request_timeout=POLL_TIMEOUT + 30,
                )
            except TelegramUnauthorizedError:
                raise
            except AiogramError as exc:  # the network, Telegram's side, or an answer that is not JSON
                log.warning("getUpdates failed (%s); trying again in %g s", exc, delay)
                await asyncio.sleep(delay)
                delay = min(delay * 2, 30.0)
                continue
            delay = 1.0
            fresh = [u for u in updates if self._next_update is None or u.update_id >= self._next_update]
            for update in fresh:  # the others are in hand: Telegram sends them until they are confirmed
                await self._slots.acquire()
                self._next_update = update.update_id + 1
                if self.handle(update) is None:
                    self._slots.release()
            if self._intake.in_hand:
                await self._in_hand_committed()

    async def _in_hand_committed(self) -> None:
        """Wait, before asking again, until the updates in hand are committed (the offset can move past them),
        or WAIT_FOR_PROGRESS s: asking sooner would only bring back the updates in hand, every time."""
        deadline = asyncio.get_running_loop().time() + WAIT_FOR_PROGRESS
        while self._intake.in_hand:
            self._intake.progress.clear()
            remaining = deadline - asyncio.get_running_loop().time()
            if remaining <= 0:
                return
            await wait_for_event(self._intake.progress, remaining)

    def endpoints(self) -> dict[str, Endpoint]:
        """What the bot's web server serves for Telegram: the webhook, in webhook mode."""
        return {self.settings.webhook_path: self._on_webhook} if self.settings.mode == "webhook" else {}

    async def _webhook_until(self, stop: asyncio.Event) -> None:
        """Have Telegram post updates to the web server (serving `endpoints`) until `stop` is set."""
        settings = self.settings
        assert settings.webhook_url is not None  # the config requires it, and the secret, in webhook mode
        await self.bot.set_webhook(
            settings.webhook_url, secret_token=self._secret.decode(), allowed_updates=ALLOWED_UPDATES
        )
        log.info("Telegram webhook set to %s", settings.webhook_url)
        await stop.wait()

    async def _on_webhook(self, request: web.Request) -> web.Response:
        if not secrets.compare_digest(request.headers.get(SECRET_HEADER, "").encode(), self._secret):
            return web.Response(status=401, text="Unauthorized")
        try:
            update = Update.model_validate(await request.json(), context={"bot": self.bot})
        except (ValueError, ValidationError):
            return web.Response(status=400, text="Not an update")
        committed = self.handle(update)
        if committed is not None:  # answer once committed, so an update is never acknowledged and then lost
            await asyncio.shield(committed)
        return web.Response()

    # Handling one update

    async def _process(self, update: Update) -> None:
        try:
            if update.message is not None:
                await self._on_message(update.update_id, update.message)
            elif update.callback_query is not None:
                await self._on_button(update.update_id, update.callback_query)
        except TelegramAPIError as exc:
            log.warning("update %s: %s", update.update_id, exc)
        finally:
            if self.settings.mode == "polling":
                self._slots.release()  # taken by `_poll` before it started this update

    async def _on_message(self, update_id: int, message: Message) -> None:
        incoming = message_incoming(message, self._username, update_id)
        if incoming is not None:
            await self._intake.answer(update_id, incoming)

    async def _on_button(self, update_id: int, query: CallbackQuery) -> None:
        answering = asyncio.ensure_future(self.bot.answer_callback_query(query.id))  # stops the button spinning
        try:
            incoming = callback_incoming(query, update_id)
            if incoming is not None:
                await self._intake.answer(update_id, incoming)
        finally:
            try:
                await answering
            except TelegramAPIError as exc:
                log.info("could not answer button press %s: %s", query.id, exc)

    async def _show_typing(self, chat_id: str) -> None:
        with contextlib.suppress(TelegramAPIError):  # only a nicety: the reply itself reports any trouble
            await self.bot.send_chat_action(chat_id=chat_id, action="typing")


def message_incoming(message: Message, username: str, update_id: int) -> Incoming | None:
    """A message: text or command, the largest size of a photo with its caption, or a location; with where it
    was written and to whom, so that the core can keep to private chats."""
    user = message.from_user
    if user is None:  # a channel post
        return None
    photos: tuple[Photo, ...] = ()
    if message.photo:
        largest = max(message.photo, key=lambda size: size.width * size.height)
        photos = (Photo(largest.file_id),)
    location = message.location
    text = message.text if message.text is not None else message.caption
    addressee = ""
    if text and text.startswith("/"):
        _, _, addressee = text.split(maxsplit=1)[0].partition("@")
    return Incoming(
        platform=Platform.TELEGRAM,
        user_id=str(user.id),
        chat_id=chat_address(message),
        text=text,
        photos=photos,
        location=Location(location.latitude, location.longitude) if location is not None else None,
        message_id=str(message.message_id),
        display_name=user.full_name,
        update_id=str(update_id),
        chat_kind=CHAT_KINDS.get(message.chat.type, ChatKind.CHANNEL),
        on_behalf_of_chat=message.sender_chat is not None,
        for_another_bot=bool(addressee) and addressee.casefold() != username.casefold(),
        mentions_bot=bool(username and text and f"@{username}".casefold() in text.casefold()),
        reply_to=reply_to_bot(message, username),
        unsupported=unsupported(message),
    )


def unsupported(message: Message) -> str | None:
    """What the message carries that the bot does not take, as `Incoming.unsupported` names it."""
    kinds = {
        "voice": message.voice,
        "video": message.video or message.video_note or message.animation,
        "file": message.document,
        "sticker": message.sticker,
        "audio": message.audio,
    }
    return next((kind for kind, attached in kinds.items() if attached is not None), None)


def callback_incoming(query: CallbackQuery, update_id: int) -> Incoming | None:
    """A button press: its payload, and the message that carries the button."""
    if query.data is None:
        return None
    message = query.message
    return Incoming(
        platform=Platform.TELEGRAM,
        user_id=str(query.from_user.id),
        chat_id=chat_address(message) if isinstance(message, Message) else str(query.from_user.id),
        payload=query.data,
        message_id=str(message.message_id) if message is not None else None,
        display_name=query.from_user.full_name,
        update_id=str(update_id),
        chat_kind=CHAT_KINDS.get(message.chat.type, ChatKind.CHANNEL) if message is not None else ChatKind.PRIVATE,
    )


def reply_to_bot(message: Message, username: str) -> str | None:
    """The bot's message this one replies to, if the sender chose to reply to one: in a forum topic every message
    also points at the service message that opened the topic, which is not a reply anyone chose; a reply to
    someone else's message is none of the bot's business."""
    replied = message.reply_to_message
    if replied is None or replied.forum_topic_created is not None or replied.from_user is None:
        return None
    author = replied.from_user.username or ""
    return str(replied.message_id) if username and author.casefold() == username.casefold() else None


def chat_address(message: Message) -> str:
    """Where to answer a message: its chat, or "CHAT/THREAD" for a topic of a forum supergroup."""
    if message.is_topic_message and message.message_thread_id is not None:
        return f"{message.chat.id}/{message.message_thread_id}"
    return str(message.chat.id)


def inline_keyboard(buttons: Keyboard) -> InlineKeyboardMarkup | None:
    """Rows of inline buttons; a button whose payload Telegram would refuse is left out, with an error logged."""
    rows: list[list[InlineKeyboardButton]] = []
    for row in buttons:
        kept = []
        for button in row:
            if not 1 <= len(button.payload.encode()) <= CALLBACK_DATA_LIMIT:
                log.error("button %r left out: its payload %r is not 1-64 bytes", button.text, button.payload)
                continue
            kept.append(InlineKeyboardButton(text=button.text, callback_data=button.payload))
        if kept:
            rows.append(kept)
    return InlineKeyboardMarkup(inline_keyboard=rows) if rows else None
