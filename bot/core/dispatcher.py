"""The dispatcher: one `Incoming` in, the replies out, with the dialog state loaded and saved around it."""

from __future__ import annotations

import asyncio
import copy
import dataclasses
import functools
import logging
import weakref
from collections import OrderedDict, deque
from collections.abc import Awaitable, Callable, Iterable, Mapping
from datetime import datetime
from enum import StrEnum
from typing import TYPE_CHECKING, TypeVar

from sqlalchemy.exc import IntegrityError

from bot.core.audience import Audience, audience
from bot.core.context import Context, StaffContext
from bot.core.delivery import ReplyClaims
from bot.core.routing import Handler, Router, StaffHandler
from bot.core.types import Handled, Incoming, Outgoing, Platform, Reply, keyboard_to_json
from bot.texts import Texts
from storage.db import is_outage
from storage.repositories import Conversation
from storage.uow import UnitOfWork

if TYPE_CHECKING:
    from bot.services.toolbox import Services

log = logging.getLogger(__name__)

H = TypeVar("H")
KNOWN_RESIDENTS = 20_000  # conversations kept in memory between updates, the most recent ones
OUTAGE_PAUSES = (0.5, 1.0, 2.0, 4.0, 8.0, 15.0, 30.0)  # seconds an update waits, try after try, for the database


