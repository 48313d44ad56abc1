"""Folders of YAML files that admins edit (the FAQ, the canned answers): each file a list of records under one
top-level key, read with every problem reported by file, line and record id, so a typo never stops the bot."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import yaml


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
class Schema:
    """What one kind of record looks like: the top-level key of its files, its text fields (all required; the
    first is the record's id, unique across the folder), its optional list fields with what their entries are
    ("phrasings"), and the word for a record in messages to admins ("question", "answer")."""

    top_key: str
    texts: tuple[str, ...]
    lists: tuple[tuple[str, str], ...] = ()
    noun: str = "item"

    @property
    def fields(self) -> str:
        return ", ".join((*self.texts, *(name for name, _ in self.lists)))


@dataclass(frozen=True, slots=True)
class Record:
    texts: dict[str, str]
    lists: dict[str, tuple[str, ...]] = field(default_factory=dict)
    source: str = ""  # "file:line", for messages to admins

    @property
    def id(self) -> str:
        return next(iter(self.texts.values()))


def yaml_files(directory: Path) -> list[Path]:
    return sorted([*directory.glob("*.yaml"), *directory.glob("*.yml")])


def load_records(directory: Path, schema: Schema, folder: str) -> tuple[list[Record], list[Problem]]:
    """Every valid record of every YAML file in `directory` (ids unique: a repeated one is a problem), and every
    problem found on the way; `folder` names the folder in messages ("FAQ folder")."""
    if not directory.is_dir():
        return [], [Problem(str(directory), 0, None, f"{folder} not found")]
    records: list[Record] = []
    problems: list[Problem] = []
    files = yaml_files(directory)
    if not files:
        problems.append(Problem(str(directory), 0, None, f"no .yaml files in the {folder}"))
    for path in files:
        file_records, file_problems = _load_file(path, schema)
        records += file_records
        problems += file_problems
    seen: dict[str, Record] = {}
    for record in records:
        if record.id in seen:
            file, line = record.source.rsplit(":", 1)
            problems.append(
                Problem(file, int(line), record.id, f"duplicate id, first used at {seen[record.id].source}")
            )
        else:
            seen[record.id] = record
    problems.sort(key=lambda problem: (problem.file, problem.line))
    return list(seen.values()), problems


def _load_file(path: Path, schema: Schema) -> tuple[list[Record], list[Problem]]:
    name, top_key = str(path), schema.top_key
    try:
        root = yaml.compose(path.read_text(encoding="utf-8"), Loader=yaml.SafeLoader)
    except UnicodeDecodeError:
        return [], [Problem(name, 1, None, "the file is not UTF-8 text")]
    except yaml.MarkedYAMLError as exc:
        line = exc.problem_mark.line + 1 if exc.problem_mark else 1
        return [], [Problem(name, line, None, f"YAML syntax error: {exc.problem or exc}")]
    expected = f"'{top_key}:' with a list of {schema.noun}s"
    if root is None:
        return [], [Problem(name, 1, None, f"the file is empty; expected {expected}")]
    if not isinstance(root, yaml.MappingNode):
        return [], [Problem(name, root.start_mark.line + 1, None, f"expected '{top_key}:' at the top of the file")]
    top = {key.value: value for key, value in root.value if isinstance(key, yaml.ScalarNode)}
    problems = [
        Problem(
            name, key.start_mark.line + 1, None, f"unknown top-level key '{key.value}'; only '{top_key}' is allowed"
        )
        for key, _ in root.value
        if isinstance(key, yaml.ScalarNode) and key.value != top_key
    ]
    node = top.get(top_key)
    if not isinstance(node, yaml.SequenceNode):
        line = (node or root).start_mark.line + 1
        return [], [*problems, Problem(name, line, None, f"'{top_key}' must be a list of {schema.noun}s")]
    records: list[Record] = []
    for entry in node.value:
        record, record_problems = _record(name, entry, schema)
        problems += record_problems
        if record is not None:
            records.append(record)
    return records, problems


def _record(file: str, node: yaml.Node, schema: Schema) -> tuple[Record | None, list[Problem]]:
    line = node.start_mark.line + 1
    id_field = schema.texts[0]
    if not isinstance(node, yaml.MappingNode):
        message = f"each {schema.noun} must be a set of 'key: value' lines starting with '- {id_field}:'"

        return None, [Problem(file, line, None, message)]
    fields = {key.value: value for key, value in node.value if isinstance(key, yaml.ScalarNode)}
    id_node = fields.get(id_field)
    record_id = id_node.value.strip() if isinstance(id_node, yaml.ScalarNode) and id_node.value.strip() else None
    problems: list[Problem] = []

    def problem(at: yaml.Node, message: str) -> None:
        problems.append(Problem(file, at.start_mark.line + 1, record_id, message))

    for key in fields.keys() - {*schema.texts, *(name for name, _ in schema.lists)}:
        problem(fields[key], f"unknown field '{key}' (fields: {schema.fields})")
    texts: dict[str, str] = {}
    for key in schema.texts:
        value = fields.get(key)
        if value is None:
            problem(node, f"missing field '{key}'")
        elif not isinstance(value, yaml.ScalarNode) or not value.value.strip():
            problem(value, f"'{key}' must be non-empty text")
        else:
            texts[key] = value.value.strip()
    lists: dict[str, tuple[str, ...]] = {}
    for key, entries_are in schema.lists:
        list_node = fields.get(key)
        if list_node is None:
            continue
        if not isinstance(list_node, yaml.SequenceNode):
            problem(list_node, f"'{key}' must be a list of {entries_are}, each on a line starting with '- '")
            continue
        entries = []
        for entry in list_node.value:
            if isinstance(entry, yaml.ScalarNode) and entry.value.strip():
                entries.append(entry.value.strip())
            else:
                problem(entry, f"each of '{key}' must be non-empty text")
        lists[key] = tuple(entries)
    if problems or len(texts) < len(schema.texts):
        return None, problems
    return Record(texts, lists, f"{file}:{line}"), []
