"""The FAQ in service: the current index, reloaded when the files change; a broken edit keeps the last good one."""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass
from pathlib import Path

from bot.faq.loader import FaqLoad, load_faq
from bot.faq.matcher import FaqIndex, Thresholds
from bot.records import yaml_files

log = logging.getLogger(__name__)

Fingerprint = tuple[tuple[str, int, int], ...]


class FaqError(Exception):
    """The FAQ could not be loaded at start-up; the message lists every problem."""


@dataclass(frozen=True, slots=True)
class ReloadResult:
    changed: bool
    problems: tuple[str, ...] = ()


class FaqService:
    """Holds the index handlers match against; `watch()` polls the folder and swaps in a new index on change."""

    def __init__(self, directory: Path, thresholds: Thresholds) -> None:
        self.directory = directory
        self.thresholds = thresholds
        self._fingerprint: Fingerprint | None = None  # None: never loaded
        self.index = FaqIndex((), thresholds)

    @classmethod
    def load(cls, directory: Path, thresholds: Thresholds) -> FaqService:
        """Load the FAQ or raise FaqError: the bot does not start on a broken FAQ it never had working."""
        service = cls(directory, thresholds)
        result = service.reload()
        if result.problems:
            raise FaqError("the FAQ has problems:\n" + "\n".join(f"  {problem}" for problem in result.problems))
        return service

    def _current_fingerprint(self) -> Fingerprint:
        entries = []
        for path in yaml_files(self.directory) if self.directory.is_dir() else []:
            try:
                stat = path.stat()
            except FileNotFoundError:
                continue
            entries.append((str(path), stat.st_mtime_ns, stat.st_size))
        return tuple(entries)

    def reload(self) -> ReloadResult:
        """Reload if the files changed since the last look. Problems keep the previous index in service."""
        fingerprint = self._current_fingerprint()
        if fingerprint == self._fingerprint:
            return ReloadResult(changed=False)
        self._fingerprint = fingerprint
        started = time.perf_counter()
        loaded: FaqLoad = load_faq(self.directory)
        if loaded.problems:
            problems = tuple(str(problem) for problem in loaded.problems)
            log.error(
                "FAQ in %s not reloaded, the previous version stays in service:\n  %s",
                self.directory,
                "\n  ".join(problems),
            )
            return ReloadResult(changed=False, problems=problems)
        self.index = FaqIndex(loaded.items, self.thresholds)
        log.info(
            "FAQ loaded: %d items from %s in %.0f ms",
            len(loaded.items),
            self.directory,
            (time.perf_counter() - started) * 1000,
        )
        return ReloadResult(changed=True)

    async def watch(self, interval: float) -> None:
        """Poll the folder every `interval` seconds until cancelled."""
        while True:
            await asyncio.sleep(interval)
            try:
                await asyncio.to_thread(self.reload)
            except Exception:
                log.exception("FAQ reload failed; the previous version stays in service")
