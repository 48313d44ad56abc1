"""Background tasks under supervision: a failure is logged once and the task restarted; one that keeps failing
stops the bot instead of leaving it half alive."""

from __future__ import annotations

import asyncio
import logging

import pytest

from bot.supervisor import TaskFailed, supervise


async def test_a_failed_task_is_logged_once_and_restarted(caplog: pytest.LogCaptureFixture) -> None:
    runs: list[int] = []
    healthy = asyncio.Event()

    async def flaky() -> None:
        runs.append(1)
        if len(runs) < 3:
            raise ConnectionResetError("the database went away")
        healthy.set()
        await asyncio.Event().wait()

    fatal: list[TaskFailed] = []
    with caplog.at_level(logging.ERROR, logger="bot.supervisor"):
        task = asyncio.create_task(supervise("outbox", flaky, fatal.append, delays=(0.01, 0.01, 0.01)))
        await asyncio.wait_for(healthy.wait(), 5)
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
    assert (len(runs), fatal) == (3, [])
    first, second = caplog.records
    assert first.getMessage() == (
        "background task outbox failed (ConnectionResetError: the database went away); restarting in 0.01 s"
    )
    assert first.exc_info is not None  # the traceback once...
    assert second.exc_info is None  # ...not again for the same kind of error


async def test_a_task_that_keeps_failing_stops_the_bot(caplog: pytest.LogCaptureFixture) -> None:
    async def broken() -> None:
        raise RuntimeError("a bug")

    fatal: list[TaskFailed] = []
    with caplog.at_level(logging.CRITICAL, logger="bot.supervisor"):
        await asyncio.wait_for(supervise("scheduler", broken, fatal.append, delays=(0.01, 0.01)), 5)
    [error] = fatal
    assert str(error) == "background task scheduler failed 3 times in a row: RuntimeError('a bug')"
    assert caplog.records[-1].levelname == "CRITICAL"
