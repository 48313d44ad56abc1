"""Neutral message types: what adapters turn platform updates into, and what handlers answer with."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum


class Platform(StrEnum):
    TELEGRAM = "telegram"
    VK = "vk"
    CONSOLE = "console"


@dataclass(frozen=True, slots=True)
class Button:
    """A button: the label the resident sees and the payload the bot gets back when it is pressed."""

    text: str
    payload: str


Keyboard = tuple[tuple[Button, ...], ...]


@dataclass(frozen=True, slots=True)
class Photo:
    """A photo as the platform knows it; `file_id` lets the adapter download it later."""

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

    @property
    def command(self) -> tuple[str, str] | None:
        """`("start", "args")` for a text like "/start args", otherwise None."""
        if not self.text or not self.text.startswith("/"):
            return None
        name, _, args = self.text[1:].partition(" ")
        name = name.split("@", 1)[0].lower()  # Telegram groups append "@botname"
        return (name, args.strip()) if name else None


@dataclass(frozen=True, slots=True)
class Reply:
    """One message to show the resident; `edit_message_id` asks the adapter to update an earlier one."""

    text: str
    buttons: Keyboard = field(default=())
    edit_message_id: str | None = None
