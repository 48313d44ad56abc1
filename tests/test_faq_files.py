"""FAQ files: the shipped FAQ is valid and broad; every mistake an admin can make is reported with file and line."""

from __future__ import annotations

from pathlib import Path

from bot.faq.loader import load_faq
from tests.conftest import ROOT, run_bot

GOOD_ITEM = """
  - id: {id}
    question: "Когда дадут горячую воду?"
    variants:
      - "Нет горячей воды"
    answer: "Позвоните в аварийную службу."
    category: ЖКХ
"""


def write(directory: Path, name: str, text: str) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / name
    path.write_text(text, encoding="utf-8")
    return path


def problems_of(directory: Path) -> list[str]:
    return [str(problem) for problem in load_faq(directory).problems]


def test_shipped_faq_is_valid_and_covers_the_municipal_topics() -> None:
    loaded = load_faq(ROOT / "faq")
    assert loaded.problems == ()
    assert len(loaded.items) >= 30
    categories = {item.category for item in loaded.items}
    assert {"ЖКХ", "дороги", "благоустройство", "транспорт", "соцзащита", "здравоохранение"} <= categories
    assert {"образование", "документы", "безопасность", "о боте"} <= categories
    assert all(item.variants for item in loaded.items)


def test_bad_yaml_is_reported_with_its_line(tmp_path: Path) -> None:
    write(tmp_path, "a.yaml", 'items:\n  - id: x\n    question: "unclosed\n    answer: y\n')
    [problem] = problems_of(tmp_path)
    assert problem.startswith(f"{tmp_path / 'a.yaml'}:")
    assert "YAML syntax error" in problem


def test_missing_field_empty_answer_and_unknown_field(tmp_path: Path) -> None:
    write(
        tmp_path,
        "a.yaml",
        "items:\n"
        "  - id: no-category\n    question: Q\n    answer: A\n"
        "  - id: empty-answer\n    question: Q\n    answer: ''\n    category: ЖКХ\n"
        "  - id: typo-field\n    question: Q\n    anwser: A\n    answer: A\n    category: ЖКХ\n"
        "  - id: bad-variants\n    question: Q\n    variants: одна строка\n    answer: A\n    category: ЖКХ\n",
    )
    file = tmp_path / "a.yaml"
    assert problems_of(tmp_path) == [
        f"{file}:2 [no-category]: missing field 'category'",
        f"{file}:7 [empty-answer]: 'answer' must be non-empty text",
        f"{file}:11 [typo-field]: unknown field 'anwser' (fields: id, question, answer, category, variants)",
        f"{file}:16 [bad-variants]: 'variants' must be a list of phrasings, each on a line starting with '- '",
    ]


def test_duplicate_id_across_files_names_both_places(tmp_path: Path) -> None:
    write(tmp_path, "a.yaml", "items:" + GOOD_ITEM.format(id="hot-water"))
    write(tmp_path, "b.yaml", "items:" + GOOD_ITEM.format(id="other") + GOOD_ITEM.format(id="hot-water"))
    assert problems_of(tmp_path) == [
        f"{tmp_path / 'b.yaml'}:9 [hot-water]: duplicate id, first used at {tmp_path / 'a.yaml'}:2"
    ]


def test_file_without_items_list(tmp_path: Path) -> None:
    write(tmp_path, "a.yaml", "- id: x\n")
    write(tmp_path, "b.yaml", "itemz:\n  - id: x\n")
    write(tmp_path, "c.yaml", "")
    assert problems_of(tmp_path) == [
        f"{tmp_path / 'a.yaml'}:1: expected 'items:' at the top of the file",
        f"{tmp_path / 'b.yaml'}:1: unknown top-level key 'itemz'; only 'items' is allowed",
        f"{tmp_path / 'b.yaml'}:1: 'items' must be a list of questions",
        f"{tmp_path / 'c.yaml'}:1: the file is empty; expected 'items:' with a list of questions",
    ]


def test_faq_check_command_reports_every_problem_and_fails(tmp_path: Path) -> None:
    write(tmp_path, "a.yaml", "items:" + GOOD_ITEM.format(id="x") + GOOD_ITEM.format(id="x"))
    write(tmp_path, "b.yaml", "items:\n  - id: y\n    question: [\n")
    result = run_bot("faq", "check", str(tmp_path))
    assert result.returncode == 1
    lines = result.stdout.splitlines()
    assert lines[0] == f"{tmp_path / 'a.yaml'}:9 [x]: duplicate id, first used at {tmp_path / 'a.yaml'}:2"
    assert lines[1].startswith(f"{tmp_path / 'b.yaml'}:4: YAML syntax error")
    assert "2 problem(s)" in result.stderr

    good = run_bot("faq", "check")
    assert good.returncode == 0, good.stdout
    assert "items in 10 categories, no problems" in good.stdout
