"""Benchmark: FAQ matching latency, index build and reload time for FAQs of 100, 1,000 and 10,000 items.

Usage: .venv/bin/python bench/faq_bench.py [--sizes 100,1000,10000] [--matches N] [--extract-budget S]
                                           [--replace SHARE] [--seed N] [--profile]

Queries are the resident questions of tests/data/faq_eval.jsonl. The first pass uses them as written; further
passes (up to --matches timed matches per size) vary them with a seeded random: a typo in one word (two letters
swapped or one dropped), a word dropped, two words swapped, or unchanged. Typos defeat the matcher's per-word
caches, as unseen misspellings do in real traffic. The same query sequence is timed against FaqIndex.match and
against one bare rapidfuzz.process.extractOne (default scorer WRatio) over every question and variant of the FAQ,
lower-cased. extractOne is slow on large FAQs, so it is timed within --extract-budget seconds per size (at least
100 calls); the number of timed calls is printed.

Large FAQs are generated from the real one (faq/*.yaml, all of whose items are included in every size):
- a vocabulary grows with the FAQ size (the real words plus 5 new words per item): new words are real stems
  (from every content word of the real questions, variants and answers) with common Russian prefixes and
  suffixes, or blends of the head of one real stem and the tail of another, plus a common Russian ending;
  words are drawn from it with Zipf-like frequencies, so a few are common and most are rare, as in a real FAQ;
- each synthetic item takes a random real item as a template and replaces content words: --replace (80%) of the
  distinct words of its question and variants, consistently wherever they occur (answer included), and half that
  share of the other words of the answer; it gets a unique id (<template id>-s<number>) and the template's
  category. So a clone keeps a word or two of each template phrasing, and common FAQ words recur across items.
As a sanity check the script counts eval questions whose best item is still the expected real one: it falls as
synthetic items crowd the real ones (about 194 of 205 with the real FAQ alone).
Reload writes the FAQ as YAML files of 500 items into a temporary folder and times FaqService.reload() (read,
validate, index; best of 3); index build is FaqIndex(items) alone (best of 3).
"""

from __future__ import annotations

import argparse
import cProfile
import itertools
import json
import pstats
import random
import re
import resource
import statistics
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

import yaml
from rapidfuzz import process

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bot.faq.loader import FaqItem, load_faq
from bot.faq.matcher import FaqIndex, Thresholds
from bot.faq.normalize import STOPWORDS, content_words, stem
from bot.faq.service import FaqService

ROOT = Path(__file__).resolve().parent.parent
TARGETS = {1000: 2.0, 10000: 20.0}  # size -> p99 ms to stay under
ITEMS_PER_FILE = 500
WARMUP = 300
NEW_WORDS_PER_ITEM = 5
REPLACE = 0.8  # share of a template's question and variant words replaced (half that share of answer words)
PREFIXES = ("пере", "под", "за", "от", "при", "на", "вы", "об", "рас", "со", "до", "про", "недо", "пред")
SUFFIXES = ("ов", "ен", "ник", "ств", "ист", "ач", "иц", "ал", "ир", "ч", "к", "тель")
ENDINGS = (
    *("а", "ы", "е", "у", "ой", "ом", "ами", "ах", "ов", "и", "ей", "ям", "ях", "ость", "ение", "ения", "ений"),
    *("ать", "ить", "ил", "ила", "или", "ует", "ают", "ный", "ная", "ное", "ные", "ного", "ной", "ская", "ские"),
)
_TOKEN = re.compile(r"[А-Яа-яЁё]+")


def vocabulary(real: list[FaqItem], size: int, rng: random.Random) -> tuple[list[str], list[float]]:
    """Words to draw from, with cumulative Zipf-like weights: the real FAQ's words plus generated ones."""
    counts = Counter(
        word
        for item in real
        for text in (item.question, *item.variants, item.answer)
        for word in content_words(text)
        if len(word) >= 3 and word.isalpha()
    )
    words = [word for word, _ in counts.most_common()]
    stems = sorted({stem(word) for word in words if len(stem(word)) >= 3})
    known = set(words)
    generated: list[str] = []
    while len(generated) < NEW_WORDS_PER_ITEM * size:
        root = rng.choice(stems)
        if rng.random() < 0.5:
            other = rng.choice(stems)
            root = root[: rng.randint(2, max(2, len(root) - 1))] + other[rng.randint(1, max(1, len(other) - 2)) :]
        if rng.random() < 0.4:
            root = rng.choice(PREFIXES) + root
        if rng.random() < 0.4:
            root += rng.choice(SUFFIXES)
        word = root + rng.choice(ENDINGS)
        if word not in known:
            known.add(word)
            generated.append(word)
    rng.shuffle(generated)
    # Real words first (by frequency), then the rest: rank r has weight 1 / (r + 10).
    vocab = words + generated
    return vocab, list(itertools.accumulate(1.0 / (rank + 10) for rank in range(len(vocab))))


