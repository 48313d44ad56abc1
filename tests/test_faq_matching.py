"""The matching engine: how residents really type, and measured accuracy on a labelled set of questions."""

from __future__ import annotations

import json
from collections import Counter
from functools import cache

import pytest

from bot.faq.loader import load_faq
from bot.faq.matcher import FaqIndex, Outcome, Thresholds
from bot.faq.normalize import fix_layout, normalize
from tests.conftest import ROOT


@cache
def shipped_index() -> FaqIndex:
    return FaqIndex(load_faq(ROOT / "faq").items)


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("нет горячей воды", "hot-water-outage"),  # short, colloquial
        ("горячую воду когда включат", "hot-water-outage"),  # another word form
        ("нет горячий вады", "hot-water-outage"),  # typos
        ("ytn ujhzxtq djls", "hot-water-outage"),  # English keyboard layout
        ("НЕТ ГОРЯЧЕЙ ВОДЫ!!!", "hot-water-outage"),  # shouting and punctuation
        (
            "Здравствуйте! Живу на Ленина 5, уже третий день нет горячей воды, подскажите пожалуйста куда обращаться",
            "hot-water-outage",
        ),  # long, with greeting and context
        ("не греют батареи", "heating-problems"),
        ("яма на дороге", "road-potholes"),
        ("очередь в детский сад", "kindergarten-queue"),
    ],
)
def test_finds_the_item_the_way_residents_type(query: str, expected: str) -> None:
    match = shipped_index().match(query)
    assert match.outcome is Outcome.ANSWER
    assert match.item is not None
    assert match.item.id == expected


@pytest.mark.parametrize("query", ["расскажи анекдот", "какой курс доллара", "кто выиграл чемпионат мира"])
def test_off_topic_gets_nothing(query: str) -> None:
    match = shipped_index().match(query)
    assert match.outcome is Outcome.NONE
    assert (match.item, match.suggestions) == (None, ())


def test_unsure_gives_up_to_three_suggestions_and_no_answer() -> None:
    match = FaqIndex(shipped_index().items, Thresholds(answer=101)).match("автобус")
    assert match.outcome is Outcome.SUGGEST
    assert match.item is None
    assert 2 <= len(match.suggestions) <= 3
    assert {item.id for item in match.suggestions} <= {"bus-schedule", "bus-complaint", "transport-card"}


def test_normalisation() -> None:
    assert normalize("Здравствуйте! Подскажите, пожалуйста: когда дадут ГОРЯЧУЮ воду?") == "когд дадут горяч вод"
    assert normalize("Ёлка во дворе") == normalize("елка во дворе")
    assert fix_layout("rjulf lflen ujhzxe. djle") == "когда дадут горячую воду"
    assert normalize("здравствуйте, спасибо") == ""


def test_empty_faq_and_empty_query() -> None:
    assert FaqIndex(()).match("нет воды").outcome is Outcome.NONE
    assert shipped_index().match("!!!").outcome is Outcome.NONE


def test_accuracy_on_the_labelled_questions() -> None:
    """Top-1: the bot's first proposal (its answer, or else its first suggestion) is the right item."""
    rows = [json.loads(line) for line in (ROOT / "tests" / "data" / "faq_eval.jsonl").read_text().splitlines()]
    covered = [row for row in rows if row["expected"]]
    uncovered = [row for row in rows if not row["expected"]]
    assert len(rows) >= 200
    assert len(uncovered) >= 60
    assert set(Counter(row["kind"] for row in covered)) >= {"paraphrase", "wordform", "typo", "short", "long", "layout"}
    index = shipped_index()
    known = {item.id for item in index.items}
    assert {row["expected"] for row in covered} <= known

    top1 = wrong_answers = 0
    for row in covered:
        match = index.match(row["query"])
        first = match.item or (match.suggestions[0] if match.suggestions else None)
        top1 += first is not None and first.id == row["expected"]
        wrong_answers += match.outcome is Outcome.ANSWER and match.item is not None and match.item.id != row["expected"]
    declined = sum(index.match(row["query"]).outcome is not Outcome.ANSWER for row in uncovered)

    top1_rate, declined_rate = top1 / len(covered), declined / len(uncovered)
    print(f"\ntop-1 on covered: {top1_rate:.1%} of {len(covered)}; none/suggest on uncovered: {declined_rate:.1%}")
    assert top1_rate >= 0.90
    assert declined_rate >= 0.85
    assert wrong_answers / len(covered) <= 0.03
