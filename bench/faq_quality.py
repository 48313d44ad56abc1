"""FAQ answer quality on a labelled question set (JSON lines: query, expected item id or null).

    .venv/bin/python bench/faq_quality.py [tests/data/faq_blind.jsonl ...] [--faq faq] [--errors]

Prints, per set: the right item answered or first suggested (of covered questions), out-of-scope questions with
no confident answer, and confident wrong answers (of all questions); with --errors, the misses themselves.
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bot.faq.loader import load_faq  # noqa: E402
from bot.faq.matcher import FaqIndex, Outcome  # noqa: E402


@dataclass(frozen=True, slots=True)
class Quality:
    covered: int
    found: int  # right item answered, or first suggested
    out_of_scope: int
    declined: int  # out of scope, and no confident answer
    confident_wrong: int  # a confident answer with another item (or any, out of scope)
    errors: tuple[str, ...]

    @property
    def found_rate(self) -> float:
        return self.found / self.covered if self.covered else 1.0

    @property
    def declined_rate(self) -> float:
        return self.declined / self.out_of_scope if self.out_of_scope else 1.0

    @property
    def wrong_rate(self) -> float:
        total = self.covered + self.out_of_scope
        return self.confident_wrong / total if total else 0.0

    def __str__(self) -> str:
        return (
            f"found {self.found_rate:.1%} of {self.covered} covered; declined {self.declined_rate:.1%} of "
            f"{self.out_of_scope} out of scope; confident wrong {self.wrong_rate:.1%} of {self.covered + self.out_of_scope}"
        )


def evaluate(index: FaqIndex, rows: list[dict[str, str | None]]) -> Quality:
    covered = found = out_of_scope = declined = wrong = 0
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
            if first != expected:
                errors.append(f"MISS  {expected:28} -> {match.outcome}:{first} ({match.score:.0f}) {query}")
        else:
            out_of_scope += 1
            declined += answered is None
            wrong += answered is not None
            if answered:
                errors.append(f"WRONG {row.get('near') or '-':28} -> {answered} ({match.score:.0f}) {query}")
    return Quality(covered, found, out_of_scope, declined, wrong, tuple(errors))


def read_rows(path: Path) -> list[dict[str, str | None]]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("sets", nargs="*", type=Path)
    parser.add_argument("--faq", type=Path, default=ROOT / "faq")
    parser.add_argument("--errors", action="store_true")
    args = parser.parse_args()
    index = FaqIndex(load_faq(args.faq).items)
    for path in args.sets or [ROOT / "tests/data/faq_eval.jsonl", ROOT / "tests/data/faq_blind.jsonl"]:
        quality = evaluate(index, read_rows(path))
        print(f"{path.name}: {quality}")
        if args.errors:
            print("\n".join(f"  {error}" for error in quality.errors))


if __name__ == "__main__":
    main()
