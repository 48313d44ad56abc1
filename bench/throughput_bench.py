"""Benchmark: updates/s and peak RSS of our Telegram bot beside a bare aiogram echo bot, on one fake Bot API.

Usage: .venv/bin/python bench/throughput_bench.py [--updates N] [--residents R] [--database URL]
Residents ask the FAQ questions of tests/data/faq_eval.jsonl. Each bot runs in its own process (so its RSS is its
own) and long-polls the fake server in this process, which has every update queued before the bot starts. The rate
counts from the bot's first getUpdates to the answer to its last sendMessage.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import resource
import signal
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from handlers.menu import command_menu  # noqa: E402
from tests.fake_telegram import FakeTelegram, User  # noqa: E402

TOKEN = "123456:BENCH"
TARGET = 0.5  # our bot should reach at least half the echo bot's rate


async def measure(bot: str, questions: list[str], updates: int, residents: int, database: str) -> dict[str, float]:
    """Queue the updates, run one bot in a subprocess until every update is answered, and return its figures."""
    fake = FakeTelegram()
    await fake.start()
    users = [User(100_000 + number, f"Житель {number}") for number in range(residents)]
    for number in range(updates):
        fake.push(fake.message_update(users[number % residents], questions[number % len(questions)]))
    last_id = updates
    process = await asyncio.create_subprocess_exec(
        *(sys.executable, __file__, "--worker", bot, "--api-base", fake.url, "--database", database),
        stdout=asyncio.subprocess.PIPE,
        cwd=ROOT,
    )
    try:
        await fake.wait_until(lambda: fake.confirmed_below > last_id, seconds=600)
        await quiet(fake)
        process.send_signal(signal.SIGTERM)
        stdout, _ = await asyncio.wait_for(process.communicate(), 60)
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
        "rss_mb": json.loads(stdout)["peak_rss_kb"] / 1024,
    }


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


async def main(updates: int, residents: int, database: str) -> None:
    lines = (ROOT / "tests" / "data" / "faq_eval.jsonl").read_text(encoding="utf-8").splitlines()
    questions = [json.loads(line)["query"] for line in lines if line.strip()]
    print(f"{updates} updates from {residents} residents asking FAQ questions, polled from a fake Bot API")
    results = {bot: await measure(bot, questions, updates, residents, database) for bot in ("echo", "ours")}
    ours = f"Priemnaya ({'PostgreSQL' if database.startswith('postgresql') else 'SQLite'})"
    for bot, title in (("echo", "bare aiogram echo bot"), ("ours", ours)):
        figures = results[bot]
        print(
            f"  {title:<24} {figures['rate']:8.0f} updates/s   peak RSS {figures['rss_mb']:6.0f} MB   "
            f"{figures['messages']:.0f} messages sent"
        )
    ratio = results["ours"]["rate"] / results["echo"]["rate"]
    verdict = "meets" if ratio >= TARGET else "MISSES"
    print(f"  ours / echo = {ratio:.0%} ({verdict} the target of {TARGET:.0%})")


# The bots, each run as `throughput_bench.py --worker NAME --api-base URL` until SIGTERM; they print peak RSS.


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


async def our_bot(api_base: str, database: str) -> None:
    from bot.adapters.telegram import TelegramAdapter
    from bot.app import Application
    from bot.config import load_config

    with tempfile.TemporaryDirectory() as directory:
        config_path = Path(directory) / "bot.toml"
        config_path.write_text(
            f'[bot]\nauthority = "Бенчмарк"\ntexts = "{ROOT / "texts" / "ru.toml"}"\n[faq]\npath = "{ROOT / "faq"}"\n'
            f'[database]\nurl = "{database or f"sqlite+aiosqlite:///{directory}/bench.sqlite3"}"\n'
            f'[telegram]\napi_base = "{api_base}"\n',
            encoding="utf-8",
        )
        app = await Application.start(load_config(config_path, environ={"PRIEMNAYA_TELEGRAM_TOKEN": TOKEN}))
        stop = asyncio.Event()
        asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop.set)
        try:
            await TelegramAdapter(app.config.settings.telegram, app.dispatcher.feed, command_menu(app.texts)).run(stop)
        finally:
            await app.close()


def worker(name: str, api_base: str, database: str) -> None:
    logging.basicConfig(level=logging.ERROR)
    asyncio.run(echo_bot(api_base) if name == "echo" else our_bot(api_base, database))
    print(json.dumps({"peak_rss_kb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss}))


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--updates", type=int, default=5000)
    parser.add_argument("--residents", type=int, default=500)
    parser.add_argument("--database", default="", help="our bot's database URL (default: a new SQLite file)")
    parser.add_argument("--worker", choices=["echo", "ours"], help=argparse.SUPPRESS)
    parser.add_argument("--api-base", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        worker(args.worker, args.api_base, args.database)
    else:
        asyncio.run(main(args.updates, args.residents, args.database))
