"""How telling a word is in general Russian, from wordfreq's word frequencies: a rare word ("ипотека",
"автомойка") that no FAQ item uses means the question is about something else; a common one ("сейчас") means
little. Lets the matcher weigh words the FAQ has never seen."""

from __future__ import annotations

import math
from functools import cache

COMMON_ZIPF = 5.5  # this frequent or more (a few times in every thousand words): says nothing
RARE_ZIPF = 3.0  # this rare or less (a few times in a million words), or not in the list: tells a lot


@cache
def _zipf_by_word() -> dict[str, float]:
    """Zipf frequency (log10 of uses per billion words) of the 60,000 most common Russian word forms, ё folded
    into е; a form not among them is rare."""
    from wordfreq import get_frequency_dict

    summed: dict[str, float] = {}
    for word, frequency in get_frequency_dict("ru", wordlist="small").items():
        folded = word.replace("ё", "е")
        summed[folded] = summed.get(folded, 0.0) + frequency
    return {word: math.log10(frequency) + 9.0 for word, frequency in summed.items()}


def load() -> None:
    """Read the list now (about 30 ms), so the first question does not wait for it."""
    _zipf_by_word()


def telling(word: str) -> float:
    """0 for a word used all the time, 1 for a rare one, in between by its frequency; numbers (a house, a bus
    route) tell nothing about the topic."""
    if any(character.isdigit() for character in word):
        return 0.0
    zipf = _zipf_by_word().get(word, 0.0)
    return min(1.0, max(0.0, (COMMON_ZIPF - zipf) / (COMMON_ZIPF - RARE_ZIPF)))
