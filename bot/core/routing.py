"""Routers: how `handlers/` registers conversations by command, button payload, dialog state or free text."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from bot.core.context import Context, StaffContext

Handler = Callable[["Context"], Awaitable[None]]
StaffHandler = Callable[["StaffContext"], Awaitable[None]]


class Router:
    """A named group of handlers; the dispatcher includes several and refuses conflicting registrations."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.commands: dict[str, Handler] = {}
        self.buttons: dict[str, Handler] = {}
        self.states: dict[str, Handler] = {}
        self.free_text: Handler | None = None
        self.loose_photos: Handler | None = None
        self.fallback: Handler | None = None
        self.labels: dict[str, str] = {}  # text key of a button label -> its payload
        self.staff_buttons: dict[str, StaffHandler] = {}
        self.staff_text: StaffHandler | None = None

    def command(self, *names: str) -> Callable[[Handler], Handler]:
        """Handle "/name args"; commands win over any dialog state (so /start and /cancel always work)."""
        return self._register(self.commands, names)

    def button(self, *payloads: str) -> Callable[[Handler], Handler]:
        """Handle a button whose payload is `payload` or starts with `payload:` (the rest is `ctx.args`)."""
        return self._register(self.buttons, payloads)

    def staff_button(self, *payloads: str) -> Callable[[StaffHandler], StaffHandler]:
        """Handle a button pressed in the staff group, by payload prefix like `button`."""

        def decorator(handler: StaffHandler) -> StaffHandler:
            for payload in payloads:
                if payload in self.staff_buttons:
                    raise ValueError(f"router {self.name!r}: staff button {payload!r} already has a handler")
                self.staff_buttons[payload] = handler
            return handler

        return decorator

    def staff_message(self) -> Callable[[StaffHandler], StaffHandler]:
        """Handle a message written in the staff group (text or a photo with a caption)."""

        def decorator(handler: StaffHandler) -> StaffHandler:
            if self.staff_text is not None:
                raise ValueError(f"router {self.name!r}: staff messages already have a handler")
            self.staff_text = handler
            return handler

        return decorator

    def state(self, *states: str) -> Callable[[Handler], Handler]:
        """Handle any message from a resident whose dialog state is one of `states`."""
        return self._register(self.states, states)

    def label(self, text_key: str, payload: str) -> None:
        """Typing the label under `text_key` (outside a dialog) acts as pressing the button with `payload`:
        residents type menu items, and reply keyboards send them as text."""
        if text_key in self.labels:
            raise ValueError(f"router {self.name!r}: label {text_key!r} already registered")
        self.labels[text_key] = payload

    def photos(self) -> Callable[[Handler], Handler]:
        """Handle photos from a resident who is in no dialog (with a caption or without)."""

        def decorator(handler: Handler) -> Handler:
            if self.loose_photos is not None:
                raise ValueError(f"router {self.name!r}: photos already have a handler")
            self.loose_photos = handler
            return handler

        return decorator

    def text(self) -> Callable[[Handler], Handler]:
        """Handle free text from a resident who is in no dialog (e.g. a question for the FAQ)."""

        def decorator(handler: Handler) -> Handler:
            if self.free_text is not None:
                raise ValueError(f"router {self.name!r}: free text already has a handler")
            self.free_text = handler
            return handler

        return decorator

    def otherwise(self) -> Callable[[Handler], Handler]:
        """Handle what nothing else did: an unknown command, a stale button, a photo out of context."""

        def decorator(handler: Handler) -> Handler:
            if self.fallback is not None:
                raise ValueError(f"router {self.name!r}: fallback already has a handler")
            self.fallback = handler
            return handler

        return decorator

    def _register(self, table: dict[str, Handler], keys: tuple[str, ...]) -> Callable[[Handler], Handler]:
        def decorator(handler: Handler) -> Handler:
            for key in keys:
                if key in table:
                    raise ValueError(f"router {self.name!r}: {key!r} already has a handler")
                table[key] = handler
            return handler

        return decorator
