"""Neutral message types: what adapters turn platform updates into, and what handlers answer with."""

from __future__ import annotations

import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field, replace
from enum import StrEnum
from typing import overload


class Platform(StrEnum):
    TELEGRAM = "telegram"
    VK = "vk"
    CONSOLE = "console"


class ChatKind(StrEnum):
    """Where a message was written: the bot converses with residents only in private chats."""

    PRIVATE = "private"
    GROUP = "group"  # a group or supergroup (VK: a multi-user conversation)
    CHANNEL = "channel"


@dataclass(frozen=True, slots=True)
class Button:
    """A button: the label the resident sees and the payload the bot gets back when it is pressed."""

    text: str
    payload: str


Keyboard = tuple[tuple[Button, ...], ...]


def keyboard_to_json(buttons: Keyboard) -> list[list[dict[str, str]]]:
    """A keyboard as stored with a message in the outbox."""
    return [[{"text": button.text, "payload": button.payload} for button in row] for row in buttons]


def keyboard_from_json(rows: list[list[dict[str, str]]] | None) -> Keyboard:
    return tuple(tuple(Button(cell["text"], cell["payload"]) for cell in row) for row in rows or [])


@dataclass(frozen=True, slots=True)
class Photo:
    """A photo as the platform knows it; `file_id` lets the bot download it later (Telegram's file id; VK: the URL
    of its largest size)."""

    file_id: str


@dataclass(frozen=True, slots=True)
class Location:
    latitude: float
    longitude: float


@dataclass(frozen=True, slots=True)
class Incoming:
    """One thing a resident did: sent text, pressed a button, sent a photo or a location."""

    platform: Platform
    user_id: str
    chat_id: str
    text: str | None = None
    payload: str | None = None
    photos: tuple[Photo, ...] = ()
    location: Location | None = None
    message_id: str | None = None
    display_name: str | None = None
    update_id: str | None = None  # the platform's id of the update, to recognise a re-delivery
    chat_kind: ChatKind = ChatKind.PRIVATE
    on_behalf_of_chat: bool = False  # sent as a channel or a group (Telegram `sender_chat`), not by a person
    for_another_bot: bool = False  # a command addressed to another bot ("/start@other_bot")
    mentions_bot: bool = False  # the text names this bot ("@priemnaya_bot")
    reply_to: str | None = None  # the bot's message this one explicitly replies to (staff replying to a card)
    unsupported: str | None = None  # an attachment the bot cannot take: "voice", "video", "file", "sticker", ...

    def cleaned(self) -> Incoming:
        """The same, with control characters removed from what the sender typed (a NUL breaks PostgreSQL, others
        break what staff see); line breaks and tabs stay."""
        return replace(
            self,
            text=_printable(self.text),
            payload=_printable(self.payload),
            display_name=_printable(self.display_name),
        )

    @property
    def command(self) -> tuple[str, str] | None:
        """`("start", "args")` for a text like "/start args", otherwise None."""
        if not self.text or not self.text.startswith("/"):
            return None
        name, _, args = self.text[1:].partition(" ")
        name = name.split("@", 1)[0].lower()  # Telegram groups append "@botname"
        return (name, args.strip()) if name else None


_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]")


def _printable(text: str | None) -> str | None:
    return _CONTROL.sub("", text) if text else text


@dataclass(frozen=True, slots=True)
class Reply:
    """One message to show the resident; `edit_message_id` asks the adapter to update an earlier one."""

    text: str
    buttons: Keyboard = field(default=())
    edit_message_id: str | None = None


@dataclass(frozen=True, slots=True)
class Outgoing:
    """A reply on its way to the chat, with its outbox row when it was stored together with the update's changes
    (then it survives a failed send and a crash); None for a reply kept only in memory."""

    reply: Reply
    outbox_id: int | None = None


@dataclass(frozen=True, slots=True)
class Handled(Sequence[Reply]):
    """What one update answered: the replies to show in `chat_id`, in order. A sequence of those replies."""

    platform: Platform
    chat_id: str
    messages: tuple[Outgoing, ...] = ()

    @overload
    def __getitem__(self, index: int) -> Reply: ...
    @overload
    def __getitem__(self, index: slice) -> Sequence[Reply]: ...
    def __getitem__(self, index: int | slice) -> Reply | Sequence[Reply]:
        if isinstance(index, slice):
            return [message.reply for message in self.messages[index]]
        return self.messages[index].reply

    def __len__(self) -> int:
        return len(self.messages)

    def __iter__(self) -> Iterator[Reply]:
        return (message.reply for message in self.messages)
