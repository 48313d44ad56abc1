"""Waiting and cancellation done safely: an event with a time limit (without the flaw of `asyncio.wait_for` on
Python 3.11, which lost a cancellation that came as the event was set, so a stopping loop kept running), and
database work that a stop must not cut off in the middle."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable
from typing import TypeVar

T = TypeVar("T")


async def wait_for_event(event: asyncio.Event, seconds: float) -> bool:
    """Wait until `event` is set, at most `seconds`; True if it is set. A cancellation is never swallowed."""
    with contextlib.suppress(TimeoutError):
        async with asyncio.timeout(seconds):
            await event.wait()
    return event.is_set()


async def uninterrupted(work: Awaitable[T]) -> T:
    """Run `work` (a database transaction) to its end even when the caller is cancelled meanwhile, then raise the
    cancellation: a transaction cut off in the middle can leave its connection unusable for what the stopping
    code writes next (SQLite: "cannot start a transaction within a transaction")."""
    task = asyncio.ensure_future(work)
    try:
        return await asyncio.shield(task)
    except asyncio.CancelledError:
        await asyncio.gather(task, return_exceptions=True)
        raise