def synthetic_item(
    template: FaqItem, number: int, vocab: list[str], cumulative: list[float], replace: float, rng: random.Random
) -> FaqItem:
    def draw() -> str:
        return rng.choices(vocab, cum_weights=cumulative)[0]

    phrasing_words = {
        token.lower()
        for text in (template.question, *template.variants)
        for token in _TOKEN.findall(text)
        if len(token) >= 3 and token.lower() not in STOPWORDS
    }
    mapping = {word: draw() for word in sorted(phrasing_words) if rng.random() < replace}

    def rewrite(text: str, extra: float) -> str:
        def replace(found: re.Match[str]) -> str:
            token = found.group(0)
            lower = token.lower()
            if lower in mapping:
                new = mapping[lower]
            elif len(token) >= 3 and lower not in STOPWORDS and rng.random() < extra:
                new = draw()
            else:
                return token
            return new.capitalize() if token[0].isupper() else new

        return _TOKEN.sub(replace, text)

    return FaqItem(
        id=f"{template.id}-s{number:05d}",
        question=rewrite(template.question, 0.0),
        variants=tuple(rewrite(variant, 0.0) for variant in template.variants),
        answer=rewrite(template.answer, replace / 2),
        category=template.category,
        source="generated",
    )


def generate(real: list[FaqItem], size: int, replace: float, seed: int) -> list[FaqItem]:
    rng = random.Random(seed * 1_000_003 + size)
    vocab, cumulative = vocabulary(real, size, rng)
    synthetic = [synthetic_item(rng.choice(real), n, vocab, cumulative, replace, rng) for n in range(size - len(real))]
    items = [*real, *synthetic]
    rng.shuffle(items)
    return items


def vary(query: str, rng: random.Random) -> str:
    words = query.split()
    roll = rng.random()
    if roll < 0.35 and words:  # a typo
        position = rng.randrange(len(words))
        word = words[position]
        if len(word) >= 4:
            at = rng.randrange(1, len(word) - 1)
            if rng.random() < 0.5:
                word = word[:at] + word[at + 1] + word[at] + word[at + 2 :]
            else:
                word = word[:at] + word[at + 1 :]
            words[position] = word
    elif roll < 0.55 and len(words) > 2:
        del words[rng.randrange(len(words))]
    elif roll < 0.7 and len(words) > 1:
        at = rng.randrange(len(words) - 1)
        words[at], words[at + 1] = words[at + 1], words[at]
    return " ".join(words)


def query_sequence(eval_queries: list[str], count: int, seed: int) -> list[str]:
    rng = random.Random(seed)
    sequence = rng.sample(eval_queries, len(eval_queries))
    while len(sequence) < count:
        sequence += [vary(query, rng) for query in rng.sample(eval_queries, len(eval_queries))]
    return sequence[:count]


def percentiles(nanoseconds: list[int]) -> tuple[float, float]:
    ordered = sorted(nanoseconds)
    return statistics.median(ordered) / 1e6, ordered[max(0, int(len(ordered) * 0.99) - 1)] / 1e6


def best_of(runs: int, action) -> float:
    times = []
    for _ in range(runs):
        started = time.perf_counter_ns()
        action()
        times.append(time.perf_counter_ns() - started)
    return min(times) / 1e6


def write_yaml(items: list[FaqItem], directory: Path) -> None:
    for start in range(0, len(items), ITEMS_PER_FILE):
        chunk = [
            {
                "id": item.id,
                "question": item.question,
                "variants": list(item.variants),
                "answer": item.answer,
                "category": item.category,
            }
            for item in items[start : start + ITEMS_PER_FILE]
        ]
        text = yaml.safe_dump({"items": chunk}, allow_unicode=True, sort_keys=False, width=120)
        (directory / f"faq-{start // ITEMS_PER_FILE:03d}.yaml").write_text(text, encoding="utf-8")


def reload_time(items: list[FaqItem]) -> float:
    with tempfile.TemporaryDirectory() as folder:
        directory = Path(folder)
        write_yaml(items, directory)
        times = []
        for _ in range(3):
            service = FaqService(directory, Thresholds())
            started = time.perf_counter_ns()
            result = service.reload()
            times.append(time.perf_counter_ns() - started)
            if result.problems or len(service.index.items) != len(items):
                raise SystemExit(f"reload of {len(items)} items failed: {result.problems[:3]}")
        return min(times) / 1e6


