"""Benchmark: updates/s and peak RSS of our Telegram bot beside a bare aiogram echo bot, on one fake Bot API.

Usage: .venv/bin/python bench/throughput_bench.py [--updates N] [--residents R] [--database URL] [--rounds K]
Residents ask the FAQ questions of tests/data/faq_eval.jsonl. Each bot runs in its own process (so its RSS is its
own) and long-polls the fake server in this process, which has every update queued before the bot starts. Our bot
is `python -m bot run`, as deployed (with the notifier, the scheduler and the FAQ miss log). The rate counts from
the bot's first getUpdates to the answer to its last sendMessage; peak RSS is the process's high-water mark.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os
import signal
import statistics
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.fake_telegram import FakeTelegram, User  # noqa: E402

TOKEN = "123456:BENCH"
TARGET = 0.5  # our bot should reach at least half the echo bot's rate


async def measure(
    bot: str, questions: list[str], updates: int, residents: int, database: str, workers: int
) -> dict[str, float]:
    """Queue the updates, run one bot in a subprocess until every update is answered, and return its figures."""
    fake = FakeTelegram()
    await fake.start()
    users = [User(100_000 + number, f"Житель {number}") for number in range(residents)]
    for number in range(updates):
        fake.push(fake.message_update(users[number % residents], questions[number % len(questions)]))
    last_id = updates
    with tempfile.TemporaryDirectory() as directory:
        if bot == "echo":
            command = (sys.executable, __file__, "--worker", "echo", "--api-base", fake.url)
        else:
            command = (
                sys.executable,
                "-m",
                "bot",
                "--config",
                our_config(Path(directory), fake.url, database, workers),
                "run",
            )
        process = await asyncio.create_subprocess_exec(
            *command, cwd=ROOT, env={**os.environ, "PRIEMNAYA_TELEGRAM_TOKEN": TOKEN}
        )
        try:
            await fake.wait_until(lambda: fake.confirmed_below > last_id, seconds=600)
            await quiet(fake)
            peak_rss_kb = high_water_mark_kb(process.pid)
            process.send_signal(signal.SIGTERM)
            if await asyncio.wait_for(process.wait(), 60) != 0:
                raise SystemExit(f"{bot}: the bot exited with code {process.returncode}")
        finally:
            if process.returncode is None:
                process.kill()
            await fake.close()
    sent = [call for call in fake.calls if call.method == "sendMessage"]
    answered_chats = {call.params["chat_id"] for call in sent}
    if len(answered_chats) != residents:
        raise SystemExit(f"{bot}: only {len(answered_chats)} of {residents} residents got an answer")
    started = next(call.received_at for call in fake.calls if call.method == "getUpdates")
    finished = max(call.answered_at or 0.0 for call in sent)
    return {
        "rate": updates / (finished - started),
        "messages": len(sent),
        "rss_mb": peak_rss_kb / 1024,
    }


def our_config(directory: Path, api_base: str, database: str, workers: int) -> str:
    path = directory / "bot.toml"
    path.write_text(
        f'[bot]\nauthority = "Бенчмарк"\ntexts = "{ROOT / "texts" / "ru.toml"}"\n'
        f'log_level = "ERROR"\nworkers = {workers}\n'
        f'[faq]\npath = "{ROOT / "faq"}"\n'
        f'[database]\nurl = "{database or f"sqlite+aiosqlite:///{directory}/bench.sqlite3"}"\n'
        f'[telegram]\napi_base = "{api_base}"\n'
        # The fake sets no limits, and neither does the echo bot: the bench measures the bots, not Telegram's pace.
        "[notifications]\ntelegram_per_second = 1000000.0\ntelegram_chat_interval = 0.0\n",
        encoding="utf-8",
    )
    return str(path)


def high_water_mark_kb(pid: int) -> int:
    """The peak resident set size of a running process (Linux)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1])
    raise SystemExit("no VmHWM in /proc: peak RSS is measured on Linux only")


async def quiet(fake: FakeTelegram, seconds: float = 1.0) -> None:
    """Wait until, besides idle long polls, no call has reached the fake server for `seconds`."""

    def work() -> list[object]:
        return [call for call in fake.calls if call.method != "getUpdates"]

    while True:
        count = len(work())
        await asyncio.sleep(seconds)
        if len(work()) == count and all(
            call.answered_at is not None for call in fake.calls if call.method != "getUpdates"
        ):
            return


async def main(updates: int, residents: int, database: str, rounds: int, workers: int) -> None:
    lines = (ROOT / "tests" / "data" / "faq_eval.jsonl").read_text(encoding="utf-8").splitlines()
    questions = [json.loads(line)["query"] for line in lines if line.strip()]
    print(
        f"{updates} updates from {residents} residents asking FAQ questions, polled from a fake Bot API; "
        f"{rounds} rounds of each bot, alternating (this VM's timings vary by 20% from run to run)"
    )
    runs: dict[str, list[dict[str, float]]] = {"echo": [], "ours": []}
    for _ in range(rounds):
        for bot in runs:
            runs[bot].append(await measure(bot, questions, updates, residents, database, workers))
    ours = (
        f"Priemnaya ({'PostgreSQL' if database.startswith('postgresql') else 'SQLite'}{', no memory' * (workers > 1)})"
    )
    rates = {bot: statistics.median(run["rate"] for run in bot_runs) for bot, bot_runs in runs.items()}
    for bot, title in (("echo", "bare aiogram echo bot"), ("ours", ours)):
        every = ", ".join(f"{run['rate']:.0f}" for run in runs[bot])
        print(
            f"  {title:<24} median {rates[bot]:5.0f} updates/s ({every})   "
            f"peak RSS {max(run['rss_mb'] for run in runs[bot]):4.0f} MB   "
            f"{runs[bot][0]['messages']:.0f} messages sent per round"
        )
    ratio = rates["ours"] / rates["echo"]
    verdict = "meets" if ratio >= TARGET else "MISSES"
    print(f"  ours / echo = {ratio:.0%} of the medians ({verdict} the target of {TARGET:.0%})")


# The echo bot, run as `throughput_bench.py --worker echo --api-base URL` until SIGTERM.


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


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
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
        asyncio.run(echo_bot(args.api_base))
    else:
        asyncio.run(main(args.updates, args.residents, args.database, args.rounds, args.workers))
