"""Photos kept by the bot: downloaded from the platform after the appeal is filed into a content-addressed media
store (size and type checked), so they outlive the platform's links."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

import pytest
from pydantic import SecretStr
from sqlalchemy import select

from bot.adapters.vk import VkSender, largest_photo, make_api
from bot.app import Application
from bot.config import VkSettings
from bot.media import MediaKeeper, MediaRefused, MediaStore
from bot.services.appeals import AppealDraft, open_appeal
from storage.models import AppealAttachment
from storage.uow import UnitOfWork
from tests.conftest import stored_resident
from tests.fake_telegram import FakeTelegram, User
from tests.fake_vk import JPEG, FakeVK
from tests.fake_vk import User as VkUser
from tests.test_telegram import Running, start

PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 40


def test_the_store_keeps_an_image_once_and_refuses_the_rest(tmp_path: Path) -> None:
    store = MediaStore(tmp_path / "media", max_bytes=1000)
    first = store.keep(PNG)
    assert first.endswith(".png")
    assert store.keep(PNG) == first  # the same photo twice: one file
    assert len(list((tmp_path / "media").rglob("*.png"))) == 1
    assert store.path(first) is not None
    assert store.path(first).read_bytes() == PNG  # type: ignore[union-attr]
    with pytest.raises(MediaRefused, match="larger than"):
        store.keep(JPEG + b"\x00" * 1000)
    with pytest.raises(MediaRefused, match="not a JPEG"):
        store.keep(b"<html>not a photo</html>")
    assert store.path("../../etc/passwd") is None  # never a file outside the store


@pytest.fixture
async def telegram(app: Application, fake: FakeTelegram) -> AsyncIterator[Running]:
    running, stopped = await start(fake, app)
    yield running
    await stopped()


async def test_a_residents_photo_from_telegram_is_downloaded_into_the_store(
    app: Application, telegram: Running, tmp_path: Path
) -> None:
    anna = telegram.resident(User(42, "Анна"))
    await anna.send("/start")
    await anna.send(photo="pit", caption="Огромная яма на дороге у дома 5 по Садовой")
    await anna.press("Согласен(на)")
    await anna.press("Дороги")
    for label in ("Готово", "Пропустить", "Пропустить", "Отправить"):
        await anna.press(label)
    store = MediaStore(tmp_path / "media", max_bytes=10_000_000)
    keeper = MediaKeeper(app.sessions, store, {"telegram": telegram.adapter.sender})
    assert await keeper.keep_due() == 1
    assert await keeper.keep_due() == 0  # kept: not downloaded again
    async with app.sessions() as session:
        [photo] = (await session.execute(select(AppealAttachment))).scalars()
    assert photo.platform_file_id == "pit-1280"
    assert photo.media_path is not None
    assert store.path(photo.media_path).read_bytes().startswith(b"\xff\xd8\xff")  # type: ignore[union-attr]
    assert telegram.fake.calls_of("getFile")


async def test_a_photo_from_vk_is_downloaded_by_its_url(tmp_path: Path) -> None:
    fake = FakeVK(token="vk-token")
    await fake.start()
    try:
        update = fake.message_new(VkUser(7, "Анна"), "яма", photos=("pit",))
        url = largest_photo(update["object"]["message"]["attachments"][0])
        assert url is not None
        sender = VkSender(make_api(VkSettings(token=SecretStr("vk-token"), group_id=1, api_base=fake.url)), None, "")
        store = MediaStore(tmp_path, max_bytes=1000)
        assert store.keep(await sender.download(url, 1001)).endswith(".jpg")
    finally:
        await fake.close()


async def test_photos_no_appeal_refers_to_any_more_are_deleted(app: Application, tmp_path: Path) -> None:
    """After /forget or the retention period, the photo is personal data nobody may keep."""
    store = MediaStore(tmp_path / "media", max_bytes=1000)
    kept, orphan = store.keep(PNG), store.keep(JPEG)
    keeper = MediaKeeper(app.sessions, store, {})
    assert await keeper.sweep() == 0  # a moment old: its appeal may not be committed yet
    assert store.remove_all_but({kept}, older_than=0.0) == 1
    assert store.path(orphan) is None
    assert store.path(kept) is not None


class SlowPlatform:
    """A platform whose download lasts while `meanwhile` runs: the resident erases their photo mid-download."""

    def __init__(self, meanwhile: Callable[[], Awaitable[None]]) -> None:
        self._meanwhile = meanwhile

    async def download(self, file_id: str, max_bytes: int) -> bytes:
        await asyncio.wait_for(self._meanwhile(), timeout=10)  # the database is free while a photo downloads
        return PNG


async def test_a_photo_erased_while_it_downloads_is_not_kept_and_nothing_waits_for_the_download(
    app: Application, tmp_path: Path
) -> None:
    async with UnitOfWork(app.sessions) as uow:
        resident = await stored_resident(uow, "telegram", "42")
        draft = AppealDraft("Дороги", "Яма на дороге у дома 5")
        appeal = await open_appeal(uow, app.services.appeals, resident, "telegram", draft, app.services.clock())
        appeal.attachments.append(AppealAttachment(platform="telegram", platform_file_id="pit-1280"))
        await uow.commit()

    async def erase() -> None:
        async with UnitOfWork(app.sessions) as uow:
            stored = await uow.appeals.by_number(appeal.number)
            assert stored is not None
            stored.attachments.clear()
            await uow.commit()

    keeper = MediaKeeper(app.sessions, MediaStore(tmp_path / "media", 1000), {"telegram": SlowPlatform(erase)})
    assert await keeper.keep_due() == 1
    assert await keeper.keep_due() == 0
    async with app.sessions() as session:
        assert (await session.execute(select(AppealAttachment))).scalars().all() == []
