"""Who the bot converses with: residents in private chats only. The one place that rule is written."""

from __future__ import annotations

from enum import Enum

from bot.core.types import ChatKind, Incoming


class Audience(Enum):
    RESIDENT = "resident"  # a person in a private chat: the whole conversation
    STAFF = "staff"  # anyone in the staff group: staff actions, each checked against the roster
    POINT_TO_PRIVATE = "point_to_private"  # /start or a mention outside a private chat: one short pointer
    NOBODY = "nobody"  # anything else outside a private chat, another bot's command, a post as a chat


def audience(incoming: Incoming, staff_chat: tuple[str, str] | None = None) -> Audience:
    """How to treat an update: no personal data, wizard step, appeal list or card is ever shown outside a
    private chat, so there the bot only says where to find it. The one deliberate exception is the staff group
    (`staff_chat`: platform and chat id), whose every update goes to the staff handlers; they check the sender."""
    if staff_chat is not None and (incoming.platform.value, incoming.chat_id.partition("/")[0]) == staff_chat:
        return Audience.STAFF if not incoming.for_another_bot else Audience.NOBODY
    if incoming.on_behalf_of_chat or incoming.for_another_bot:
        return Audience.NOBODY
    if incoming.chat_kind is ChatKind.PRIVATE:
        return Audience.RESIDENT
    command = incoming.command
    if (command is not None and command[0] == "start") or incoming.mentions_bot:
        return Audience.POINT_TO_PRIVATE
    return Audience.NOBODY
