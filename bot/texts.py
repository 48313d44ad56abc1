"""Everything the bot says to residents, loaded from one editable TOML file (Russian by default)."""

from __future__ import annotations

import tomllib
from collections.abc import Mapping
from datetime import datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo


def local_time(moment: datetime | None, zone: ZoneInfo) -> str:
    """A moment as people read it, in the municipality's time zone: "03.12.2026 14:05"; "—" when there is none."""
    return f"{moment.astimezone(zone):%d.%m.%Y %H:%M}" if moment is not None else "—"


class TextsError(Exception):
    """The texts file is missing, malformed, or lacks a key the code asks for."""


class Texts:
    """`texts("menu.greeting", name="Анна")`: the text under a dotted key, with `{placeholders}` filled in."""

    def __init__(
        self, entries: Mapping[str, str], source: str = "texts", common: Mapping[str, object] | None = None
    ) -> None:
        self._entries = dict(entries)
        self._source = source
        self._common = dict(common or {})

    def with_common(self, **values: object) -> Texts:
        """A copy that fills these placeholders in every text (e.g. `{authority}` from bot.toml)."""
        return Texts(self._entries, self._source, {**self._common, **values})

    @classmethod
    def load(cls, path: Path) -> Texts:
        try:
            raw = tomllib.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise TextsError(f"{path}: texts file not found (set [bot] texts in bot.toml)") from None
        except tomllib.TOMLDecodeError as exc:
            raise TextsError(f"{path}: not valid TOML: {exc}") from None
        return cls(_flatten(raw, str(path)), source=str(path))

    def defined_keys(self) -> set[str]:
        return set(self._entries)

    def __call__(self, key: str, **values: object) -> str:
        try:
            template = self._entries[key]
        except KeyError:
            raise TextsError(f"{self._source}: no text under the key '{key}'") from None
        if "{" not in template:
            return template
        try:
            return template.format(**{**self._common, **values})
        except (KeyError, IndexError, ValueError) as exc:
            raise TextsError(f"{self._source}: text '{key}' has a bad placeholder: {exc}") from None


def _flatten(table: Mapping[str, Any], source: str, prefix: str = "") -> dict[str, str]:
    entries: dict[str, str] = {}
    for key, value in table.items():
        dotted = f"{prefix}{key}"
        if isinstance(value, Mapping):
            entries.update(_flatten(value, source, dotted + "."))
        elif isinstance(value, str):
            entries[dotted] = value.strip("\n")
        else:
            raise TextsError(f"{source}: '{dotted}' must be text in quotes, got {value!r}")
    return entries
