"""Text normalisation for matching: case, ё/е, punctuation, greetings and fillers, word stems, keyboard layout."""

from __future__ import annotations

import re
from functools import lru_cache

import snowballstemmer

_STEMMER = snowballstemmer.stemmer("russian")

# Russian typed with the English layout: each QWERTY key and the ЙЦУКЕН letter on it.
_LAYOUT = str.maketrans(
    "qwertyuiop[]asdfghjkl;'zxcvbnm,.`",
    "йцукенгшщзхъфывапролджэячсмитьбюё",
)
_LAYOUT_KEYS = frozenset("qwertyuiop[]asdfghjkl;'zxcvbnm,.`")
_WORD = re.compile(r"[0-9a-zа-я]+")

# Words that carry no meaning for finding an answer: greetings, politeness, fillers, pronouns, particles.
STOPWORDS = frozenset(
    """
    здравствуйте здравствуй здрасте привет приветствую добрый доброе доброго день утро вечер времени суток
    пожалуйста пжл плиз спасибо заранее благодарю подскажите подскажи скажите скажи расскажите помогите
    помоги хочу хотел хотела хотелось бы бы можно нужно надо интересует вопрос вопросик уважаемые уважаемая
    уважаемый администрация я мы вы ты он она оно они мне меня мой моя мое мои нас нам наш наша наше наши
    вас вам ваш ваша у в во на с со к ко по о об обо от до из за для при про и а но или ли же ведь вот то
    это этот эта эти тот та те так уже еще ещё тоже также просто вообще очень совсем какой-то что-то
    ну да нет-нет вот-вот
    """.split()
)


def fix_layout(text: str) -> str:
    """Turn words typed in the English layout back into Russian ("ytn djls" -> "нет воды")."""
    words = text.split()
    return " ".join(
        word.translate(_LAYOUT) if set(word) <= _LAYOUT_KEYS and any(c.isalpha() for c in word) else word
        for word in words
    )


def looks_like_wrong_layout(text: str) -> bool:
    """Latin letters and no Cyrillic: maybe Russian typed with the English layout."""
    lowered = text.lower()
    return bool(re.search(r"[a-z]", lowered)) and not re.search(r"[а-яё]", lowered)


def words(text: str) -> list[str]:
    """Lower-case words without punctuation, ё folded into е."""
    return _WORD.findall(text.lower().replace("ё", "е"))


@lru_cache(maxsize=65536)
def stem(word: str) -> str:
    return str(_STEMMER.stemWord(word))


def content_words(text: str) -> list[str]:
    """The words that matter for matching, in their original form (stopwords removed)."""
    return [word for word in words(text) if word not in STOPWORDS]


def normalize(text: str) -> str:
    """A canonical form for grouping equal questions: stems of the content words, in order."""
    return " ".join(stem(word) for word in content_words(text))
