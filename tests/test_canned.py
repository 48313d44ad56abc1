"""Canned answers: the admins' files are checked with every problem by file and line, and what the bot offers
follows the files as they change."""

from __future__ import annotations

import os
from pathlib import Path

from bot.services.canned import CannedAnswers, load_canned
from tests.conftest import ROOT, run_bot, write_config

CATEGORIES = ("ЖКХ", "Дороги")
BROKEN = """answers:
  - id: ok-answer
    title: Годный
    text: Текст ответа.
  - id: Плохой id
    title: Неверный id
    text: Текст.
  - id: no-text
    title: Без текста
  - id: unknown-topic
    title: Чужая тема
    categories: [ЖКХ, Космос]
    text: Текст.
  - id: ok-answer
    title: Повтор
    text: Текст.
"""


def test_every_problem_is_reported_with_its_file_and_line(tmp_path: Path) -> None:
    (tmp_path / "a.yaml").write_text(BROKEN, encoding="utf-8")
    answers, problems = load_canned(tmp_path, CATEGORIES)
    file = tmp_path / "a.yaml"
    assert [str(problem) for problem in problems] == [
        f"{file}:5 [Плохой id]: the id must be 1-32 of a-z, 0-9 and '-', starting with a letter or digit",
        f"{file}:8 [no-text]: missing field 'text'",
        f"{file}:10 [unknown-topic]: unknown topic Космос (topics of bot.toml: ЖКХ, Дороги)",
        f"{file}:14 [ok-answer]: duplicate id, first used at {file}:2",
    ]
    assert [answer.id for answer in answers] == ["ok-answer"]


def test_the_check_command_fails_on_problems_and_passes_the_shipped_answers(tmp_path: Path) -> None:
    config = write_config(tmp_path, "sqlite+aiosqlite:///bot.sqlite3")
    (tmp_path / "answers").mkdir()
    (tmp_path / "answers" / "a.yaml").write_text(BROKEN, encoding="utf-8")
    broken = run_bot("--config", str(config), "answers", "check")
    assert broken.returncode == 1
    assert f"{tmp_path / 'answers' / 'a.yaml'}:8 [no-text]: missing field 'text'" in broken.stdout
    assert "4 problem(s)" in broken.stderr
    shipped = run_bot("--config", str(ROOT / "bot.toml"), "answers", "check")
    assert shipped.returncode == 0, shipped.stdout
    assert "no problems" in shipped.stdout


def test_the_offer_follows_the_files_and_fits_the_appeals_topic(tmp_path: Path) -> None:
    canned = CannedAnswers(tmp_path, CATEGORIES)
    assert canned.for_category("ЖКХ") == []  # no files yet: nothing to offer, no error
    path = tmp_path / "a.yaml"
    path.write_text(BROKEN, encoding="utf-8")
    assert [answer.id for answer in canned.for_category("Дороги")] == ["ok-answer"]  # the valid ones are offered
    path.write_text(
        "answers:\n  - id: roads\n    title: Дороги\n    categories: [Дороги]\n    text: Яма в плане ремонта.\n",
        encoding="utf-8",
    )
    os.utime(path, ns=(1, 1))  # a changed file, even within the file system's time resolution
    assert [answer.id for answer in canned.for_category("Дороги")] == ["roads"]
    assert canned.for_category("ЖКХ") == []
