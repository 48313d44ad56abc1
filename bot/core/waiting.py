"""Waiting for an event with a time limit, without the flaw of `asyncio.wait_for` on Python 3.11: when the task
was cancelled just as the event was set, wait_for returned normally and the cancellation was lost, so a stopping
loop kept running (seen as a test that hung in `Notifier.run`)."""

from __future__ import annotations

import asyncio
import contextlib


async def wait_for_event(event: asyncio.Event, seconds: float) -> bool:
    """Wait until `event` is set, at most `seconds`; True if it is set. A cancellation is never swallowed."""
    with contextlib.suppress(TimeoutError):
        async with asyncio.timeout(seconds):
            await event.wait()
    return event.is_set()
