"""The FAQ in service: edits are picked up without a restart; a broken edit keeps the last good FAQ."""

from __future__ import annotations

import asyncio
import logging
import os
from pathlib import Path

import pytest

from bot.faq.matcher import Outcome, Thresholds
from bot.faq.service import FaqError, FaqService

ITEM = """items:
  - id: {id}
    question: "{question}"
    answer: "{answer}"
    category: ЖКХ
"""


def write(path: Path, text: str) -> None:
    path.write_text(text, encoding="utf-8")
    # A reload must be seen even when the edit lands within the file system's timestamp granularity.
    stat = path.stat()
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns + 1_000_000_000))


def answer_id(service: FaqService, query: str) -> str | None:
    match = service.index.match(query)
    return match.item.id if match.outcome is Outcome.ANSWER and match.item else None


def test_edit_is_picked_up_and_broken_edit_keeps_the_last_good_faq(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    file = tmp_path / "faq.yaml"
    write(file, ITEM.format(id="water", question="Когда дадут горячую воду?", answer="Скоро."))
    service = FaqService.load(tmp_path, Thresholds())
    assert answer_id(service, "когда дадут горячую воду") == "water"

    write(file, ITEM.format(id="heating", question="Когда включат отопление?", answer="В октябре."))
    assert service.reload().changed
    assert answer_id(service, "когда включат отопление") == "heating"

    with caplog.at_level(logging.ERROR):
        write(file, "items:\n  - id: heating\n    question: [broken\n")
        result = service.reload()
    assert not result.changed
    assert result.problems[0].startswith(f"{file}:")
    assert "previous version stays in service" in caplog.text
    assert answer_id(service, "когда включат отопление") == "heating"
    assert not service.reload().changed  # the same broken file is not reported again


async def test_watch_reloads_in_the_background(tmp_path: Path) -> None:
    file = tmp_path / "faq.yaml"
    write(file, ITEM.format(id="water", question="Когда дадут горячую воду?", answer="Скоро."))
    service = FaqService.load(tmp_path, Thresholds())
    watcher = asyncio.create_task(service.watch(interval=0.02))
    try:
        write(tmp_path / "more.yaml", ITEM.format(id="snow", question="Когда уберут снег во дворе?", answer="Завтра."))
        for _ in range(250):
            if answer_id(service, "уберут снег во дворе") == "snow":
                break
            await asyncio.sleep(0.02)
        assert answer_id(service, "уберут снег во дворе") == "snow"
        assert answer_id(service, "когда дадут горячую воду") == "water"
    finally:
        watcher.cancel()


def test_a_faq_broken_from_the_start_stops_start_up(tmp_path: Path) -> None:
    (tmp_path / "faq.yaml").write_text("items:\n  - id: x\n", encoding="utf-8")
    with pytest.raises(FaqError, match="missing field 'question'"):
        FaqService.load(tmp_path, Thresholds())
    with pytest.raises(FaqError, match="FAQ folder not found"):
        FaqService.load(tmp_path / "absent", Thresholds())
