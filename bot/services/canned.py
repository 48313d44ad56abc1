"""Canned answers: texts staff start an answer from, kept by admins as YAML files (like the FAQ), one or more
topics each; re-read whenever the files change, so an edit shows up at the next press without a restart."""

from __future__ import annotations

import logging
import re
from collections.abc import Collection
from dataclasses import dataclass
from pathlib import Path

from bot.records import Problem, Schema, load_records, yaml_files

log = logging.getLogger(__name__)

SCHEMA = Schema(top_key="answers", texts=("id", "title", "text"), lists=(("categories", "topics"),), noun="answer")
ID_PATTERN = re.compile(r"[a-z0-9][a-z0-9-]{0,31}")  # it travels in a button's payload (64 bytes)
TEXT_LIMIT = 3500  # characters: the answer, quoted in the preview, stays one Telegram message


@dataclass(frozen=True, slots=True)
class CannedAnswer:
    id: str
    title: str  # the button's label
    text: str
    categories: tuple[str, ...]  # empty: for every topic

    def fits(self, category: str) -> bool:
        return not self.categories or category in self.categories


def load_canned(directory: Path, categories: Collection[str]) -> tuple[list[CannedAnswer], list[Problem]]:
    """The answers of every YAML file in `directory`, and every problem by file and line: besides the format,
    an id that cannot travel in a button, a topic bot.toml does not know, a text too long for one message."""
    records, problems = load_records(directory, SCHEMA, "folder of canned answers")
    answers = []
    for record in records:
        file, line = record.source.rsplit(":", 1)
        found = []
        if not ID_PATTERN.fullmatch(record.id):
            found.append("the id must be 1-32 of a-z, 0-9 and '-', starting with a letter or digit")
        unknown = [category for category in record.lists.get("categories", ()) if category not in categories]
        if unknown:
            found.append(f"unknown topic {', '.join(unknown)} (topics of bot.toml: {', '.join(categories)})")
        if len(record.texts["text"]) > TEXT_LIMIT:
            found.append(f"the text is {len(record.texts['text'])} characters; at most {TEXT_LIMIT}")
        problems += [Problem(file, int(line), record.id, message) for message in found]
        if not found:
            answers.append(
                CannedAnswer(record.id, record.texts["title"], record.texts["text"], record.lists.get("categories", ()))
            )
    problems.sort(key=lambda problem: (problem.file, problem.line))
    return answers, problems


class CannedAnswers:
    """The canned answers in service: read again when a file changes; with problems, the valid ones are offered
    and the problems logged once per change."""

    def __init__(self, directory: Path | None = None, categories: Collection[str] = ()) -> None:
        self.directory = directory
        self._categories = tuple(categories)
        self._signature: tuple[tuple[str, int, int], ...] | None = None
        self._answers: list[CannedAnswer] = []

    def for_category(self, category: str) -> list[CannedAnswer]:
        self._refresh()
        return [answer for answer in self._answers if answer.fits(category)]

    def get(self, answer_id: str) -> CannedAnswer | None:
        self._refresh()
        return next((answer for answer in self._answers if answer.id == answer_id), None)

    def _refresh(self) -> None:
        directory = self.directory
        files = yaml_files(directory) if directory is not None and directory.is_dir() else []
        try:
            signature = tuple((str(path), (stat := path.stat()).st_mtime_ns, stat.st_size) for path in files)
        except OSError:  # a file is being replaced: read it at the next press
            return
        if signature == self._signature:
            return
        self._signature = signature
        if directory is None or not files:
            self._answers = []
            return
        self._answers, problems = load_canned(directory, self._categories)
        for problem in problems:
            log.warning("canned answers: %s", problem)
