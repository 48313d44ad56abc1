"""How well the FAQ answers a labelled set of questions (JSON lines: `query`, `expected` item id or null): the
right item answered or first suggested, out-of-scope questions declined, confident wrong answers."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from bot.faq.matcher import FaqIndex, Outcome


@dataclass(frozen=True, slots=True)
class Quality:
    covered: int
    found: int  # right item answered, or first suggested
    out_of_scope: int
    declined: int  # out of scope, and no confident answer
    confident_wrong: int  # a confident answer with another item (or any, out of scope)
    answered_right: int  # covered, and the right item answered with confidence
    errors: tuple[str, ...]

    @property
    def found_rate(self) -> float:
        return self.found / self.covered if self.covered else 1.0

    @property
    def declined_rate(self) -> float:
        return self.declined / self.out_of_scope if self.out_of_scope else 1.0

    @property
    def answered_rate(self) -> float:
        return self.answered_right / self.covered if self.covered else 1.0

    @property
    def wrong_rate(self) -> float:
        total = self.covered + self.out_of_scope
        return self.confident_wrong / total if total else 0.0

    def __str__(self) -> str:
        total = self.covered + self.out_of_scope
        return (
            f"found {self.found_rate:.1%} of {self.covered} covered; declined {self.declined_rate:.1%} of "
            f"{self.out_of_scope} out of scope; confident wrong {self.wrong_rate:.1%} of {total}; right item answered "
            f"with confidence for {self.answered_rate:.1%} of covered"
        )


def evaluate(index: FaqIndex, rows: list[dict[str, str | None]]) -> Quality:
    covered = found = out_of_scope = declined = wrong = answered_right = 0
    errors = []
    for row in rows:
        query, expected = str(row["query"]), row["expected"]
        match = index.match(query)
        answered = match.item.id if match.outcome is Outcome.ANSWER and match.item else None
        first = answered or (match.suggestions[0].id if match.suggestions else None)
        if expected:
            covered += 1
            found += first == expected
            wrong += answered is not None and answered != expected
            answered_right += answered == expected
            if first != expected:
                errors.append(f"MISS  {expected:28} -> {match.outcome}:{first} ({match.score:.0f}) {query}")
        else:
            out_of_scope += 1
            declined += answered is None
            wrong += answered is not None
            if answered:
                errors.append(f"WRONG {row.get('near') or '-':28} -> {answered} ({match.score:.0f}) {query}")
    return Quality(covered, found, out_of_scope, declined, wrong, answered_right, tuple(errors))


def read_rows(path: Path) -> list[dict[str, str | None]]:
    """The rows of a labelled set."""
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
