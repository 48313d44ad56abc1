"""Sending to a resident outside a conversation (notifications): the adapter-side contract and its errors."""

from __future__ import annotations

from datetime import datetime
from typing import Protocol

from bot.core.types import Platform, Reply


class DeliveryError(Exception):
    """Sending failed; anything not more specific is retried later with backoff."""


class RetryLater(DeliveryError):
    """The platform asked to slow down (Telegram 429 `retry_after`, VK error 6): retry after `seconds`."""

    def __init__(self, seconds: float, detail: str = "") -> None:
        super().__init__(f"retry after {seconds:g} s {detail}".strip())
        self.seconds = seconds


class TokenRefused(Exception):
    """The platform refused the bot's token: nothing works until an admin fixes the setting the message names."""


class RecipientUnreachable(DeliveryError):
    """The resident blocked the bot, deleted their account, or the chat is gone: never retried."""


class Sender(Protocol):
    """What a platform adapter offers the notifier: send one message to a chat, or raise a DeliveryError.

    `send_id` is the same for every try of one message (its outbox row, or a number drawn once for a reply kept
    in memory), so a platform that drops repeated sends (VK's `random_id`) never shows a retried message twice;
    0 means no such key."""

    platform: Platform

    async def send(self, chat_id: str, reply: Reply, send_id: int = 0) -> None: ...


class ReplyClaims(Protocol):
    """Who will send the replies an update stores: they are born claimed by that process, under a lease."""

    claimant: str

    def lease_until(self, now: datetime) -> datetime: ...