class Dispatcher:
    """Routes by command, then button payload, then dialog state, then free text; anything else falls back.

    Each update runs in one unit of work: the handler's changes, the new dialog state, the replies (as outbox
    rows, claimed by `claims`) and the update's id commit together, or not at all. An update that changes
    nothing keeps its replies in memory. Updates of one resident are handled one at a time, in arrival order;
    while the database is unavailable an update waits and is tried again (OUTAGE_PAUSES). Only private chats
    are conversations (see `audience`).

    The conversations of recent residents stay in memory after their update commits, so an update that
    only reads them (most FAQ questions) needs no database at all. That is sound while this dispatcher is
    the only writer of profiles and dialog states, handling each resident's updates one at a time; where
    several bot processes share the database, `remembered=0` reads every conversation afresh. A failed
    update forgets its resident, who is read afresh too.
    """

    def __init__(
        self,
        uow_factory: Callable[[], UnitOfWork],
        texts: Texts,
        services: Services,
        routers: Iterable[Router],
        concurrency: int = 10,
        on_queued_messages: Callable[[], None] = lambda: None,
        remembered: int = KNOWN_RESIDENTS,
        claims: ReplyClaims | None = None,
        shown_in_process: frozenset[Platform] = frozenset({Platform.CONSOLE}),
        per_minute: int | None = None,
    ) -> None:
        self._on_queued_messages = on_queued_messages
        self._claims = claims
        self._shown_in_process = shown_in_process
        self._uow_factory = uow_factory
        self._services = services
        # First come, first served: a fair queue in front of the connection pool, so no update waits
        # while later ones overtake it (the pool itself lets a returning task take its connection back).
        self._slots = asyncio.Semaphore(concurrency)
        self._texts = texts
        self._commands: dict[str, Handler] = {}
        self._buttons: dict[str, Handler] = {}
        self._states: dict[str, Handler] = {}
        self._free_text: Handler | None = None
        self._loose_photos: Handler | None = None
        self._fallback: Handler | None = None
        self._flood = FloodGuard(per_minute) if per_minute else None
        self.handled = 0  # updates handled since start, for the log's summary
        self._labels: dict[str, str] = {}  # folded label text -> payload
        self._staff_buttons: dict[str, StaffHandler] = {}
        self._staff_text: StaffHandler | None = None
        self._locks: weakref.WeakValueDictionary[tuple[str, str], asyncio.Lock] = weakref.WeakValueDictionary()
        self._known = KnownConversations(remembered)
        for router in routers:
            self._include(router)

    def _include(self, router: Router) -> None:
        for mine, theirs in (
            (self._commands, router.commands),
            (self._buttons, router.buttons),
            (self._states, router.states),
        ):
            clash = mine.keys() & theirs.keys()
            if clash:
                raise ValueError(f"router {router.name!r} registers {sorted(clash)} a second time")
            mine.update(theirs)
        clash = self._staff_buttons.keys() & router.staff_buttons.keys()
        if clash:
            raise ValueError(f"router {router.name!r} registers staff buttons {sorted(clash)} a second time")
        self._staff_buttons.update(router.staff_buttons)
        if router.staff_text is not None:
            if self._staff_text is not None:
                raise ValueError(f"router {router.name!r}: staff messages are handled twice")
            self._staff_text = router.staff_text
        for text_key, payload in router.labels.items():
            self._labels[self._texts(text_key).casefold()] = payload
        if router.loose_photos is not None:
            if self._loose_photos is not None:
                raise ValueError(f"router {router.name!r}: photos are handled twice")
            self._loose_photos = router.loose_photos
        if router.free_text is not None:
            if self._free_text is not None:
                raise ValueError(f"router {router.name!r}: free text is handled twice")
            self._free_text = router.free_text
        if router.fallback is not None:
            if self._fallback is not None:
                raise ValueError(f"router {router.name!r}: the fallback is registered twice")
            self._fallback = router.fallback

    async def feed(self, incoming: Incoming) -> Handled:
        """Handle one update and return what to show the resident. Never raises for a handler's failure.

        When it returns, whatever the update changed is committed, with the replies (unless the platform shows
        them in this process): the platform may be told the update is done, and the replies sent.
        """
        incoming = incoming.cleaned()
        self.handled += 1
        kind = audience(incoming, self._services.notices.staff_chat)
        if kind is Audience.STAFF:
            return await self._guarded(("staff", incoming.user_id), incoming, self._handle_staff)
        if kind is not Audience.RESIDENT:
            text = self._texts("menu.private_only") if kind is Audience.POINT_TO_PRIVATE else None
            return self._in_memory(incoming, [Reply(text)] if text else [])
        if self._flood is not None:
            now = self._services.clock().timestamp()
            verdict = self._flood.admit((incoming.platform.value, incoming.user_id), now)
            if verdict is not Admission.OK:  # the first message over the limit is told why; the rest, nothing
                text = self._texts("errors.too_many_messages") if verdict is Admission.WARN else None
                return self._in_memory(incoming, [Reply(text)] if text else [])
        return await self._guarded((incoming.platform.value, incoming.user_id), incoming, self._handle)

    async def _guarded(
        self,
        key: tuple[str, str],
        incoming: Incoming,
        work: Callable[[tuple[str, str], Incoming], Awaitable[Handled]],
    ) -> Handled:
        """Run `work` for one sender's update, after their earlier ones, waiting out database outages."""
        lock = self._locks.get(key)
        if lock is None:
            lock = self._locks[key] = asyncio.Lock()
        async with lock:
            for pause in OUTAGE_PAUSES:
                try:
                    async with self._slots:
                        return await work(key, incoming)
                except Exception as exc:
                    self._known.forget(key)
                    if not is_outage(exc):
                        log.exception("failed to handle an update from %s:%s", *key)
                        break
                    log.warning("the database is unavailable (%s); the update from %s:%s waits %g s", exc, *key, pause)
                await asyncio.sleep(pause)
            else:
                log.error("the database stayed unavailable; an update from %s:%s was given up", *key)
        return self._in_memory(incoming, [Reply(text=self._texts("errors.internal"))])

    async def _handle(self, key: tuple[str, str], incoming: Incoming) -> Handled:
        async with self._uow_factory() as uow:
            now = self._services.clock()
            known = self._known.get(key)
            if known is None:
                known = await uow.residents.conversation(*key, now=now)
                if incoming.update_id is not None and await uow.processed_updates.seen(*self._update_key(incoming)):
                    log.info("update %s was handled before a restart: not run again", incoming.update_id)
                    return self._in_memory(incoming, [])
            profile = dataclasses.replace(known.profile)
            profile.seen(now, incoming.display_name)
            ctx = Context(incoming=incoming, resident=profile, texts=self._texts, uow=uow, services=self._services)
            ctx.state, ctx.data = known.state, copy.deepcopy(known.data)
            handler = self._resolve(ctx)
            await handler(ctx)
            dialog_changed = (ctx.state, ctx.data) != (known.state, known.data)
            if profile.id is None:
                if profile.consent_given_at is not None:  # stored from their consent on, never before (152-FZ)
                    await ctx.resident_id()
            elif profile != known.profile:
                await uow.residents.save_profile(profile)
            if dialog_changed and profile.id is not None:  # else the dialog lives in memory only
                await uow.dialogs.save(profile.id, ctx.state, ctx.data)
            handled = await self._commit(uow, incoming, ctx.replies, now)
        if handled is None:
            return self._in_memory(incoming, [])
        self._known.put(key, Conversation(profile, ctx.state, ctx.data))
        return handled

    async def _handle_staff(self, key: tuple[str, str], incoming: Incoming) -> Handled:
        """An update from the staff group: a staff handler by the button's payload, or the one for messages."""
        async with self._uow_factory() as uow:
            now = self._services.clock()
            if incoming.update_id is not None and await uow.processed_updates.seen(*self._update_key(incoming)):
                return self._in_memory(incoming, [])
            member = self._services.roster.member(incoming.platform.value, incoming.user_id)
            ctx = StaffContext(incoming, member=member, texts=self._texts, uow=uow, services=self._services)
            handler = self._staff_button(ctx)
            if handler is None:
                return self._in_memory(incoming, [])
            await handler(ctx)
            handled = await self._commit(uow, incoming, ctx.replies, now)
        return handled or self._in_memory(incoming, [])

    def _staff_button(self, ctx: StaffContext) -> StaffHandler | None:
        payload = ctx.incoming.payload
        if payload is None:
            return self._staff_text if ctx.incoming.text else None
        handler, ctx.args = by_prefix(self._staff_buttons, payload)
        return handler

    async def _commit(self, uow: UnitOfWork, incoming: Incoming, replies: list[Reply], now: datetime) -> Handled | None:
        """Commit what the update did. An update that changed something is recorded, so it runs once, and its
        replies are stored with it; None when it turns out to have run before."""
        handled = self._in_memory(incoming, replies)
        if uow.wrote:  # the update changed something: it must be done once, and its replies must arrive
            if incoming.update_id is not None:
                try:
                    await uow.processed_updates.record(*self._update_key(incoming), now)
                except IntegrityError:  # another process or an earlier life of this one did it first
                    log.info("update %s was handled elsewhere: not run again", incoming.update_id)
                    return None
            handled = await self._stored(uow, incoming, replies, now)
        await uow.commit()
        if uow.queued_messages:
            self._on_queued_messages()  # the outbox delivers them now rather than at its next sweep
        return handled

    @staticmethod
    def _update_key(incoming: Incoming) -> tuple[str, str]:
        return incoming.platform.value, incoming.update_id or ""

    @staticmethod
    def _in_memory(incoming: Incoming, replies: list[Reply]) -> Handled:
        return Handled(incoming.platform, incoming.chat_id, tuple(Outgoing(reply) for reply in replies))

    async def _stored(self, uow: UnitOfWork, incoming: Incoming, replies: list[Reply], now: datetime) -> Handled:
        """The replies as outbox rows in the update's transaction, claimed by the process that sends them next."""
        if self._claims is None or incoming.platform in self._shown_in_process or not replies:
            return self._in_memory(incoming, replies)
        claimant, due_at = self._claims.claimant, self._claims.lease_until(now)
        ids = await uow.outbox.add_replies(
            [
                {
                    "kind": "reply",
                    "platform": incoming.platform.value,
                    "chat_id": incoming.chat_id,
                    "text": reply.text,
                    "buttons": keyboard_to_json(reply.buttons),
                    "edit_message_id": reply.edit_message_id,
                    "claimed_by": claimant,
                    "status": "pending",
                    "attempts": 1,
                    "created_at": now,
                    "due_at": due_at,
                }
                for reply in replies
            ]
        )
        messages = tuple(Outgoing(reply, outbox_id) for reply, outbox_id in zip(replies, ids, strict=True))
        return Handled(incoming.platform, incoming.chat_id, messages)

    @functools.cached_property
    def _cancel_words(self) -> frozenset[str]:
        """Words that mean /cancel when typed at any step (texts: commands.cancel_words)."""
        return frozenset(word.strip().casefold() for word in self._texts("commands.cancel_words").split(","))

    def _resolve(self, ctx: Context) -> Handler:
        incoming = ctx.incoming
        command = incoming.command
        if command is not None:
            name, ctx.args = command
            return self._commands.get(name) or self._otherwise
        if incoming.payload is not None:
            return self._button(ctx, incoming.payload)
        if incoming.text:  # a menu item or "Отмена" typed means the same at every step
            typed = incoming.text.strip().casefold()
            if typed.rstrip(".!") in self._cancel_words and "cancel" in self._commands:
                ctx.args = ""
                return self._commands["cancel"]
            payload = self._labels.get(typed)
            if payload is not None:
                return self._button(ctx, payload)
        elif incoming.unsupported is not None and not incoming.photos and incoming.location is None:
            return self._unsupported
        if ctx.state is not None:
            handler = self._states.get(ctx.state)
            if handler is not None:
                return handler
            log.warning("unknown dialog state %r of resident %s: reset", ctx.state, ctx.resident.id)
            ctx.clear_state()
        if incoming.photos and self._loose_photos is not None:
            return self._loose_photos
        if incoming.text and self._free_text is not None:
            return self._free_text
        return self._otherwise

    def _button(self, ctx: Context, payload: str) -> Handler:
        handler, ctx.args = by_prefix(self._buttons, payload)
        return handler or self._otherwise

    async def _unsupported(self, ctx: Context) -> None:
        """A voice message, a video, a file, a sticker: say what the bot takes; the dialog stays where it was."""
        ctx.answer(self._texts("errors.unsupported_attachment"))

    async def _otherwise(self, ctx: Context) -> None:
        if self._fallback is not None:
            await self._fallback(ctx)
        else:
            ctx.answer(self._texts("errors.not_understood"))


