"""Benchmark: the dashboard's pages and exports with many appeals on PostgreSQL; the 95th percentile per page.

Usage: .venv/bin/python bench/dashboard_bench.py [--appeals 100000] [--days 730] [--requests 20] [--postgres URL]

Creates a database of its own on the PostgreSQL server (default: the one at 127.0.0.1:5432, as the tests use),
seeds `--appeals` appeals over the last `--days` days (topics, departments, stages, first responses, answers,
ratings, a creation event and a move each; the default is two years of a large city, about 140 a day; `--days 90`
puts them all into the overview's default period, the worst case), works out their first-response times as the
bot does once, vacuums and analyzes (as autovacuum would), serves the real dashboard on 127.0.0.1
and times `--requests` requests of each page over HTTP with a signed-in session: the overview of 90 days and of a
year, the list (a department and a stage), a text search, one card, the XLSX and CSV exports of a week and of a
month, and the XLSX of the overview's 90 days: the first request of each apart (it fills the caches), then
`--requests` rounds with the pages in turn; and the longest stall of the event loop meanwhile. Drops the database
at the end. Target: p95 under 300 ms.
"""

from __future__ import annotations

import argparse
import asyncio
import math
import random
import statistics
import sys
import time
import uuid
from datetime import timedelta
from pathlib import Path

import aiohttp
import asyncpg
from sqlalchemy import insert, text
from sqlalchemy.engine import make_url

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bot.app import appeal_policy, load_texts
from bot.cli import settle_garbage_collector
from bot.config import load_config
from bot.dashboard import Dashboard
from bot.report import settle
from bot.services.sign_in import sign_in_link
from bot.services.staff import Roster
from bot.web import WebServer
from storage.db import create_engine, session_factory, upgrade
from storage.models import Appeal, AppealEvent, Rating, Resident, utcnow
from storage.uow import UnitOfWork

STAGES = ["new", "accepted", "in_progress", "answered", "closed", "rejected"]
WORDS = "яма лифт отопление мусор фонарь снег дерево собаки крыша вода автобус светофор парк площадка".split()


async def seed(url: str, count: int, days: int) -> None:
    engine = create_engine(url, pool_size=2)
    await upgrade(engine)
    config = load_config(Path("bot.toml"), environ={})
    categories = config.settings.appeals.categories
    now = utcnow()
    rng = random.Random(7)
    async with engine.begin() as connection:
        await connection.execute(
            insert(Resident), [{"platform": "telegram", "platform_user_id": str(n)} for n in range(1, 5001)]
        )
    # Numbered and stored in the order they were opened, as the bot files them: the table's physical order
    # follows the time of opening, which is what the period's index scans find in a real database.
    opened = sorted(now - timedelta(minutes=rng.randrange(days * 24 * 60)) for _ in range(count))
    batch = 5000
    for start in range(0, count, batch):
        appeals, events, ratings = [], [], []
        for n in range(start, min(count, start + batch)):
            category = rng.choice(list(categories))
            created = opened[n]
            stage = rng.choice(STAGES)
            score = rng.randint(1, 5) if stage == "closed" else None
            responded = created + timedelta(hours=rng.uniform(0.5, 20)) if stage != "new" else None
            answered = created + timedelta(days=rng.uniform(1, 35)) if stage in ("answered", "closed") else None
            appeals.append(
                {
                    "id": n + 1,
                    "number": f"А-2026-{n + 1:06d}",
                    "resident_id": rng.randrange(1, 5001),
                    "category": category,
                    "department": categories[category],
                    "stage": stage,
                    "description": f"{rng.choice(WORDS)} {rng.choice(WORDS)} у дома {rng.randrange(1, 200)}",
                    "created_at": created,
                    "updated_at": answered or responded or created,
                    "first_response_due_at": created + timedelta(hours=8),
                    "resolution_due_at": created + timedelta(days=30),
                    "first_response_at": responded,
                    "answered_at": answered,
                    "closed_at": answered if stage == "closed" else None,
                    # the moments the bot keeps on the appeal as it moves it (bot.services.appeals)
                    "accepted_at": responded if stage == "accepted" else None,
                    "in_progress_at": responded if stage == "in_progress" else None,
                    "reached_closed_at": answered if stage == "closed" else None,
                    "actors": "staff:bench" if responded is not None else "",
                    "last_score": score,
                    "last_rated_at": answered if score is not None else None,
                }
            )
            events.append({"appeal_id": n + 1, "actor": "resident", "to_stage": "new", "created_at": created})
            if responded is not None:
                events.append({"appeal_id": n + 1, "actor": "staff:bench", "from_stage": "new", "to_stage": stage,
                               "created_at": responded})  # fmt: skip
            if score is not None:
                ratings.append({"appeal_id": n + 1, "score": score, "created_at": answered})
        async with engine.begin() as connection:
            await connection.execute(insert(Appeal), appeals)
            await connection.execute(insert(AppealEvent), events)
            if ratings:
                await connection.execute(insert(Rating), ratings)
    started = time.perf_counter()
    async with UnitOfWork(session_factory(engine)) as uow:
        settled = await settle(uow, appeal_policy(config).calendar)
    took = time.perf_counter() - started
    print(f"worked out the first-response times in working hours of {settled:,} appeals in {took:.1f} s (once; the bot"
          " then works out only those first answered since the last report)")  # fmt: skip
    async with engine.connect() as connection:
        await connection.execution_options(isolation_level="AUTOCOMMIT")
        await connection.execute(text("VACUUM ANALYZE"))
    await engine.dispose()


