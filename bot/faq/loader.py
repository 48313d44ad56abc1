"""Read the FAQ folder: YAML files of items, validated with problems reported by file, line and item id."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from bot.records import Problem, Schema, load_records

SCHEMA = Schema(
    top_key="items",
    texts=("id", "question", "answer", "category"),
    lists=(("variants", "phrasings"),),
    noun="question",
)


@dataclass(frozen=True, slots=True)
class FaqItem:
    id: str
    question: str
    variants: tuple[str, ...]
    answer: str
    category: str
    source: str  # "file:line", for messages to admins


@dataclass(frozen=True, slots=True)
class FaqLoad:
    items: tuple[FaqItem, ...]
    problems: tuple[Problem, ...]


def load_faq(directory: Path) -> FaqLoad:
    """Every item of every YAML file in `directory`, and every problem found on the way."""
    records, problems = load_records(directory, SCHEMA, "FAQ folder")
    items = tuple(
        FaqItem(
            id=record.texts["id"],
            question=record.texts["question"],
            variants=record.lists.get("variants", ()),
            answer=record.texts["answer"],
            category=record.texts["category"],
            source=record.source,
        )
        for record in records
    )
    return FaqLoad(items, tuple(problems))
