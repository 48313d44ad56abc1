"""`python -m bot faq check | match | misses`: the FAQ tools for admins and for evaluation scripts."""

from __future__ import annotations

import argparse
import json
import sys
from datetime import timedelta
from pathlib import Path

from bot.config import Config
from bot.faq.loader import load_faq
from bot.faq.matcher import FaqIndex, Outcome

EXIT_OK, EXIT_PROBLEMS = 0, 1


async def faq_command(args: argparse.Namespace, config: Config) -> int:
    if args.faq_command == "check":
        return check(args.directory or config.faq_path)
    if args.faq_command == "match":
        return match(args.faq or config.faq_path, config)
    return await misses(config, args.limit, args.days)


def check(directory: Path) -> int:
    loaded = load_faq(directory)
    for problem in loaded.problems:
        print(problem)
    if loaded.problems:
        print(f"{len(loaded.problems)} problem(s) in {directory}", file=sys.stderr)
        return EXIT_PROBLEMS
    categories = len({item.category for item in loaded.items})
    print(f"{directory}: {len(loaded.items)} items in {categories} categories, no problems")
    return EXIT_OK


def match(directory: Path, config: Config) -> int:
    from bot.app import faq_thresholds

    loaded = load_faq(directory)
    if loaded.problems:
        for problem in loaded.problems:
            print(problem, file=sys.stderr)
        return EXIT_PROBLEMS
    index = FaqIndex(loaded.items, faq_thresholds(config))
    for line in sys.stdin:
        query = line.rstrip("\n")
        if not query.strip():
            continue
        result = index.match(query)
        record = {
            "query": query,
            "outcome": result.outcome.value,
            "id": result.item.id if result.outcome is Outcome.ANSWER and result.item else None,
            "score": round(result.score, 1),
            "suggestions": [item.id for item in result.suggestions],
        }
        print(json.dumps(record, ensure_ascii=False), flush=True)
    return EXIT_OK


async def misses(config: Config, limit: int, days: int | None) -> int:
    from bot.app import create_database_engine
    from storage.db import session_factory, upgrade
    from storage.models import utcnow
    from storage.uow import UnitOfWork

    engine = create_database_engine(config)
    try:
        await upgrade(engine)
        async with UnitOfWork(session_factory(engine)) as uow:
            since = utcnow() - timedelta(days=days) if days else None
            rows = await uow.unmatched.most_frequent(since=since, limit=limit)
    finally:
        await engine.dispose()
    if not rows:
        print("no unanswered questions recorded" + (f" in the last {days} days" if days else ""))
        return EXIT_OK
    print(f"{'times':>5}  {'last asked, UTC':<16}  {'nearest item':<28}  example")
    for row in rows:
        print(f"{row.count:>5}  {row.last_asked_at:%Y-%m-%d %H:%M}  {row.best_item_id or '-':<28}  {row.example}")
    return EXIT_OK
