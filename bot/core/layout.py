"""Fitting what handlers say into a platform's limits: long texts split into messages, keyboards laid out within
the number of rows, buttons and label length a platform draws."""

from __future__ import annotations

from dataclasses import dataclass

from bot.core.types import Button, Keyboard


def split_text(text: str, limit: int) -> list[str]:
    """Pieces of at most `limit` UTF-16 units, cut at a paragraph, else a line, else a space, in the latter half."""
    pieces = []
    while utf16_length(text) > limit:
        window = text[: fitting(text, limit)]
        cut = len(window)
        for separator in ("\n\n", "\n", " "):
            at = window.rfind(separator)
            if at >= len(window) // 2:
                cut = at
                break
        pieces.append(text[:cut].rstrip())
        text = text[cut:].lstrip("\n ")
    pieces.append(text)
    return pieces


def utf16_length(text: str) -> int:
    """How Telegram and VK count characters: those outside the BMP (most emoji) count twice."""
    return len(text.encode("utf-16-le")) // 2


def fitting(text: str, limit: int) -> int:
    """How many leading characters of `text` fit in `limit` UTF-16 units."""
    units = 0
    for index, char in enumerate(text):
        units += 2 if ord(char) > 0xFFFF else 1
        if units > limit:
            return index
    return len(text)


@dataclass(frozen=True, slots=True)
class KeyboardLimits:
    """What one message's keyboard may hold on a platform."""

    rows: int
    buttons: int
    per_row: int
    label: int  # characters of a button's label


def lay_out(buttons: Keyboard, limits: KeyboardLimits) -> list[Keyboard]:
    """The keyboard as one or more pages, each within `limits`, every button kept and in order: long labels are
    shortened with "…", wide rows are broken, too many rows are joined (the narrowest neighbours first), and
    what still does not fit goes on further pages (the adapter shows each under a message of its own)."""
    rows: list[list[Button]] = []
    for row in buttons:
        cells = [_shortened(button, limits.label) for button in row]
        rows.extend(cells[start : start + limits.per_row] for start in range(0, len(cells), limits.per_row))
    pages: list[Keyboard] = []
    while rows:
        page: list[list[Button]] = []
        count = 0
        while rows and count + len(rows[0]) <= limits.buttons:
            count += len(rows[0])
            page.append(rows.pop(0))
        joined = _joined(page, limits)
        rows[:0] = [list(row) for row in joined[limits.rows :]]  # rows that could not be joined: the next page
        pages.append(joined[: limits.rows])
    return pages


def _joined(rows: list[list[Button]], limits: KeyboardLimits) -> Keyboard:
    """Rows joined pairwise, narrowest neighbours first, until there are few enough or none can be joined."""
    rows = [list(row) for row in rows]
    while len(rows) > limits.rows:
        pairs = [
            (len(rows[index]) + len(rows[index + 1]), index)
            for index in range(len(rows) - 1)
            if len(rows[index]) + len(rows[index + 1]) <= limits.per_row
        ]
        if not pairs:
            break
        _, index = min(pairs)
        rows[index : index + 2] = [rows[index] + rows[index + 1]]
    return tuple(tuple(row) for row in rows)


def _shortened(button: Button, limit: int) -> Button:
    return button if len(button.text) <= limit else Button(shorten(button.text, limit), button.payload)


def shorten(text: str, limit: int) -> str:
    """At most `limit` characters: a longer text is cut and ends with "…"."""
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"
