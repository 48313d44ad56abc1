"""Read the FAQ folder: YAML files of items, validated with problems reported by file, line and item id."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import yaml

REQUIRED_TEXT_FIELDS = ("id", "question", "answer", "category")
KNOWN_FIELDS = frozenset({*REQUIRED_TEXT_FIELDS, "variants"})


@dataclass(frozen=True, slots=True)
class FaqItem:
    id: str
    question: str
    variants: tuple[str, ...]
    answer: str
    category: str
    source: str  # "file:line", for messages to admins


@dataclass(frozen=True, slots=True)
class Problem:
    file: str
    line: int
    item_id: str | None
    message: str

    def __str__(self) -> str:
        item = f" [{self.item_id}]" if self.item_id else ""
        return f"{self.file}:{self.line}{item}: {self.message}"


@dataclass(frozen=True, slots=True)
class FaqLoad:
    items: tuple[FaqItem, ...]
    problems: tuple[Problem, ...]


def faq_files(directory: Path) -> list[Path]:
    return sorted([*directory.glob("*.yaml"), *directory.glob("*.yml")])


def load_faq(directory: Path) -> FaqLoad:
    """Every item of every YAML file in `directory`, and every problem found on the way."""
    items: list[FaqItem] = []
    problems: list[Problem] = []
    if not directory.is_dir():
        return FaqLoad((), (Problem(str(directory), 0, None, "FAQ folder not found"),))
    files = faq_files(directory)
    if not files:
        problems.append(Problem(str(directory), 0, None, "no .yaml files in the FAQ folder"))
    for path in files:
        file_items, file_problems = _load_file(path)
        items += file_items
        problems += file_problems
    seen: dict[str, FaqItem] = {}
    for item in items:
        if item.id in seen:
            file, line = item.source.rsplit(":", 1)
            problems.append(Problem(file, int(line), item.id, f"duplicate id, first used at {seen[item.id].source}"))
        else:
            seen[item.id] = item
    problems.sort(key=lambda problem: (problem.file, problem.line))
    return FaqLoad(tuple(seen.values()), tuple(problems))


def _load_file(path: Path) -> tuple[list[FaqItem], list[Problem]]:
    name = str(path)
    try:
        root = yaml.compose(path.read_text(encoding="utf-8"), Loader=yaml.SafeLoader)
    except UnicodeDecodeError:
        return [], [Problem(name, 1, None, "the file is not UTF-8 text")]
    except yaml.MarkedYAMLError as exc:
        line = exc.problem_mark.line + 1 if exc.problem_mark else 1
        return [], [Problem(name, line, None, f"YAML syntax error: {exc.problem or exc}")]
    if root is None:
        return [], [Problem(name, 1, None, "the file is empty; expected 'items:' with a list of questions")]
    if not isinstance(root, yaml.MappingNode):
        return [], [Problem(name, root.start_mark.line + 1, None, "expected 'items:' at the top of the file")]
    top = {key.value: value for key, value in root.value if isinstance(key, yaml.ScalarNode)}
    problems = [
        Problem(name, key.start_mark.line + 1, None, f"unknown top-level key '{key.value}'; only 'items' is allowed")
        for key, _ in root.value
        if isinstance(key, yaml.ScalarNode) and key.value != "items"
    ]
    node = top.get("items")
    if not isinstance(node, yaml.SequenceNode):
        line = (node or root).start_mark.line + 1
        return [], [*problems, Problem(name, line, None, "'items' must be a list of questions")]
    items: list[FaqItem] = []
    for entry in node.value:
        item, item_problems = _item(name, entry)
        problems += item_problems
        if item is not None:
            items.append(item)
    return items, problems


def _item(file: str, node: yaml.Node) -> tuple[FaqItem | None, list[Problem]]:
    line = node.start_mark.line + 1
    if not isinstance(node, yaml.MappingNode):
        return None, [Problem(file, line, None, "each item must be a set of 'key: value' lines starting with '- id:'")]
    fields = {key.value: value for key, value in node.value if isinstance(key, yaml.ScalarNode)}
    id_node = fields.get("id")
    item_id = id_node.value.strip() if isinstance(id_node, yaml.ScalarNode) and id_node.value.strip() else None
    problems: list[Problem] = []

    def problem(at: yaml.Node, message: str) -> None:
        problems.append(Problem(file, at.start_mark.line + 1, item_id, message))

    for key in fields.keys() - KNOWN_FIELDS:
        problem(fields[key], f"unknown field '{key}' (fields: id, question, variants, answer, category)")
    texts: dict[str, str] = {}
    for key in REQUIRED_TEXT_FIELDS:
        value = fields.get(key)
        if value is None:
            problem(node, f"missing field '{key}'")
        elif not isinstance(value, yaml.ScalarNode) or not value.value.strip():
            problem(value, f"'{key}' must be non-empty text")
        else:
            texts[key] = value.value.strip()
    variants: list[str] = []
    variants_node = fields.get("variants")
    if variants_node is not None:
        if not isinstance(variants_node, yaml.SequenceNode):
            problem(variants_node, "'variants' must be a list of phrasings, each on a line starting with '- '")
        else:
            for variant in variants_node.value:
                if isinstance(variant, yaml.ScalarNode) and variant.value.strip():
                    variants.append(variant.value.strip())
                else:
                    problem(variant, "each variant must be non-empty text")
    if problems or len(texts) < len(REQUIRED_TEXT_FIELDS):
        return None, problems
    return (
        FaqItem(
            id=texts["id"],
            question=texts["question"],
            variants=tuple(variants),
            answer=texts["answer"],
            category=texts["category"],
            source=f"{file}:{line}",
        ),
        [],
    )
