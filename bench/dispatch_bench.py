"""Benchmark: updates per second and per-update latency through the core (dispatcher + storage), no platform.

Usage: .venv/bin/python bench/dispatch_bench.py [--updates N] [--residents R] [--database URL]
Each resident presses "Задать вопрос" (the bot now waits for a question) and then asks one the FAQ cannot answer,
so every update changes the dialog state and commits a transaction: the write path, which updates that only read
a resident's cached conversation skip.
"""

from __future__ import annotations

import argparse
import asyncio
import resource
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bot.app import Application
from bot.config import load_config
from bot.core.types import Incoming, Platform

ROOT = Path(__file__).resolve().parent.parent


async def run(updates: int, residents: int, database_url: str | None) -> None:
    with tempfile.TemporaryDirectory() as directory:
        url = database_url or f"sqlite+aiosqlite:///{directory}/bench.sqlite3"
        config_path = Path(directory) / "bot.toml"
        config_path.write_text(
            f'[bot]\nauthority = "Бенчмарк"\ntexts = "{ROOT / "texts" / "ru.toml"}"\n[database]\nurl = "{url}"\n'
            f'[faq]\npath = "{ROOT / "faq"}"\n',
            encoding="utf-8",
        )
        app = await Application.start(load_config(config_path, environ={}))
        latencies: list[float] = []

        async def resident(number: int, count: int) -> None:
            for step in range(count):
                incoming = Incoming(
                    platform=Platform.TELEGRAM,
                    user_id=str(number),
                    chat_id=str(number),
                    text=None if step % 2 == 0 else "что-то непонятное",
                    payload="menu:ask" if step % 2 == 0 else None,
                )
                started = time.perf_counter()
                replies = await app.dispatcher.feed(incoming)
                latencies.append(time.perf_counter() - started)
                if not replies or "что-то пошло не так" in replies[0].text:
                    raise SystemExit(f"resident {number} got an error reply: {replies}")

        per_resident = updates // residents
        started = time.perf_counter()
        await asyncio.gather(*(resident(n, per_resident) for n in range(residents)))
        elapsed = time.perf_counter() - started
        await app.close()
    latencies.sort()
    total = len(latencies)
    print(f"database          {url.split(':', 1)[0]}")
    print(f"updates           {total} from {residents} residents")
    print(f"updates/s         {total / elapsed:.0f}")
    print(f"latency median    {statistics.median(latencies) * 1000:.2f} ms")
    print(f"latency p99       {latencies[int(total * 0.99) - 1] * 1000:.2f} ms")
    print(f"peak RSS          {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MiB")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--updates", type=int, default=2000)
    parser.add_argument("--residents", type=int, default=100)
    parser.add_argument("--database", default=None, help="a database URL (default: a temporary SQLite file)")
    args = parser.parse_args()
    asyncio.run(run(args.updates, args.residents, args.database))


if __name__ == "__main__":
    main()
