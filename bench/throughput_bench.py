"""Benchmark: updates/s and peak RSS of our bot beside a bare echo bot (aiogram / vkbottle), on one fake platform API.

Usage: .venv/bin/python bench/throughput_bench.py [--platform telegram|vk] [--updates N] [--residents R]
                                                  [--database URL] [--rounds K]
Residents ask the FAQ questions of tests/data/faq_eval.jsonl. Each bot runs in its own process (so its RSS is its
own) and long-polls the fake server in this process. Our bot is `python -m bot run`, as deployed (with the
notifier, the scheduler and the FAQ miss log). Peak RSS is the process's high-water mark.

Telegram: every update is queued before the bot starts; the rate counts from the bot's first getUpdates to the
answer to its last sendMessage. VK: a bot with no stored position long-polls from the newest event on, skipping
any queued before it started, so every message is pushed at once when its first long poll arrives; the rate
counts from that push to the answer to the last messages.send (ours also sends "typing..." where an answer takes
over 0.5 s: messages.setActivity).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os
import random
import signal
import statistics
import sys
import tempfile
from collections import Counter
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

SCRIPT = Path(__file__).resolve()
ROOT = SCRIPT.parent.parent
sys.path.insert(0, str(ROOT))

from tests import fake_telegram, fake_vk  # noqa: E402

TOKEN = "123456:BENCH"
VK_TOKEN = "vk1.a.BENCH"
TOKENS = {"telegram": ("PRIEMNAYA_TELEGRAM_TOKEN", TOKEN), "vk": ("PRIEMNAYA_VK_TOKEN", VK_TOKEN)}
ECHO = {"telegram": "bare aiogram echo bot", "vk": "bare vkbottle echo bot"}
TARGET = 0.5  # our bot should reach at least half the echo bot's rate


async def measure(
    platform: str, bot: str, questions: list[str], updates: int, residents: int, database: str, workers: int
) -> dict[str, float]:
    """Run one bot in a subprocess until every update is answered, and return its figures."""
    measure_on = measure_vk if platform == "vk" else measure_telegram
    return await measure_on(bot, questions, updates, residents, database, workers)


async def measure_telegram(
    bot: str, questions: list[str], updates: int, residents: int, database: str, workers: int
) -> dict[str, float]:
    fake = fake_telegram.FakeTelegram()
    await fake.start()
    try:
        users = [fake_telegram.User(100_000 + number, f"Житель {number}") for number in range(residents)]
        for number in range(updates):
            fake.push(fake.message_update(users[number % residents], questions[number % len(questions)]))

        async def answered() -> None:
            await fake.wait_until(lambda: fake.confirmed_below > updates, seconds=600)
            await quiet(fake.calls, idle="getUpdates")

        rss_mb = await run_bot("telegram", bot, fake.url, database, workers, answered)
    finally:
        await fake.close()
    sent = [call for call in fake.calls if call.method == "sendMessage"]
    answered_chats = {call.params["chat_id"] for call in sent}
    if len(answered_chats) != residents:
        raise SystemExit(f"{bot}: only {len(answered_chats)} of {residents} residents got an answer")
    started = next(call.received_at for call in fake.calls if call.method == "getUpdates")
    finished = max(call.answered_at or 0.0 for call in sent)
    return {"rate": updates / (finished - started), "messages": len(sent), "rss_mb": rss_mb}


async def measure_vk(
    bot: str, questions: list[str], updates: int, residents: int, database: str, workers: int
) -> dict[str, float]:
    fake = fake_vk.FakeVK(token=VK_TOKEN)
    await fake.start()
    try:
        users = [fake_vk.User(100_000 + number, f"Житель {number}") for number in range(residents)]
        events = [
            fake.message_new(users[number % residents], questions[number % len(questions)]) for number in range(updates)
        ]
        asked = Counter(event["object"]["message"]["peer_id"] for event in events)  # chat -> messages written there
        pushed_at = 0.0

        def everyone_answered() -> bool:  # every message has (at least) a reply in its chat
            return len(fake.sent_at) >= updates and all(len(fake.chats.get(c, ())) >= n for c, n in asked.items())

        async def answered() -> None:
            nonlocal pushed_at
            await fake.wait_until(lambda: fake.polled_ts > 0, seconds=120)  # the bot's first long poll
            pushed_at = asyncio.get_running_loop().time()
            for event in events:
                fake.push(event)
            await fake.wait_until(everyone_answered, seconds=600)
            await quiet(fake.calls)  # the long poll is not among the calls

        rss_mb = await run_bot("vk", bot, fake.url, database, workers, answered)
    finally:
        await fake.close()
    sent = [call for call in fake.calls if call.method == "messages.send"]
    answered_chats = {call.params["peer_id"] for call in sent}
    if len(answered_chats) != residents:
        raise SystemExit(f"{bot}: only {len(answered_chats)} of {residents} residents got an answer")
    finished = max(call.answered_at or 0.0 for call in sent)
    return {"rate": updates / (finished - pushed_at), "messages": len(sent), "rss_mb": rss_mb}


async def run_bot(
    platform: str, bot: str, api_base: str, database: str, workers: int, answered: Callable[[], Awaitable[None]]
) -> float:
    """Start one bot against the fake at `api_base`, stop it once `answered()` returns; its peak RSS in MB."""
    with tempfile.TemporaryDirectory() as directory:
        if bot == "echo":  # in the temporary directory, so that nothing it may write lands in the repository
            command = (sys.executable, str(SCRIPT), "--worker", "echo", "--platform", platform)
            command += ("--api-base", api_base)
            cwd = Path(directory)
        else:
            config = our_config(Path(directory), platform, api_base, database, workers)
            command, cwd = (sys.executable, "-m", "bot", "--config", config, "run"), ROOT
        variable, token = TOKENS[platform]
        others = {name for name, _ in TOKENS.values()} - {variable}  # only this platform runs
        env = {**{name: value for name, value in os.environ.items() if name not in others}, variable: token}
        process = await asyncio.create_subprocess_exec(*command, cwd=cwd, env=env)
        try:
            await answered()
            peak_rss_kb = high_water_mark_kb(process.pid)
            process.send_signal(signal.SIGTERM)
            try:
                async with asyncio.timeout(60):
                    code = await process.wait()
            except TimeoutError:
                raise SystemExit(f"{bot}: the bot was still running 60 s after SIGTERM") from None
            if code != 0:
                raise SystemExit(f"{bot}: the bot exited with code {code}")
        finally:
            if process.returncode is None:
                process.kill()
    return peak_rss_kb / 1024


def our_config(directory: Path, platform: str, api_base: str, database: str, workers: int) -> str:
    if platform == "vk":
        section = f'[vk]\ngroup_id = {fake_vk.GROUP_ID}\napi_base = "{api_base}"\nmode = "longpoll"\n'
    else:
        section = f'[telegram]\napi_base = "{api_base}"\n'
    path = directory / "bot.toml"
    path.write_text(
        f'[bot]\nauthority = "Бенчмарк"\ntexts = "{ROOT / "texts" / "ru.toml"}"\n'
        f'log_level = "ERROR"\nworkers = {workers}\n'
        f'[faq]\npath = "{ROOT / "faq"}"\n'
        f'[database]\nurl = "{database or f"sqlite+aiosqlite:///{directory}/bench.sqlite3"}"\n'
        f"{section}"
        # The fake sets no limits, and neither does the echo bot: the bench measures the bots, not the platform's pace.
        f"[notifications]\n{platform}_per_second = 1000000.0\n{platform}_chat_interval = 0.0\n",
        encoding="utf-8",
    )
    return str(path)


def high_water_mark_kb(pid: int) -> int:
    """The peak resident set size of a running process (Linux)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1])
    raise SystemExit("no VmHWM in /proc: peak RSS is measured on Linux only")


