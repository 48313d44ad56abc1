"""Who the bot converses with: residents in private chats only. The one place that rule is written."""

from __future__ import annotations

from enum import Enum

from bot.core.types import ChatKind, Incoming


class Audience(Enum):
    RESIDENT = "resident"  # a person in a private chat: the whole conversation
    POINT_TO_PRIVATE = "point_to_private"  # /start or a mention outside a private chat: one short pointer
    NOBODY = "nobody"  # anything else outside a private chat, another bot's command, a post as a chat


def audience(incoming: Incoming) -> Audience:
    """How to treat an update: no personal data, wizard step, appeal list or card is ever shown outside a
    private chat, so there the bot only says where to find it. (The coming staff group will be the one
    deliberate exception, decided here.)"""
    if incoming.on_behalf_of_chat or incoming.for_another_bot:
        return Audience.NOBODY
    if incoming.chat_kind is ChatKind.PRIVATE:
        return Audience.RESIDENT
    command = incoming.command
    if (command is not None and command[0] == "start") or incoming.mentions_bot:
        return Audience.POINT_TO_PRIVATE
    return Audience.NOBODY
