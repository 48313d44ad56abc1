"""The matching engine: an index of FAQ phrasings and a scorer that returns an answer, suggestions, or nothing.

Every text is reduced to the stems of its content words. A query word is matched to the FAQ's stems exactly,
by a shared stem prefix (word forms the stemmer leaves apart), or by rapidfuzz similarity of whole words (typos).
An item's score (0-100) blends four views, each counting words by how rare they are in the FAQ (IDF): how much
of the query the item's phrasings explain together; how much of it the item's answer text explains; how well the
best single phrasing (question or variant) and the query cover each other; and how much of the best phrasing the
query contains (what carries long messages full of context). The weights were tuned on half of
tests/data/faq_eval.jsonl and checked on the other half.

A word the FAQ never uses weighs by how rare it is in general Russian (`bot.faq.frequency`), and a confident
answer needs the item to explain the query's telling words: "как устроиться на работу в поликлинику" shares
words with booking a doctor, but "устроиться" and "работу" say it asks about something else, so the bot offers
the item as a suggestion at most. The answer threshold was then tuned on tests/data/faq_eval.jsonl; the blind
set tests/data/faq_blind.jsonl (written by someone who saw only the items' questions) measures it.
"""

from __future__ import annotations

import bisect
import heapq
import math
from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from enum import StrEnum

from rapidfuzz import fuzz, process

from bot.faq import frequency
from bot.faq.loader import FaqItem
from bot.faq.normalize import content_words, fix_layout, looks_like_wrong_layout, stem


class Outcome(StrEnum):
    ANSWER = "answer"
    SUGGEST = "suggest"
    NONE = "none"


@dataclass(frozen=True, slots=True)
class Thresholds:
    """Where a score becomes a confident answer or a suggestion; set in bot.toml [faq]."""

    answer: float = 58.0  # best score at least this, and clear of the runner-up: a confident answer
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
    unexplained: tuple[str, ...] = ()  # telling query words the FAQ never uses that the best item leaves open


@dataclass(frozen=True, slots=True)
class _Word:
    """A query word as the index sees it, with where it occurs worked out once (words are cached)."""

    text: str
    weight: float  # IDF of what it matched, or the weight of a word the FAQ never uses
    telling: float  # for a word the FAQ never uses: how rare it is in general Russian (0-1); else 0
    expansions: tuple[tuple[str, float], ...]  # phrasing stems it stands for, with a similarity
    in_answers: dict[str, float]  # answer stems it stands for, with a similarity
    items: dict[int, float]  # item number -> the best similarity among the item's phrasing stems
    answers: dict[int, float]  # item number -> the best similarity among the item's answer stems
    phrasings: dict[int, dict[int, float]]  # item number -> phrasing number -> best similarity times IDF