async def quiet(calls: list[Any], idle: str = "", seconds: float = 1.0) -> None:
    """Wait until, besides idle long polls (calls of the method `idle`), no call has reached the fake server for
    `seconds`, and every call was answered."""

    def work() -> list[Any]:
        return [call for call in calls if call.method != idle]

    while True:
        count = len(work())
        await asyncio.sleep(seconds)
        if len(work()) == count and all(call.answered_at is not None for call in work()):
            return


async def main(platform: str, updates: int, residents: int, database: str, rounds: int, workers: int) -> None:
    lines = (ROOT / "tests" / "data" / "faq_eval.jsonl").read_text(encoding="utf-8").splitlines()
    questions = [json.loads(line)["query"] for line in lines if line.strip()]
    api = "Bot API" if platform == "telegram" else "VK API"
    print(
        f"{updates} updates from {residents} residents asking FAQ questions, polled from a fake {api}; "
        f"{rounds} rounds of each bot, alternating (this VM's timings vary by 20% from run to run)"
    )
    runs: dict[str, list[dict[str, float]]] = {"echo": [], "ours": []}
    for _ in range(rounds):
        for bot in runs:
            runs[bot].append(await measure(platform, bot, questions, updates, residents, database, workers))
    ours = (
        f"Priemnaya ({'PostgreSQL' if database.startswith('postgresql') else 'SQLite'}{', no memory' * (workers > 1)})"
    )
    rates = {bot: statistics.median(run["rate"] for run in bot_runs) for bot, bot_runs in runs.items()}
    for bot, title in (("echo", ECHO[platform]), ("ours", ours)):
        every = ", ".join(f"{run['rate']:.0f}" for run in runs[bot])
        print(
            f"  {title:<24} median {rates[bot]:5.0f} updates/s ({every})   "
            f"peak RSS {max(run['rss_mb'] for run in runs[bot]):4.0f} MB   "
            f"{runs[bot][0]['messages']:.0f} messages sent per round"
        )
    ratio = rates["ours"] / rates["echo"]
    verdict = "meets" if ratio >= TARGET else "MISSES"
    print(f"  ours / echo = {ratio:.0%} of the medians ({verdict} the target of {TARGET:.0%})")


