"""A terminal chat with the bot through the same core: buttons are shown as numbered choices."""

from __future__ import annotations

import asyncio
import getpass
import sys
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import replace
from typing import TextIO

from bot.core.delivery import RecipientUnreachable
from bot.core.types import Button, Incoming, Location, Photo, Platform, Reply

QUIT_WORDS = frozenset({"/quit", "/exit"})


class ConsoleChat:
    """Turns typed lines into `Incoming` and replies into text. A number or a button's label presses it.

    It is also the console's `Sender`: notifications for this terminal's resident are printed as they come.
    """

    platform = Platform.CONSOLE

    def __init__(
        self,
        feed: Callable[[Incoming], Awaitable[Sequence[Reply]]],
        user_id: str | None = None,
        display_name: str | None = None,
        sink: TextIO | None = None,
    ) -> None:
        self._feed = feed
        self.user_id = user_id or getpass.getuser()
        self.display_name = display_name or self.user_id
        self._buttons: list[Button] = []
        self._sink: TextIO = sink or sys.stdout  # where notifications are printed

    async def say(self, line: str) -> str:
        """Send one typed line to the bot and return what the terminal shows in reply."""
        replies = await self._feed(self._incoming(line.strip()))
        return "\n\n".join(self._render(reply) for reply in replies)

    def _incoming(self, line: str) -> Incoming:
        """A number or label presses a button; "/photo FILE [caption]" and "/location LAT LON" stand for
        what a messenger would attach."""
        base = Incoming(
            platform=Platform.CONSOLE, user_id=self.user_id, chat_id=self.user_id, display_name=self.display_name
        )
        command, _, rest = line.partition(" ")
        if command == "/photo" and rest.strip():
            file, _, caption = rest.strip().partition(" ")
            return replace(base, text=caption or None, photos=(Photo(file),))
        if command == "/location":
            try:
                latitude, longitude = (float(part) for part in rest.split())
            except ValueError:
                pass
            else:
                return replace(base, location=Location(latitude, longitude))
        button = self._pressed(line)
        return replace(base, text=None, payload=button.payload) if button else replace(base, text=line)

    def _pressed(self, line: str) -> Button | None:
        if line.isdigit() and 1 <= int(line) <= len(self._buttons):
            return self._buttons[int(line) - 1]
        folded = line.casefold()
        return next((button for button in self._buttons if button.text.casefold() == folded), None)

    def _render(self, reply: Reply) -> str:
        lines = [reply.text]
        if reply.buttons:
            self._buttons = [button for row in reply.buttons for button in row]
            lines += [f"  [{number}] {button.text}" for number, button in enumerate(self._buttons, start=1)]
        return "\n".join(lines)

    async def send(self, chat_id: str, reply: Reply, send_id: int = 0) -> None:
        """Print a notification; the terminal has one resident, so others' notifications cannot be delivered."""
        if chat_id != self.user_id:
            raise RecipientUnreachable(f"console resident {chat_id!r} is not at this terminal")
        self._sink.write(f"\n🔔 {self._render(reply)}\n\n> ")
        self._sink.flush()

    async def run(self, source: TextIO = sys.stdin, sink: TextIO = sys.stdout) -> None:
        """Read lines until end of input or /quit, printing the bot's replies."""
        self._sink = sink
        sink.write(
            "Console chat with the bot. Press a button by typing its number; attach with /photo FILE or\n"
            "/location LAT LON; /quit to leave.\n\n"
        )
        sink.write(await self.say("/start") + "\n")
        loop = asyncio.get_running_loop()
        while True:
            sink.write("\n> ")
            sink.flush()
            line = await loop.run_in_executor(None, source.readline)
            if not line or line.strip() in QUIT_WORDS:
                sink.write("\n")
                return
            if line.strip():
                sink.write(await self.say(line) + "\n")