class LoopWatch:
    """The longest the event loop went without a turn: it serves the dashboard as it serves the bot's chats, so a
    long stall is a resident waiting for an answer while a manager downloads."""

    def __init__(self) -> None:
        self.longest = 0.0  # ms

    async def watch(self) -> None:
        while True:
            started = time.perf_counter()
            await asyncio.sleep(0.001)
            self.longest = max(self.longest, (time.perf_counter() - started) * 1000 - 1)


async def measure(url: str, requests: int) -> tuple[dict[str, list[float]], dict[str, float]]:
    config = load_config(Path("bot.toml"), environ={})
    engine = create_engine(url, pool_size=5)
    sessions = session_factory(engine)
    roster = Roster([])
    dashboard = Dashboard(sessions, load_texts(config), appeal_policy(config), roster, "Бенчмарк")
    from bot.config import WebSettings

    server = WebServer(WebSettings(host="127.0.0.1", port=0), {}, dashboard.routes())
    await server.start()
    settle_garbage_collector()  # as `python -m bot run` does once started
    base = f"http://127.0.0.1:{server.port}"
    timings: dict[str, list[float]] = {}
    stalls: dict[str, float] = {}
    loop = LoopWatch()
    watching = asyncio.create_task(loop.watch())

    async def timed(name: str, url: str) -> float:
        """Milliseconds to fetch the page and read it whole; notes the event loop's longest stall meanwhile."""
        loop.longest = 0
        started = time.perf_counter()
        async with http.get(url) as response:
            await response.read()
            assert response.status == 200, (url, response.status)
        took = (time.perf_counter() - started) * 1000
        stalls[name] = max(stalls.get(name, 0), loop.longest)
        return took

    try:
        async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as http:
            link = await sign_in_link(sessions, 1, base)
            async with http.get(link) as response:
                assert response.status == 200, response.status
            week, month, year = ((utcnow() - timedelta(days=days)).date().isoformat() for days in (6, 29, 364))
            pages = {
                "overview, 90 days": "/dashboard/",
                "overview, a year": f"/dashboard/?from={year}",
                "list: a department, a stage": "/dashboard/appeals?department=Отдел ЖКХ&stage=in_progress",
                "search: text": "/dashboard/appeals?q=лифт у дома 17",
                "card": "/dashboard/appeals/А-2026-000777",
                "export XLSX, a week": f"/dashboard/export.xlsx?from={week}",
                "export CSV, a week": f"/dashboard/export.csv?from={week}",
                "export XLSX, a month": f"/dashboard/export.xlsx?from={month}",
                "export CSV, a month": f"/dashboard/export.csv?from={month}",
                "export XLSX, 90 days": "/dashboard/export.xlsx",  # the overview's own link
            }
            # The first request of each page is timed apart: it also fills SQLAlchemy's statement cache and
            # PostgreSQL's buffers, once per process. Then the pages take turns, so that a burst of the machine's
            # noise falls on all of them instead of on the one being measured at that moment.
            for name, path in pages.items():
                timings[name] = [await timed(name, base + path)]
            for _ in range(requests):
                for name, path in pages.items():
                    timings[name].append(await timed(name, base + path))
    finally:
        watching.cancel()
        await server.stop()
        await engine.dispose()
    return timings, stalls


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--appeals", type=int, default=100_000)
    parser.add_argument("--days", type=int, default=730, help="the appeals are opened over this many days up to now")
    parser.add_argument("--requests", type=int, default=20)
    parser.add_argument("--postgres", default="postgresql+asyncpg://postgres@127.0.0.1:5432/test")
    args = parser.parse_args()
    server = make_url(args.postgres)
    name = f"priemnaya_bench_{uuid.uuid4().hex[:8]}"
    admin = server.set(drivername="postgresql").render_as_string(hide_password=False)
    connection = await asyncpg.connect(admin)
    await connection.execute(f'CREATE DATABASE "{name}"')
    url = server.set(database=name).render_as_string(hide_password=False)
    try:
        started = time.perf_counter()
        await seed(url, args.appeals, args.days)
        print(f"seeded {args.appeals:,} appeals over {args.days} days in {time.perf_counter() - started:.0f} s")
        timings, stalls = await measure(url, args.requests)
    finally:
        await connection.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await connection.close()
    print(f"{'page':<30} {'first ms':>9} {'median ms':>10} {'p95 ms':>8} {'stall ms':>9}  (target p95 300 ms)")
    for page, (first, *values) in timings.items():
        ordered = sorted(values)
        p95 = ordered[max(0, math.ceil(len(ordered) * 0.95) - 1)]  # nearest rank
        print(f"{page:<30} {first:>9.0f} {statistics.median(ordered):>10.0f} {p95:>8.0f} {stalls[page]:>9.0f}  "
              f"{'met' if p95 < 300 else 'NOT met'}")  # fmt: skip
    print("stall: the longest the event loop, which also serves the residents' chats, went without a turn")


if __name__ == "__main__":
    asyncio.run(main())
