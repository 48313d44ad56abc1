"""The matching engine: an index of FAQ phrasings and a scorer that returns an answer, suggestions, or nothing.

Every text is reduced to the stems of its content words. A query word is matched to the FAQ's stems exactly,
by a shared stem prefix (word forms the stemmer leaves apart), or by rapidfuzz similarity of whole words (typos).
An item's score (0-100) blends four views, each counting words by how rare they are in the FAQ (IDF): how much
of the query the item's phrasings explain together; how much of it the item's answer text explains; how well the
best single phrasing (question or variant) and the query cover each other; and how much of the best phrasing the
query contains (what carries long messages full of context). The weights were tuned on half of
tests/data/faq_eval.jsonl and checked on the other half.
"""

from __future__ import annotations

import bisect
import math
from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from enum import StrEnum
from functools import lru_cache

from rapidfuzz import fuzz, process

from bot.faq.loader import FaqItem
from bot.faq.normalize import content_words, fix_layout, looks_like_wrong_layout, stem


class Outcome(StrEnum):
    ANSWER = "answer"
    SUGGEST = "suggest"
    NONE = "none"


@dataclass(frozen=True, slots=True)
class Thresholds:
    """Where a score becomes a confident answer or a suggestion; set in bot.toml [faq]."""

    answer: float = 45.0  # best score at least this, and clear of the runner-up: a confident answer
    margin: float = 5.0  # how far the best item must lead the second for a confident answer
    suggest: float = 25.0  # items scoring at least this are offered as suggestions
    max_suggestions: int = 3


@dataclass(frozen=True, slots=True)
class Match:
    outcome: Outcome
    item: FaqItem | None  # the answer, when outcome is ANSWER
    score: float  # the best item's score, 0-100
    suggestions: tuple[FaqItem, ...]
    best: FaqItem | None  # the best-scoring item whatever the outcome (for the misses report)


@dataclass(frozen=True, slots=True)
class _Phrasing:
    item: int
    weight: float  # sum of the IDF of its stems


PREFIX_SIMILARITY = 0.9  # two stems where one is a prefix of the other
MIN_PREFIX = 4
UNKNOWN_WORD_WEIGHT = 0.5  # a word the FAQ never uses counts half as much as the rarest FAQ word
# How the views blend into the score (they sum to 1).
ITEM_WEIGHT, ANSWER_WEIGHT, PHRASING_WEIGHT, PHRASING_FOUND_WEIGHT = 0.3, 0.2, 0.2, 0.3


def _stems(text: str) -> frozenset[str]:
    return frozenset(stem(word) for word in content_words(text))