PREFIX_SIMILARITY = 0.9  # two stems where one is a prefix of the other
MIN_PREFIX = 4
# A word the FAQ never uses counts, against the rarest FAQ word, from this much (common in Russian: "сейчас")
# up to UNKNOWN_WORD_WEIGHT + UNKNOWN_TELLING_WEIGHT (rare: "ипотека").
UNKNOWN_WORD_WEIGHT, UNKNOWN_TELLING_WEIGHT = 0.3, 0.5
# A confident answer leaves open no more than this share of the query's weight in words this telling (see
# `frequency.telling`) that neither the FAQ nor the item uses: else it is a suggestion.
TELLING_GATE, TELLING_SHARE = 0.5, 0.1
# How the views blend into the score (they sum to 1).
ITEM_WEIGHT, ANSWER_WEIGHT, PHRASING_WEIGHT, PHRASING_FOUND_WEIGHT = 0.3, 0.2, 0.2, 0.3
# A word found in more items than this share does not by itself make an item a candidate (it is still
# counted when scoring the candidates that rarer words found): "как", "где", "вода" in a big FAQ.
COMMON_SHARE, COMMON_MINIMUM = 0.05, 32
CANDIDATES = 16  # items scored in full per query
WORD_CACHE = 16384  # query words whose expansions are kept


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
        self._item_postings = _postings([frozenset[str]().union(*phrasings) for phrasings in phrasings_of_item])
        self._answer_postings = _postings([_stems(item.answer) for item in self.items])
        count = len(self.items)
        self._idf = {
            value: math.log((count + 1) / (len(numbers) + 0.5)) + 1.0 for value, numbers in self._item_postings.items()
        }
        self._rarest_weight = math.log(count + 1) + 1.0
        frequency.load()
        self._phrasing_weights = [
            [sum(self._idf[value] for value in stems) for stems in phrasings] for phrasings in phrasings_of_item
        ]
        self._phrasing_postings: dict[str, list[tuple[int, int]]] = defaultdict(list)
        for number, phrasings in enumerate(phrasings_of_item):
            for phrasing, phrasing_stems in enumerate(phrasings):
                for value in phrasing_stems:
                    self._phrasing_postings[value].append((number, phrasing))
        self._common = max(COMMON_MINIMUM, int(count * COMMON_SHARE))
        self._sorted_stems = sorted(self._item_postings)
        self._sorted_answer_stems = sorted(self._answer_postings)
        # Word forms by first letter, for typo matching: a typo rarely hits the first letter, and searching
        # one letter's words instead of all keeps long messages full of unknown words fast.
        self._forms: dict[str, tuple[list[str], list[str]]] = {}
        for form, form_stem in forms.items():
            words, word_stems = self._forms.setdefault(form[0], ([], []))
            words.append(form)
            word_stems.append(form_stem)
        self._words: dict[tuple[str, str], _Word] = {}  # not an lru_cache on a bound method: no reference cycle

    def get(self, item_id: str) -> FaqItem | None:
        return self._by_id.get(item_id)

    def match(self, query: str) -> Match:
        """The outcome for one resident's question."""
        scores, words = self._scores(query)
        if looks_like_wrong_layout(query):
            fixed, fixed_words = self._scores(fix_layout(query.lower()))
            if max(fixed.values(), default=0.0) > max(scores.values(), default=0.0):
                scores, words = fixed, fixed_words
        limits = self.thresholds
        ranked = heapq.nsmallest(max(2, limits.max_suggestions), scores.items(), key=lambda pair: (-pair[1], pair[0]))
        if not ranked:
            return Match(Outcome.NONE, None, 0.0, (), None)
        best_number, best_score = ranked[0]
        best = self.items[best_number]
        runner_up = ranked[1][1] if len(ranked) > 1 else 0.0
        open_words = _unexplained(words, best_number)
        sure = best_score >= limits.answer and best_score - runner_up >= limits.margin
        total = sum(word.weight for word in words)
        if sure and sum(word.weight for word in open_words) < TELLING_SHARE * total:
            return Match(Outcome.ANSWER, best, best_score, (), best)
        suggestions = tuple(
            self.items[number] for number, score in ranked[: limits.max_suggestions] if score >= limits.suggest
        )
        unexplained = tuple(word.text for word in open_words)
        if suggestions:
            return Match(Outcome.SUGGEST, None, best_score, suggestions, best, unexplained)
        return Match(Outcome.NONE, None, best_score, (), best, unexplained)

    def _scores(self, query: str) -> tuple[dict[int, float], list[_Word]]:
        """Score 0-100 of the most promising items: those sharing the most of the rarer query words."""
        words = [self._word(word, query_stem) for word, query_stem in _unique_stems(query)]
        query_weight = sum(word.weight for word in words)
        if not query_weight:
            return {}, words
        scores: dict[int, float] = {}
        for number in self._candidates(words):
            by_item = by_answer = 0.0
            phrasing_weights = self._phrasing_weights[number]
            matched = [0.0] * len(phrasing_weights)  # per phrasing: the IDF of the query words it uses
            for word in words:
                similarity = word.items.get(number)
                if similarity:
                    by_item += word.weight * similarity
                    for phrasing, gain in word.phrasings[number].items():
                        matched[phrasing] += gain
                similarity = word.answers.get(number)
                if similarity:
                    by_answer += word.weight * similarity
            best_cover = best_found = 0.0
            for gain, weight in zip(matched, phrasing_weights, strict=True):
                if gain:
                    found = min(1.0, gain / weight)
                    best_found = max(best_found, found)
                    best_cover = max(best_cover, math.sqrt(min(1.0, gain / query_weight) * found))
            scores[number] = 100.0 * (
                ITEM_WEIGHT * min(1.0, by_item / query_weight)
                + ANSWER_WEIGHT * min(1.0, by_answer / query_weight)
                + PHRASING_WEIGHT * best_cover
                + PHRASING_FOUND_WEIGHT * best_found
            )
        return scores, words

    def _candidates(self, words: list[_Word]) -> list[int]:
        """The items worth scoring in full: ranked by a cheap sum over the rarer query words they contain.

        Words found in very many items ("как", "где" in a big FAQ) do not nominate candidates, they only count
        when candidates are scored; a query of such words alone takes the items of its rarest word.
        """
        rough: dict[int, float] = defaultdict(float)
        sources = [
            (postings, value, word.weight * similarity * share)
            for word in words
            for postings, stems, share in (
                (self._item_postings, word.expansions, ITEM_WEIGHT),
                (self._answer_postings, tuple(word.in_answers.items()), ANSWER_WEIGHT),
            )
            for value, similarity in stems
        ]
        for postings, value, gain in sources:
            numbers = postings[value]
            if len(numbers) <= self._common:
                for number in numbers:
                    rough[number] += gain
        if not rough and sources:
            postings, value, gain = min(sources, key=lambda source: len(source[0][source[1]]))
            rough = dict.fromkeys(postings[value], gain)
        return heapq.nlargest(CANDIDATES, rough, key=rough.__getitem__)

    def _word(self, word: str, query_stem: str) -> _Word:
        """The query word as the index sees it; the most recently first-seen WORD_CACHE words are kept."""
        key = (word, query_stem)
        found = self._words.get(key)
        if found is None:
            found = self._words[key] = self._word_uncached(word, query_stem)
            if len(self._words) > WORD_CACHE:
                del self._words[next(iter(self._words))]
        return found

    def _word_uncached(self, word: str, query_stem: str) -> _Word:
        expansions = self._expand(word, query_stem)
        telling = 0.0 if expansions else frequency.telling(word)
        unknown = self._rarest_weight * (UNKNOWN_WORD_WEIGHT + UNKNOWN_TELLING_WEIGHT * telling)
        weight = max((self._idf[value] for value, _ in expansions), default=unknown)
        in_answers = _relatives(query_stem, self._sorted_answer_stems, self._answer_postings)
        items: dict[int, float] = {}
        phrasings: dict[int, dict[int, float]] = {}
        for value, similarity in expansions:
            for number in self._item_postings[value]:
                items[number] = max(items.get(number, 0.0), similarity)
            gain = similarity * self._idf[value]
            for number, phrasing in self._phrasing_postings[value]:
                of_item = phrasings.setdefault(number, {})
                of_item[phrasing] = max(of_item.get(phrasing, 0.0), gain)
        answers: dict[int, float] = {}
        for value, similarity in in_answers.items():
            for number in self._answer_postings[value]:
                answers[number] = max(answers.get(number, 0.0), similarity)
        return _Word(word, weight, telling, expansions, in_answers, items, answers, phrasings)

    def _expand(self, word: str, query_stem: str) -> tuple[tuple[str, float], ...]:
        """The phrasing stems a query word stands for, with a similarity in (0, 1]."""
        found = _relatives(query_stem, self._sorted_stems, self._item_postings)
        if not found and len(word) >= MIN_PREFIX and word[0] in self._forms:
            # A typo: the closest whole word forms of the FAQ that start with the same letter.
            forms, form_stems = self._forms[word[0]]
            cutoff = 75.0 if len(word) <= 5 else 80.0
            for _, score, position in process.extract(word, forms, scorer=fuzz.ratio, score_cutoff=cutoff, limit=3):
                candidate = form_stems[position]
                similarity = PREFIX_SIMILARITY * score / 100.0
                if similarity > found.get(candidate, 0.0):
                    found[candidate] = similarity
        return tuple(found.items())


def _unexplained(words: list[_Word], number: int) -> list[_Word]:
    """The query's telling words the FAQ never uses that item `number` does not explain either."""
    return [
        word
        for word in words
        if word.telling >= TELLING_GATE and number not in word.items and number not in word.answers
    ]


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


def _postings(stem_sets: list[frozenset[str]]) -> dict[str, list[int]]:
    """Stem -> the numbers of the items whose stems include it."""
    postings: dict[str, list[int]] = defaultdict(list)
    for number, stems in enumerate(stem_sets):
        for value in stems:
            postings[value].append(number)
    return postings


def _unique_stems(query: str) -> list[tuple[str, str]]:
    """(word, stem) for the content words of a query, each stem once."""
    seen: dict[str, str] = {}
    for word in content_words(query):
        seen.setdefault(stem(word), word)
    return [(word, query_stem) for query_stem, word in seen.items()]
