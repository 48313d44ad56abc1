"""Benchmark: the outbox delivered to a fake Telegram or VK enforcing the sending limits; share of the limit, 429s.

Usage: .venv/bin/python bench/notify_bench.py [--platform telegram|vk] [--count N] [--rate R] [--chat-interval S]
                                              [--per-chat K]

The real pipeline: a temporary SQLite database migrated by `Application.start`, N outbox rows committed at once,
`app.notifier` with the limiter bot.toml configures (`--rate` overall, `--chat-interval` per chat) delivering
through the real `TelegramSender` (aiogram) to the fake Bot API of tests/fake_telegram.py, run in a child process
(as Telegram is another machine) and enforcing the same limits: more than R messages in any 1 s, or two to one chat
closer than S, is answered 429. The default is Telegram's real 30/s, so 10,000 take about 5.6 minutes;
`--rate 300` runs them in about 35 s, on a pace this 2-core machine keeps only to about 85%.
The outbox sweep the scheduler runs (a wake-up every `sweep_interval`) is emulated, so retried rows are picked up.

`--platform vk`: the same through the real `VkSender` (vkbottle), which waits for the limiter (`vk_per_second`,
`vk_chat_interval`) before every API request itself, to the fake VK API of tests/fake_vk.py, which answers any
request beyond R in 1 s with error 6 (VK allows a community token 20 a second: the default there, with 600
notifications and no per-chat interval). The residents allowed the community to write to them beforehand.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import itertools
import multiprocessing
import resource
import sys
import tempfile
import time
from bisect import bisect_left
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from sqlalchemy import func, select

from bot.adapters.telegram import TelegramSender, make_bot
from bot.app import Application
from bot.config import load_config
from bot.core.types import Button, Platform, keyboard_to_json
from bot.notifier import RateLimiter
from bot.services.notices import OPEN_APPEAL
from storage.db import session_factory
from storage.models import OutboxMessage
from storage.uow import UnitOfWork
from tests.fake_telegram import FakeTelegram

ROOT = Path(__file__).resolve().parent.parent
TOKEN = "123456:BENCH-token"
VK_TOKEN = "vk1.a.BENCH-token"
FIRST_CHAT = 10_000_000
TARGET_SHARE = 0.95


# The fake platform, in a child process


def serve_fake(connection: Connection, platform: Platform, rate: float, chat_interval: float, chats: int) -> None:
    # The fake counts a request when its loop gets to it, not when it reached the socket: a garbage-collector
    # pause here would bunch a few requests together and look like a burst we sent (Telegram's servers do not
    # pause with us). Reference counting still frees what the fake drops.
    gc.disable()
    asyncio.run(_serve_fake(connection, platform, rate, chat_interval, chats))


async def _serve_fake(
    connection: Connection, platform: Platform, rate: float, chat_interval: float, chats: int
) -> None:
    fake: Any
    if platform is Platform.VK:  # VK limits a community's requests overall; any chat may be written to once allowed
        from tests.fake_vk import FakeVK, User

        fake = FakeVK(token=VK_TOKEN, rate_limit=rate)
        for number in range(chats):
            fake.allow(User(FIRST_CHAT + number, f"Житель {number}"))
    else:
        fake = FakeTelegram(rate_limit=rate, chat_interval=chat_interval)
    connection.send(await fake.start())
    await asyncio.get_running_loop().run_in_executor(None, connection.recv)  # until the bench is done
    texts = [(chat, shown.text) for chat, messages in fake.chats.items() for shown in messages]
    connection.send(
        {
            "delivered": len(texts),
            "distinct": len(set(texts)),
            "throttled": fake.throttled,
            "sent_at": fake.sent_at,
            "busiest_second": busiest_second(fake.sent_at),
            "per_chat": Counter(len(messages) for messages in fake.chats.values()),  # messages -> chats with that many
        }
    )
    await fake.close()


def busiest_second(moments: list[float]) -> int:
    """The most messages that arrived within any 1 s (a window starting at an arrival)."""
    return max((bisect_left(moments, start + 1.0) - index for index, start in enumerate(moments)), default=0)


# The bot side


@dataclass
class Timing:
    """When each delivery round (one claimed batch) ran and when each send was let through the limiter."""

    rounds: list[tuple[float, float, int]] = field(default_factory=list)  # (start, end, claimed)
    sends: list[float] = field(default_factory=list)


class TimedLimiter:
    """The limiter bot.toml configures, noting when it lets a message (on VK: an API request) go."""

    def __init__(self, limiter: RateLimiter, timing: Timing) -> None:
        self._limiter = limiter
        self._timing = timing

    async def acquire(self, chat_id: str) -> None:
        await self._limiter.acquire(chat_id)
        self._timing.sends.append(time.perf_counter())


async def bench(
    platform: Platform, url: str, count: int, rate: float, chat_interval: float, per_chat: int
) -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as directory:
        if platform is Platform.VK:
            from tests.fake_vk import GROUP_ID

            section = f'[vk]\ngroup_id = {GROUP_ID}\napi_base = "{url}"\n'
            environ = {"PRIEMNAYA_VK_TOKEN": VK_TOKEN}
        else:
            section, environ = f'[telegram]\napi_base = "{url}"\n', {"PRIEMNAYA_TELEGRAM_TOKEN": TOKEN}
        config_path = Path(directory) / "bot.toml"
        config_path.write_text(
            f'[bot]\nauthority = "Бенчмарк"\ntexts = "{ROOT / "texts" / "ru.toml"}"\n'
            f'[database]\nurl = "sqlite+aiosqlite:///{directory}/bench.sqlite3"\n[faq]\npath = "{ROOT / "faq"}"\n'
            f"{section}[notifications]\n"
            f"{platform.value}_per_second = {rate}\n{platform.value}_chat_interval = {chat_interval}\n",
            encoding="utf-8",
        )
        config = load_config(config_path, environ=environ)
        app = await Application.start(config)
        try:
            return await deliver_all(app, platform, count, per_chat)
        finally:
            await app.close()


def timed_sender(
    app: Application, platform: Platform, timing: Timing
) -> tuple[Any, Any, Callable[[], Awaitable[None]]]:
    """The platform's real sender and the limiter for the notifier to keep, as `bot run` registers them (VK's
    sender waits for the limiter before each API request itself), and what closes the sender's session; the
    limiter notes each send it lets go."""
    limiter = app.rate_limiter(platform)
    assert limiter is not None
    timed: Any = TimedLimiter(limiter, timing)  # a RateLimiter to the notifier and the sender
    if platform is Platform.VK:  # vkbottle is imported for VK only, so the Telegram run's RSS is as before
        from bot.adapters.vk import VkSender, make_api

        api = make_api(app.config.settings.vk)
        return VkSender(api, timed, app.texts("platform.more_buttons")), None, api.http_client.close
    bot = make_bot(app.config.settings.telegram)
    return TelegramSender(bot), timed, bot.session.close


async def deliver_all(app: Application, platform: Platform, count: int, per_chat: int) -> dict[str, Any]:
    sessions = session_factory(app.engine)
    now = app.services.clock()
    notices = app.services.notices
    async with UnitOfWork(sessions) as uow:
        for index in range(count):
            number = f"А-2026-{index + 1:06d}"
            text = notices.texts("notify.stage", number=number, stage=notices.stage_name("accepted"))
            buttons = ((Button(notices.texts("notify.open_card"), f"{OPEN_APPEAL}:{number}"),),)
            uow.outbox.add(
                OutboxMessage(
                    platform=platform.value,
                    chat_id=str(FIRST_CHAT + index // per_chat),
                    text=text,
                    buttons=keyboard_to_json(buttons),
                    created_at=now,
                    due_at=now,
                )
            )
        await uow.commit()

    timing = Timing()
    sender, limiter, close_sender = timed_sender(app, platform, timing)
    notifier = app.notifier
    notifier.register(sender, limiter)
    deliver_due = notifier.deliver_due

    async def timed_round() -> int:  # the notifier's own round, timed; `run` calls it through the instance
        started = time.perf_counter()
        claimed = await deliver_due()
        timing.rounds.append((started, time.perf_counter(), claimed))
        return claimed

    notifier.deliver_due = timed_round  # type: ignore[method-assign]

    async def sweep() -> None:  # what the scheduler's outbox sweep does
        while True:
            await asyncio.sleep(app.config.settings.notifications.sweep_interval)
            notifier.wake()

    rate = getattr(app.config.settings.notifications, f"{platform.value}_per_second")
    bound = 3 * count / rate + 30  # seconds; the run stops by itself after this
    started_at, started, cpu_before = app.services.clock(), time.perf_counter(), _cpu()
    tasks = [asyncio.create_task(notifier.run()), asyncio.create_task(sweep())]
    statuses: dict[str, int] = {}
    try:
        while time.perf_counter() - started < bound:
            await asyncio.sleep(0.25)
            async with UnitOfWork(sessions) as uow:
                statuses = await uow.outbox.count_by_status()
            if statuses.get("pending", 0) == 0:
                break
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        await close_sender()
    cpu = _cpu() - cpu_before
    async with sessions() as session:
        last_sent: datetime | None = (await session.execute(select(func.max(OutboxMessage.sent_at)))).scalar()
    elapsed = (last_sent - started_at).total_seconds() if last_sent else time.perf_counter() - started
    return {
        "statuses": statuses,
        "elapsed": elapsed,
        "timed_out": statuses.get("pending", 0) > 0,
        "bound": bound,
        "started": started,
        "timing": timing,
        "cpu": cpu,
    }


def where_the_time_goes(timing: Timing, started: float, interval: float) -> list[str]:
    """Split the run: before the first send, the spacing of sends within a round, the gaps between rounds."""
    sends = sorted(timing.sends)
    spans = []  # per round: (round start, first send, last send, round end, sends)
    for start, end, _ in timing.rounds:
        inside = sends[bisect_left(sends, start) : bisect_left(sends, end)]
        if inside:
            spans.append((start, inside[0], inside[-1], end, len(inside)))
    if not spans:
        return []
    spacings = sum(n - 1 for *_, n in spans)
    within = sum(last - first for _, first, last, _, _ in spans)
    gaps = [following[1] - span[2] - interval for span, following in itertools.pairwise(spans)]
    tails = [end - last for _, _, last, end, _ in spans]
    claims = [first - start for start, first, _, _, _ in spans]
    return [
        f"rounds            {len(spans)} of up to {max(n for *_, n in spans)} sends",
        f"first send after  {(sends[0] - started) * 1000:.0f} ms",
        f"within rounds     {within:.2f} s for {spacings} spacings (ideal {spacings * interval:.2f} s): "
        f"{within / max(1, spacings) * 1000:.3f} ms apart vs {interval * 1000:.3f} ms",
        f"between rounds    {sum(gaps):.2f} s lost in {len(gaps)} gaps of {_mean(gaps) * 1000:.1f} ms beyond the "
        f"interval: last send's reply + settles {_mean(tails) * 1000:.1f} ms, "
        f"round start (claim) to its first send {_mean(claims) * 1000:.1f} ms",
    ]


def _cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def _mean(values: list[float]) -> float:
    return sum(values) / len(values) if values else 0.0


# platform -> (count, rate, chat interval) by default: Telegram's 30/s with 1 s per chat; VK's 20 requests/s
DEFAULTS = {Platform.TELEGRAM: (10_000, 30.0, 1.0), Platform.VK: (600, 20.0, 0.0)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--platform", choices=["telegram", "vk"], default="telegram")
    parser.add_argument("--count", type=int, help="notifications to deliver (default 10,000; VK: 600)")
    parser.add_argument("--rate", type=float, help="messages/s overall, ours and the fake's (default 30; VK: 20)")
    parser.add_argument("--chat-interval", type=float, help="least seconds between two to one chat (default 1; VK: 0)")
    parser.add_argument("--per-chat", type=int, default=1, help="consecutive notifications to each chat")
    args = parser.parse_args()
    target = Platform(args.platform)
    count, rate, chat_interval = (
        default if given is None else given
        for given, default in zip((args.count, args.rate, args.chat_interval), DEFAULTS[target], strict=True)
    )
    chats = -(-count // args.per_chat)

    context = multiprocessing.get_context("fork")  # before any event loop or thread exists
    ours, theirs = context.Pipe()
    fake = context.Process(target=serve_fake, args=(theirs, target, rate, chat_interval, chats), daemon=True)
    fake.start()
    try:
        url = ours.recv()
        result = asyncio.run(bench(target, url, count, rate, chat_interval, args.per_chat))
        ours.send("done")
        platform = ours.recv()
    finally:
        fake.join(10)
        if fake.is_alive():
            fake.kill()

    statuses, elapsed = result["statuses"], result["elapsed"]
    achieved = statuses.get("sent", 0) / elapsed
    share = achieved / rate
    undelivered = count - statuses.get("sent", 0)
    expected = Counter({args.per_chat: count // args.per_chat})  # chats by the messages each should get
    if count % args.per_chat:
        expected[count % args.per_chat] += 1
    per_chat = platform["per_chat"]
    each_as_expected = per_chat == expected
    print(f"count             {count} to {chats} chats")
    if target is Platform.VK:
        ours = f", and ours 1 per {chat_interval:g} s per chat" if chat_interval else ", none per chat"
        print(f"limit             {rate:g} API requests/s overall (beyond: VK error 6){ours}")
    else:
        print(f"limit             {rate:g} messages/s overall, 1 per {chat_interval:g} s per chat")
    print(f"elapsed           {elapsed:.2f} s (ideal {count / rate:.2f} s)")
    print(f"achieved          {achieved:.2f} messages/s")
    print(f"share of limit    {share:.2%} (target {TARGET_SHARE:.0%})")
    if target is Platform.VK:
        print(f"rate errors       {platform['throttled']} (VK error 6 «Too many requests per second»; target 0)")
    else:
        print(f"429s received     {platform['throttled']} (target 0)")
    print(f"undelivered       {undelivered} (outbox: {dict(sorted(statuses.items()))})")
    print(
        f"at the platform   {platform['delivered']} messages, {platform['delivered'] - platform['distinct']} "
        f"duplicates, busiest 1 s window {platform['busiest_second']} "
        f"(at our sender: {busiest_second(sorted(result['timing'].sends))})"
    )
    shown = ", ".join(f"{chats_with} with {messages}" for messages, chats_with in sorted(per_chat.items()))
    print(
        f"per chat          {sum(per_chat.values())} chats got messages: {shown or 'none'} "
        f"({'as expected' if each_as_expected else f'expected {args.per_chat} each'})"
    )
    print(f"bot CPU           {result['cpu']:.2f} s ({result['cpu'] / elapsed:.0%} of one core while delivering)")
    print(f"peak RSS          {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MiB (bot process)")
    for line in where_the_time_goes(result["timing"], result["started"], 1.0 / rate):
        print(line)
    if result["timed_out"]:
        print(f"STOPPED after {result['bound']:.0f} s with messages still pending")
    verdict = share >= TARGET_SHARE and platform["throttled"] == 0 and undelivered == 0 and each_as_expected
    print("verdict           " + ("met" if verdict else "NOT met"))
    sys.exit(0 if verdict else 1)


if __name__ == "__main__":
    main()