class Admission(StrEnum):
    OK = "ok"
    WARN = "warn"  # the first message over the limit: the resident is asked to wait
    DROP = "drop"  # more of them: not handled, not answered


class FloodGuard:
    """Messages a resident sent in the last minute, in this process: beyond `per_minute`, they wait."""

    def __init__(self, per_minute: int, window: float = 60.0, remembered: int = 10_000) -> None:
        self._per_minute = per_minute
        self._window = window
        self._remembered = remembered
        self._times: OrderedDict[tuple[str, str], deque[float]] = OrderedDict()

    def admit(self, key: tuple[str, str], now: float) -> Admission:
        times = self._times.pop(key, None) or deque()
        self._times[key] = times  # the newest last; the oldest senders are forgotten first
        while times and times[0] <= now - self._window:
            times.popleft()
        if len(self._times) > self._remembered:
            self._times.popitem(last=False)
        if len(times) < self._per_minute:
            times.append(now)
            return Admission.OK
        if len(times) == self._per_minute:
            times.append(now)  # counted once, to tell the warning from the rest
            return Admission.WARN
        return Admission.DROP


def by_prefix(handlers: Mapping[str, H], payload: str) -> tuple[H | None, str]:
    """The handler of the longest registered prefix of a button's payload, split at ':', and the rest."""
    parts = payload.split(":")
    for size in range(len(parts), 0, -1):
        handler = handlers.get(":".join(parts[:size]))
        if handler is not None:
            return handler, ":".join(parts[size:])
    return None, ""


class KnownConversations:
    """The conversations of the `size` residents who wrote last, as their last update committed them."""

    def __init__(self, size: int) -> None:
        self._size = size
        self._entries: OrderedDict[tuple[str, str], Conversation] = OrderedDict()

    def get(self, key: tuple[str, str]) -> Conversation | None:
        conversation = self._entries.get(key)
        if conversation is not None:
            self._entries.move_to_end(key)
        return conversation

    def put(self, key: tuple[str, str], conversation: Conversation) -> None:
        if not self._size:
            return
        self._entries[key] = conversation
        self._entries.move_to_end(key)
        if len(self._entries) > self._size:
            self._entries.popitem(last=False)

    def forget(self, key: tuple[str, str]) -> None:
        self._entries.pop(key, None)
