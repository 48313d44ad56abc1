"""`python -m bot faq check | match | misses | suggest | stats`: the FAQ tools for admins and for evaluation
scripts."""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from datetime import timedelta
from pathlib import Path

from bot.config import Config
from bot.faq.improve import MIN_VOTES, closest, group_misses, item_stats, least_helpful, suggestions
from bot.faq.loader import load_faq
from bot.faq.matcher import FaqIndex, Outcome
from storage.repositories import FaqItemUse, FrequentMiss

EXIT_OK, EXIT_PROBLEMS = 0, 1


async def faq_command(args: argparse.Namespace, config: Config) -> int:
    if args.faq_command == "check":
        return check(args.directory or config.faq_path)
    if args.faq_command == "match":
        return match(args.faq or config.faq_path, config)
    if args.faq_command == "stats":
        return await stats(config, args.days)
    if args.faq_command == "suggest":
        return await suggest(config, args.out, args.days, args.min)
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


MISSES_READ = 5000  # distinct unanswered questions read for grouping, most asked first


async def _stored(config: Config, days: int | None) -> tuple[list[FrequentMiss], list[FaqItemUse]]:
    """The unanswered questions and the use of answers over the last `days` (all when None)."""
    from bot.app import migrated_database
    from storage.models import utcnow
    from storage.uow import UnitOfWork

    async with migrated_database(config) as sessions, UnitOfWork(sessions) as uow:
        since = utcnow() - timedelta(days=days) if days else None
        return await uow.unmatched.most_frequent(since=since, limit=MISSES_READ), await uow.faq_uses.per_item(since)


def _index(config: Config) -> FaqIndex:
    from bot.app import faq_thresholds

    return FaqIndex(load_faq(config.faq_path).items, faq_thresholds(config))


def _period(days: int | None) -> str:
    return f" in the last {days} days" if days else ""


async def misses(config: Config, limit: int, days: int | None) -> int:
    """Unanswered questions grouped with their look-alikes, most asked first, each with the closest item."""
    rows, _ = await _stored(config, days)
    if not rows:
        print("no unanswered questions recorded" + _period(days))
        return EXIT_OK
    groups = group_misses(rows, _index(config))
    print(f"{'times':>5}  {'closest item (score)':<34}  question (and how else it was asked)")
    for group in groups[:limit]:
        item, score = closest(group)
        nearest = f"{item.id} ({score:.0f})" if item else "-"
        print(f"{group.count:>5}  {nearest:<34}  {group.example}")
        for other in group.phrasings[1:]:
            print(f"{'':>5}  {'':<34}    ~ {other}")
        if group.match is not None and group.match.unexplained:
            print(f"{'':>5}  {'':<34}    new words: {', '.join(group.match.unexplained)}")
    return EXIT_OK


async def suggest(config: Config, out: Path, days: int | None, minimum: int) -> int:
    rows, _ = await _stored(config, days)
    index = _index(config)
    proposals = suggestions(group_misses(rows, index), index, minimum)
    await asyncio.to_thread(out.write_text, proposals, encoding="utf-8")
    print(
        f"{out}: proposals from {len(rows)} distinct unanswered questions{_period(days)}; review, then copy into faq/"
    )
    return EXIT_OK


async def stats(config: Config, days: int | None) -> int:
    """Every item by views, with how residents rated its answer; the least helpful listed apart."""
    _, uses = await _stored(config, days)
    table = item_stats(_index(config).items, uses)
    print(f"{'views':>6} {'helpful':>7} {'not':>5} {'share':>6}  item")
    for row in table:
        share = f"{row.helpful_share:.0%}" if row.helpful_share is not None else "-"
        print(f"{row.views:>6} {row.helpful:>7} {row.unhelpful:>5} {share:>6}  {row.item.id}: {row.item.question}")
    worst = least_helpful(table)
    if worst:
        print(f"\nleast helpful (at least {MIN_VOTES} votes), rewrite these first:")
        for row in worst:
            print(f"  {row.helpful_share:.0%} of {row.helpful + row.unhelpful}  {row.item.id}: {row.item.question}")
    return EXIT_OK
