"""Background tasks that must not die quietly: a failed one is logged once and restarted with back-off, and one
that keeps failing stops the bot loudly instead of leaving it half alive."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Coroutine
from typing import Any

log = logging.getLogger(__name__)

RESTART_DELAYS = (1.0, 2.0, 4.0, 8.0, 16.0, 32.0)  # seconds before each restart; one more failure is fatal
HEALTHY_AFTER = 60.0  # seconds of running after which earlier failures are forgiven

TaskFactory = Callable[[], Coroutine[Any, Any, None]]


class TaskFailed(Exception):
    """A background task failed more often in a row than it may; the bot must stop."""


async def supervise(
    name: str,
    start: TaskFactory,
    on_fatal: Callable[[TaskFailed], None],
    delays: tuple[float, ...] = RESTART_DELAYS,
) -> None:
    """Run `start()` until cancelled, restarting it after a failure (or an unexpected return).

    Each failure is logged once, with its cause (the traceback the first time an error of its kind is seen).
    After len(delays) + 1 failures with less than HEALTHY_AFTER seconds of running between them,
    `on_fatal` is called and supervision ends.
    """
    loop = asyncio.get_running_loop()
    failures = 0
    seen: set[type[BaseException]] = set()
    while True:
        started = loop.time()
        try:
            await start()
            error: BaseException = RuntimeError("it returned, though it should run until the bot stops")
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            error = exc
        if loop.time() - started >= HEALTHY_AFTER:
            failures = 0
        if failures >= len(delays):
            fatal = TaskFailed(f"background task {name} failed {failures + 1} times in a row: {error!r}")
            log.critical("%s; stopping the bot", fatal, exc_info=error)
            on_fatal(fatal)
            return
        delay = delays[failures]
        failures += 1
        first_of_its_kind = type(error) not in seen
        seen.add(type(error))
        log.error(
            "background task %s failed (%s: %s); restarting in %g s",
            name,
            type(error).__name__,
            error,
            delay,
            exc_info=error if first_of_its_kind else None,
        )
        await asyncio.sleep(delay)
