"""FAQ answer quality on a labelled question set (JSON lines: query, expected item id or null).

    .venv/bin/python bench/faq_quality.py [tests/data/faq_blind.jsonl ...] [--faq faq] [--errors]

Prints, per set: the right item answered or first suggested (of covered questions), out-of-scope questions with
no confident answer, and confident wrong answers (of all questions); with --errors, the misses themselves.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bot.faq.loader import load_faq  # noqa: E402
from bot.faq.matcher import FaqIndex  # noqa: E402
from bot.faq.quality import evaluate, read_rows  # noqa: E402


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