# The echo bots, run as `throughput_bench.py --worker echo --platform P --api-base URL` until SIGTERM.


async def echo_bot(api_base: str) -> None:
    from aiogram import Bot, Dispatcher
    from aiogram.client.session.aiohttp import AiohttpSession
    from aiogram.client.telegram import TelegramAPIServer
    from aiogram.types import Message

    bot = Bot(TOKEN, session=AiohttpSession(api=TelegramAPIServer.from_base(api_base)))
    dispatcher = Dispatcher()

    @dispatcher.message()
    async def echo(message: Message) -> None:
        await message.answer(message.text or "?")

    await dispatcher.start_polling(bot, handle_signals=True)


async def vk_echo_bot(api_base: str) -> None:
    from vkbottle import API
    from vkbottle.bot import Bot, Message
    from vkbottle.polling import BotPolling

    class Polling(BotPolling):
        def save_server_ts(self, server: dict[str, Any]) -> None:
            """vkbottle's state file (.vkbottle/ in the working directory) is not wanted."""

    api = API(VK_TOKEN)
    api.API_URL = f"{api_base}/method/"
    bot = Bot(api=api, polling=Polling(api))

    @bot.on.message()
    async def echo(message: Message) -> None:
        await bot.api.messages.send(
            peer_id=message.peer_id, message=message.text or "?", random_id=random.randint(1, 2**31 - 1)
        )

    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signal_number in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signal_number, stop.set)
    polling = asyncio.create_task(bot.run_polling())
    stopping = asyncio.create_task(stop.wait())
    await asyncio.wait({polling, stopping}, return_when=asyncio.FIRST_COMPLETED)
    for task in (polling, stopping):
        task.cancel()
    await asyncio.gather(polling, stopping, return_exceptions=True)
    await api.http_client.close()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--platform", choices=["telegram", "vk"], default="telegram")
    parser.add_argument("--updates", type=int, default=5000)
    parser.add_argument("--residents", type=int, default=500)
    parser.add_argument("--database", default="", help="our bot's database URL (default: a new SQLite file)")
    parser.add_argument("--rounds", type=int, default=3, help="runs of each bot; the medians are compared")
    parser.add_argument("--workers", type=int, default=1, help="our bot's [bot] workers: above 1 it keeps no memory")
    parser.add_argument("--worker", choices=["echo"], help=argparse.SUPPRESS)
    parser.add_argument("--api-base", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        logging.basicConfig(level=logging.ERROR)
        asyncio.run(vk_echo_bot(args.api_base) if args.platform == "vk" else echo_bot(args.api_base))
    else:
        asyncio.run(main(args.platform, args.updates, args.residents, args.database, args.rounds, args.workers))