def run(sizes: list[int], matches: int, extract_budget: float, replace: float, seed: int, profile: bool) -> None:
    loaded = load_faq(ROOT / "faq")
    if loaded.problems:
        raise SystemExit(f"the real FAQ has problems: {loaded.problems[:3]}")
    real = list(loaded.items)
    lines = (ROOT / "tests" / "data" / "faq_eval.jsonl").read_text(encoding="utf-8").splitlines()
    cases = [json.loads(line) for line in lines if line.strip()]
    queries = query_sequence([case["query"] for case in cases], max(matches, len(cases)), seed)
    expected = {case["query"]: case["expected"] for case in cases}
    started_all = time.perf_counter()
    rows, notes, p99s = [], [], {}
    profiled: pstats.Stats | None = None
    for size in sizes:
        items = generate(real, max(size, len(real)), replace, seed)
        build = best_of(3, lambda items=items: FaqIndex(items))
        index = FaqIndex(items)
        for query in queries[:WARMUP]:
            index.match(query)
        times = []
        for query in queries:
            started = time.perf_counter_ns()
            index.match(query)
            times.append(time.perf_counter_ns() - started)
        median, p99 = percentiles(times)
        p99s[size] = p99
        # Sanity: the real items still win their eval questions among the synthetic ones.
        right = sum(
            (index.match(query).best or FaqItem("", "", (), "", "", "")).id == item_id
            for query, item_id in expected.items()
            if item_id
        )
        choices = [text.lower() for item in items for text in (item.question, *item.variants)]
        lowered = [query.lower() for query in queries]
        for query in lowered[:20]:
            process.extractOne(query, choices)
        extract_times: list[int] = []
        deadline = time.perf_counter_ns() + int(extract_budget * 1e9)
        for number, query in enumerate(lowered):
            if number >= 100 and time.perf_counter_ns() > deadline:
                break
            started = time.perf_counter_ns()
            process.extractOne(query, choices)
            extract_times.append(time.perf_counter_ns() - started)
        extract_median, extract_p99 = percentiles(extract_times)
        reload = reload_time(items)
        rows.append((len(items), median, p99, extract_median, extract_p99, build, reload))
        stems = len(index._item_postings)
        notes.append(
            f"{len(items):>6} items: {len(choices)} phrasings, {stems} distinct phrasing stems, "
            f"{len(times)} matches and {len(extract_times)} extractOne calls timed, "
            f"best item right on {right}/{sum(1 for v in expected.values() if v)} covered eval questions"
        )
        if profile and size == sizes[-1]:
            fresh = FaqIndex(items)
            profiler = cProfile.Profile()
            profiler.enable()
            for query in queries[:500]:
                fresh.match(query)
            profiler.disable()
            profiled = pstats.Stats(profiler)
    header = ("size", "match median ms", "match p99 ms", "extractOne median ms", "extractOne p99 ms")
    header += ("index build ms", "reload ms")
    widths = [max(len(title), 8) for title in header]
    print(" | ".join(title.rjust(width) for title, width in zip(header, widths, strict=True)))
    print("-+-".join("-" * width for width in widths))
    for row in rows:
        cells = [f"{row[0]:,}"] + [f"{value:.3f}" if value < 10 else f"{value:.1f}" for value in row[1:]]
        print(" | ".join(cell.rjust(width) for cell, width in zip(cells, widths, strict=True)))
    print()
    for note in notes:
        print(note)
    print()
    print("target: match p99 under 2 ms at 1,000 items and under 20 ms at 10,000")
    for size, limit in TARGETS.items():
        if size in p99s:
            verdict = "met" if p99s[size] < limit else "MISSED"
            print(f"  {size:>6,} items: p99 {p99s[size]:.3f} ms < {limit:g} ms: {verdict}")
        else:
            print(f"  {size:>6,} items: not measured")
    print(f"total time        {time.perf_counter() - started_all:.0f} s")
    print(f"peak RSS          {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MiB")
    if profiled is not None:
        print(f"\nprofile of 500 matches at {rows[-1][0]:,} items (fresh index, cold caches), by own time:")
        profiled.sort_stats("tottime").print_stats(12)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--sizes", default="100,1000,10000", help="comma-separated FAQ sizes (items)")
    parser.add_argument("--matches", type=int, default=2000, help="timed matches per size (at least the eval set)")
    parser.add_argument("--extract-budget", type=float, default=8.0, help="seconds per size for extractOne")
    parser.add_argument("--replace", type=float, default=REPLACE, help="share of template words replaced")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--profile", action="store_true", help="cProfile the matches at the largest size")
    args = parser.parse_args()
    sizes = [int(size.replace("_", "")) for size in args.sizes.split(",") if size.strip()]
    run(sizes, args.matches, args.extract_budget, args.replace, args.seed, args.profile)


if __name__ == "__main__":
    main()
