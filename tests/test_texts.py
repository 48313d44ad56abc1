"""The texts file: every key the code asks for exists, and every text renders."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path
from string import Formatter

import pytest

from bot.texts import Texts, TextsError
from tests.conftest import ROOT

DOTTED_LITERAL = re.compile(r"""["']([a-z_]+(?:\.[a-z_]+)+)["']""")


def keys_used_in_code(sections: set[str]) -> set[str]:
    """Every string literal in bot/ and handlers/ shaped like a key of one of the texts file's sections."""
    sources = [*ROOT.glob("bot/**/*.py"), *ROOT.glob("handlers/**/*.py")]
    literals = {key for path in sources for key in DOTTED_LITERAL.findall(path.read_text(encoding="utf-8"))}
    return {key for key in literals if key.split(".", 1)[0] in sections}


def test_every_key_the_code_uses_is_in_the_texts_file() -> None:
    texts = Texts.load(ROOT / "texts" / "ru.toml")
    used = keys_used_in_code({key.split(".", 1)[0] for key in texts.defined_keys()})
    assert {"cancel.nothing", "errors.unknown_command", "menu.greeting"} <= used  # the scan itself works
    assert used - texts.defined_keys() == set()
    assert texts.defined_keys() - used == set(), "texts nobody uses"


class AnyValue:
    """Stands for any value a text is filled with, whatever its format spec ("{latitude:.5f}")."""

    def __format__(self, spec: str) -> str:
        return "x"


def test_every_text_renders_with_its_placeholders() -> None:
    texts = Texts.load(ROOT / "texts" / "ru.toml").with_common(authority="Администрация")
    raw = tomllib.loads((ROOT / "texts" / "ru.toml").read_text(encoding="utf-8"))
    for key in texts.defined_keys():
        section, name = key.split(".", 1)
        template = raw[section][name]
        placeholders = {name for _, name, _, _ in Formatter().parse(template) if name}
        rendered = texts(key, **{name: AnyValue() for name in placeholders - {"authority"}})
        assert rendered.strip(), key
        assert "{" not in rendered, key


def test_missing_key_and_bad_file_are_reported(tmp_path: Path) -> None:
    path = tmp_path / "ru.toml"
    path.write_text('[menu]\nprompt = "Меню"\nitems = 3\n', encoding="utf-8")
    with pytest.raises(TextsError, match=re.escape("'menu.items' must be text in quotes")):
        Texts.load(path)
    with pytest.raises(TextsError, match=re.escape("no text under the key 'menu.absent'")):
        Texts({"menu.prompt": "Меню"})("menu.absent")
    with pytest.raises(TextsError, match="bad placeholder"):
        Texts({"menu.prompt": "Меню {who}"})("menu.prompt", name="x")
