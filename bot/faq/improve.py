"""The admins' improvement loop: unanswered questions grouped (typos and word forms together) with the closest
item, proposed new variants and items for review, and which answers residents find helpful."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field

import yaml
from rapidfuzz import fuzz, process

from bot.faq.loader import FaqItem
from bot.faq.matcher import FaqIndex, Match
from storage.repositories import FaqItemUse, FrequentMiss

SAME_QUESTION = 85.0  # similarity (0-100) of two normalised questions asked the same way
EXAMPLES = 5  # phrasings kept per group


@dataclass(slots=True)
class MissGroup:
    """Unanswered questions asked alike: how often, their phrasings (most frequent first), the closest item."""

    normalized: str
    count: int
    phrasings: list[str] = field(default_factory=list)
    match: Match | None = None

    @property
    def example(self) -> str:
        return self.phrasings[0]


def group_misses(misses: Sequence[FrequentMiss], index: FaqIndex) -> list[MissGroup]:
    """Merge the misses (each already one normalised form) whose normalised forms are alike, most asked first;
    each group's closest item is what the current FAQ makes of its most frequent phrasing."""
    groups: list[MissGroup] = []
    keys: list[str] = []
    for miss in sorted(misses, key=lambda miss: -miss.count):
        found = process.extractOne(miss.normalized, keys, scorer=_alike, score_cutoff=SAME_QUESTION)
        if found is None:
            groups.append(MissGroup(miss.normalized, 0))
            keys.append(miss.normalized)
            group = groups[-1]
        else:
            group = groups[found[2]]
        group.count += miss.count
        if len(group.phrasings) < EXAMPLES and miss.example not in group.phrasings:
            group.phrasings.append(miss.example)
    for group in groups:
        group.match = index.match(group.example)
    return sorted(groups, key=lambda group: -group.count)


def _alike(first: str, second: str, *, score_cutoff: float | None = None, **_: object) -> float:
    """Typos (in the words as asked) or another word order (the same words)."""
    return max(fuzz.ratio(first, second), fuzz.token_sort_ratio(first, second))


def closest(group: MissGroup) -> tuple[FaqItem | None, float]:
    match = group.match
    if match is None or match.best is None:
        return None, 0.0
    return match.best, match.score


def suggestions(groups: Sequence[MissGroup], index: FaqIndex, minimum: int) -> str:
    """A review file: for questions the FAQ came close to (it offered the item, or nearly), their phrasings as
    new variants of that item; for the rest, new items to write an answer for, in the FAQ's own format, to copy
    into faq/ once reviewed."""
    variants: list[dict[str, object]] = []
    items: list[dict[str, object]] = []
    taken = {item.id for item in index.items}
    for group in groups:
        if group.count < minimum:
            continue
        item, score = closest(group)
        match = group.match
        offered = match is not None and match.suggestions[:1] == (item,) and not match.unexplained
        if item is not None and offered:  # the FAQ came close, and the item explains every telling word
            variants.append({"id": item.id, "asked": group.count, "score": round(score), "variants": group.phrasings})
            continue
        new_id = _free_id(_slug(group.example), taken)
        taken.add(new_id)
        category = item.category if item is not None else ""
        items.append(
            {
                "id": new_id,
                "question": group.example,
                "variants": group.phrasings[1:],
                "answer": "",
                "category": category,
                "asked": group.count,
            }
        )
    header = (
        "# Предложения для FAQ по вопросам жителей, на которые бот не нашёл уверенного ответа.\n"
        "# new_variants: формулировки, которые стоит добавить в variants указанного вопроса (id), если он\n"
        "#   действительно на них отвечает; asked — сколько раз спрашивали, score — насколько бот был близок.\n"
        "# items: новые вопросы. Напишите answer, проверьте category и перенесите нужные в файл папки faq/\n"
        "#   (поле asked при переносе удалите), затем запустите: python -m bot faq check\n"
    )
    body = yaml.safe_dump({"new_variants": variants, "items": items}, allow_unicode=True, sort_keys=False, width=110)
    return header + body


def _slug(text: str) -> str:
    table = str.maketrans(
        {
            "а": "a", "б": "b", "в": "v", "г": "g", "д": "d", "е": "e", "ё": "e", "ж": "zh", "з": "z", "и": "i",
            "й": "y", "к": "k", "л": "l", "м": "m", "н": "n", "о": "o", "п": "p", "р": "r", "с": "s", "т": "t",
            "у": "u", "ф": "f", "х": "h", "ц": "ts", "ч": "ch", "ш": "sh", "щ": "sch", "ъ": "", "ы": "y", "ь": "",
            "э": "e", "ю": "yu", "я": "ya",
        }
    )  # fmt: skip
    words = re.findall(r"[a-z0-9]+", text.lower().translate(table))
    return "-".join(words[:5])[:40].strip("-") or "new-question"


def _free_id(base: str, taken: set[str]) -> str:
    candidate, number = base, 2
    while candidate in taken:
        candidate, number = f"{base}-{number}", number + 1
    return candidate


@dataclass(frozen=True, slots=True)
class ItemStats:
    item: FaqItem
    views: int
    helpful: int
    unhelpful: int

    @property
    def helpful_share(self) -> float | None:
        votes = self.helpful + self.unhelpful
        return self.helpful / votes if votes else None


MIN_VOTES = 3  # votes an answer needs before it is called least helpful


def least_helpful(table: Sequence[ItemStats], limit: int = 5) -> list[ItemStats]:
    """The answers residents found least helpful (at least `MIN_VOTES` votes), to rewrite first."""
    rated = [row for row in table if row.helpful_share is not None and row.helpful + row.unhelpful >= MIN_VOTES]
    return sorted(rated, key=lambda row: (row.helpful_share or 0.0, -row.unhelpful))[:limit]


def item_stats(items: Sequence[FaqItem], uses: Sequence[FaqItemUse]) -> list[ItemStats]:
    """Every current item with its views and votes (none for an item never shown), most viewed first."""
    by_id = {use.item_id: use for use in uses}
    stats = []
    for item in items:
        use = by_id.get(item.id)
        stats.append(ItemStats(item, use.views, use.helpful, use.unhelpful) if use else ItemStats(item, 0, 0, 0))
    return sorted(stats, key=lambda stat: (-stat.views, stat.item.id))