class FaqIndex:
    """An immutable index over FAQ items; build once per FAQ load, then `match` any number of queries."""

    def __init__(self, items: Iterable[FaqItem], thresholds: Thresholds | None = None) -> None:
        self.items = tuple(items)
        self.thresholds = thresholds or Thresholds()
        self._by_id = {item.id: item for item in self.items}
        forms: dict[str, str] = {}  # word form -> stem, for typo matching on whole words
        phrasings_of_item: list[list[frozenset[str]]] = []
        for item in self.items:
            texts = (item.question, *item.variants)
            forms.update((word, stem(word)) for text in texts for word in content_words(text))
            phrasings_of_item.append([stems for stems in map(_stems, texts) if stems])
        frequency: dict[str, int] = defaultdict(int)
        self._item_postings: dict[str, list[int]] = defaultdict(list)
        for number, phrasings in enumerate(phrasings_of_item):
            for value in frozenset().union(*phrasings):
                frequency[value] += 1
                self._item_postings[value].append(number)
        count = len(self.items)
        self._idf = {value: math.log((count + 1) / (df + 0.5)) + 1.0 for value, df in frequency.items()}
        self._unknown_weight = UNKNOWN_WORD_WEIGHT * (math.log(count + 1) + 1.0)
        self._phrasings: list[_Phrasing] = []
        self._phrasing_postings: dict[str, list[int]] = defaultdict(list)
        for number, phrasings in enumerate(phrasings_of_item):
            for stems in phrasings:
                for value in stems:
                    self._phrasing_postings[value].append(len(self._phrasings))
                self._phrasings.append(_Phrasing(number, sum(self._idf[value] for value in stems)))
        self._answer_postings: dict[str, list[int]] = defaultdict(list)
        for number, item in enumerate(self.items):
            for value in _stems(item.answer):
                self._answer_postings[value].append(number)
        self._sorted_stems = sorted(self._item_postings)
        self._sorted_answer_stems = sorted(self._answer_postings)
        self._forms = list(forms)
        self._form_stems = [forms[form] for form in self._forms]
        self._expand = lru_cache(maxsize=16384)(self._expand_uncached)
        self._answer_matches = lru_cache(maxsize=16384)(self._answer_matches_uncached)

    def get(self, item_id: str) -> FaqItem | None:
        return self._by_id.get(item_id)

    def match(self, query: str) -> Match:
        """The outcome for one resident's question."""
        scores = self._scores(query)
        if looks_like_wrong_layout(query):
            fixed = self._scores(fix_layout(query.lower()))
            if max(fixed.values(), default=0.0) > max(scores.values(), default=0.0):
                scores = fixed
        ranked = sorted(scores.items(), key=lambda pair: (-pair[1], pair[0]))
        if not ranked:
            return Match(Outcome.NONE, None, 0.0, (), None)
        limits = self.thresholds
        best_number, best_score = ranked[0]
        best = self.items[best_number]
        runner_up = ranked[1][1] if len(ranked) > 1 else 0.0
        if best_score >= limits.answer and best_score - runner_up >= limits.margin:
            return Match(Outcome.ANSWER, best, best_score, (), best)
        suggestions = tuple(
            self.items[number] for number, score in ranked[: limits.max_suggestions] if score >= limits.suggest
        )
        if suggestions:
            return Match(Outcome.SUGGEST, None, best_score, suggestions, best)
        return Match(Outcome.NONE, None, best_score, (), best)

    def _scores(self, query: str) -> dict[int, float]:
        """Score 0-100 of every item sharing at least one (fuzzily matched) word with the query."""
        query_weight = 0.0
        by_item: dict[int, float] = defaultdict(float)  # item -> IDF-weighted query words its phrasings explain
        by_answer: dict[int, float] = defaultdict(float)  # item -> the same, by its answer text
        by_phrasing: dict[int, float] = defaultdict(float)  # phrasing -> IDF-weighted words shared with the query
        seen: set[str] = set()
        for word in content_words(query):
            query_stem = stem(word)
            if query_stem in seen:
                continue
            seen.add(query_stem)
            expansions = self._expand(word, query_stem)
            weight = max((self._idf[value] for value, _ in expansions), default=self._unknown_weight)
            query_weight += weight
            item_similarity: dict[int, float] = {}
            phrasing_match: dict[int, float] = {}
            for value, similarity in expansions:
                for number in self._item_postings[value]:
                    item_similarity[number] = max(item_similarity.get(number, 0.0), similarity)
                for number in self._phrasing_postings[value]:
                    phrasing_match[number] = max(phrasing_match.get(number, 0.0), similarity * self._idf[value])
            for number, similarity in item_similarity.items():
                by_item[number] += weight * similarity
            for number, matched in phrasing_match.items():
                by_phrasing[number] += matched
            for number, similarity in self._answer_matches(query_stem):
                by_answer[number] += weight * similarity
        if not query_weight:
            return {}
        best_phrasing: dict[int, float] = defaultdict(float)
        best_found: dict[int, float] = defaultdict(float)
        for number, matched in by_phrasing.items():
            phrasing = self._phrasings[number]
            found = min(1.0, matched / phrasing.weight)
            cover = math.sqrt(min(1.0, matched / query_weight) * found)
            best_phrasing[phrasing.item] = max(best_phrasing[phrasing.item], cover)
            best_found[phrasing.item] = max(best_found[phrasing.item], found)
        return {
            number: 100.0
            * (
                ITEM_WEIGHT * min(1.0, by_item[number] / query_weight)
                + ANSWER_WEIGHT * min(1.0, by_answer[number] / query_weight)
                + PHRASING_WEIGHT * best_phrasing[number]
                + PHRASING_FOUND_WEIGHT * best_found[number]
            )
            for number in by_item.keys() | by_answer.keys()
        }

    def _expand_uncached(self, word: str, query_stem: str) -> tuple[tuple[str, float], ...]:
        """The phrasing stems a query word stands for, with a similarity in (0, 1]."""
        found = _relatives(query_stem, self._sorted_stems, self._item_postings)
        if not found and len(word) >= MIN_PREFIX:
            # A typo: the closest whole word forms of the FAQ.
            cutoff = 75.0 if len(word) <= 5 else 80.0
            for _, score, position in process.extract(
                word, self._forms, scorer=fuzz.ratio, score_cutoff=cutoff, limit=3
            ):
                candidate = self._form_stems[position]
                similarity = PREFIX_SIMILARITY * score / 100.0
                if similarity > found.get(candidate, 0.0):
                    found[candidate] = similarity
        return tuple(found.items())

    def _answer_matches_uncached(self, query_stem: str) -> tuple[tuple[int, float], ...]:
        """The items whose answer text uses a query word (in this or another form), with a similarity."""
        similarity_by_item: dict[int, float] = {}
        relatives = _relatives(query_stem, self._sorted_answer_stems, self._answer_postings)
        for value, similarity in relatives.items():
            for number in self._answer_postings[value]:
                similarity_by_item[number] = max(similarity_by_item.get(number, 0.0), similarity)
        return tuple(similarity_by_item.items())


def _relatives(query_stem: str, sorted_stems: list[str], known: Mapping[str, object]) -> dict[str, float]:
    """Known stems equal to the query stem (1.0), or that it is a prefix of, or that are a prefix of it.

    Prefixes catch word forms the stemmer leaves apart ("отключ" of "отключили", "отключен" of "отключение").
    """
    found = {query_stem: 1.0} if query_stem in known else {}
    if len(query_stem) >= MIN_PREFIX:
        start = bisect.bisect_left(sorted_stems, query_stem)
        for candidate in sorted_stems[start : start + 20]:
            if not candidate.startswith(query_stem):
                break
            found.setdefault(candidate, PREFIX_SIMILARITY)
        for size in range(MIN_PREFIX, len(query_stem)):
            if query_stem[:size] in known:
                found.setdefault(query_stem[:size], PREFIX_SIMILARITY)
    return found
