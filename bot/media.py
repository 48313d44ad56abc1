"""The media store: photos of appeals kept by the bot, not only by the platform (whose links expire and whose
file ids only the bot's token opens). Content-addressed, so the same photo is kept once; size and type checked;
files are written whole or not at all."""

from __future__ import annotations

import asyncio
import hashlib
import logging
import os
import tempfile
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Protocol, runtime_checkable

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.core.waiting import wait_for_event
from storage.uow import UnitOfWork

log = logging.getLogger(__name__)

SWEEP_EVERY = 3600.0  # seconds between the deletions of photos no appeal refers to any more
ORPHAN_AGE = 3600.0  # seconds a file no appeal refers to is kept anyway (its appeal may not be committed yet)
MAX_TRIES = 5  # downloads of one photo that failed for a passing reason, before it is given up
# An image's first bytes, and the extension it is kept under.
SIGNATURES = ((b"\xff\xd8\xff", "jpg"), (b"\x89PNG\r\n\x1a\n", "png"), (b"GIF8", "gif"))


class MediaRefused(Exception):
    """The file is not kept, whatever the number of tries: too big, or not an image."""


@runtime_checkable
class Downloader(Protocol):
    """What a platform adapter offers the media store: the bytes of a file it gave the bot, at most `limit`."""

    async def download(self, file_ref: str, limit: int) -> bytes: ...


class MediaStore:
    """Files under `directory`, named by their SHA-256: `ab/abcdef….jpg`."""

    def __init__(self, directory: Path, max_bytes: int) -> None:
        self.directory = directory
        self.max_bytes = max_bytes

    def keep(self, data: bytes) -> str:
        """Store an image; returns its path relative to the store. The same image twice is one file."""
        if len(data) > self.max_bytes:
            raise MediaRefused(f"larger than {self.max_bytes // 1_000_000} MB")
        extension = image_type(data)
        if extension is None:
            raise MediaRefused("not a JPEG, PNG, GIF or WebP image")
        digest = hashlib.sha256(data).hexdigest()
        relative = f"{digest[:2]}/{digest}.{extension}"
        target = self.directory / relative
        if not target.exists():
            target.parent.mkdir(parents=True, exist_ok=True)
            handle, temporary = tempfile.mkstemp(dir=target.parent, prefix=".incoming-")
            with os.fdopen(handle, "wb") as file:
                file.write(data)
            os.replace(temporary, target)  # whole, or not at all
        return relative

    def remove_all_but(self, kept: set[str], older_than: float) -> int:
        """Delete the stored files not in `kept` and older than `older_than` seconds (a file written a moment ago
        may belong to a transaction not committed yet); returns how many."""
        removed = 0
        limit = time.time() - older_than
        for file in self.directory.glob("*/*.*"):
            relative = file.relative_to(self.directory).as_posix()
            if relative not in kept and file.stat().st_mtime < limit:
                file.unlink(missing_ok=True)
                removed += 1
        return removed

    def path(self, relative: str) -> Path | None:
        """The file of a stored path, if it is one of the store's (never a path outside it)."""
        candidate = (self.directory / relative).resolve()
        root = self.directory.resolve()
        return candidate if candidate.is_relative_to(root) and candidate.is_file() else None


def image_type(data: bytes) -> str | None:
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "webp"
    return next((extension for signature, extension in SIGNATURES if data.startswith(signature)), None)


class MediaKeeper:
    """Downloads the photos of appeals not kept yet, from the platforms this process has, into the store."""

    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        store: MediaStore,
        downloaders: Mapping[str, Downloader],
    ) -> None:
        self._sessions = sessions
        self._store = store
        self._downloaders = dict(downloaders)
        self._wake = asyncio.Event()

    def wake(self) -> None:
        self._wake.set()

    async def run(self, interval: float) -> None:
        swept = 0.0
        while True:
            self._wake.clear()
            try:
                while await self.keep_due():
                    pass
                if time.monotonic() - swept > SWEEP_EVERY:
                    await self.sweep()
                    swept = time.monotonic()
            except Exception:
                log.exception("media store: a round failed; trying again")
            await wait_for_event(self._wake, interval)

    async def sweep(self) -> int:
        """Delete the files no appeal refers to any more (erased at a resident's request or after the retention
        period: a photo is personal data too); returns how many."""
        async with UnitOfWork(self._sessions) as uow:
            referenced = set(await uow.appeals.media_paths())
        removed = await asyncio.to_thread(self._store.remove_all_but, referenced, ORPHAN_AGE)
        if removed:
            log.info("media store: %d photo(s) no appeal refers to any more were deleted", removed)
        return removed

    async def keep_due(self, batch: int = 20) -> int:
        """Keep a batch of waiting photos; returns how many were tried. The downloads happen between two short
        transactions, holding no database connection; a photo erased meanwhile is left to the sweep."""
        async with UnitOfWork(self._sessions) as uow:
            waiting = [(attachment.id, attachment.platform, attachment.platform_file_id)
                       for attachment in await uow.appeals.attachments_to_keep(list(self._downloaders), MAX_TRIES,
                                                                               batch)]  # fmt: skip
        if not waiting:
            return 0
        kept: dict[int, str] = {}
        refused: dict[int, str] = {}
        for id_, platform, file_id in waiting:
            try:
                data = await self._downloaders[platform].download(file_id, self._store.max_bytes + 1)
                kept[id_] = await asyncio.to_thread(self._store.keep, data)
            except MediaRefused as exc:
                refused[id_] = str(exc)[:64]
                log.warning("media store: photo %s not kept: %s", id_, exc)
            except Exception as exc:
                log.warning("media store: photo %s not downloaded (%s)", id_, exc)
        async with UnitOfWork(self._sessions) as uow:
            for attachment in await uow.appeals.attachments_with_ids([id_ for id_, _, _ in waiting]):
                if attachment.id in kept:
                    attachment.media_path = kept[attachment.id]
                elif attachment.id in refused:
                    attachment.media_problem = refused[attachment.id]
                else:
                    attachment.media_attempts += 1
            await uow.commit()
        return len(waiting)
