"""The dashboard as staff use it, in a real headless Chromium (Debian's, driven by Playwright): sign in with a
one-time link, see the charts drawn, choose the overview's period, filter the list through its form, open a card
with its photo, download the XLSX export and read it back; a wrong or reused link and a browser without a session
are refused; on a phone's screen every page fits its width.

Needs Chromium at /usr/bin/chromium (or PRIEMNAYA_CHROMIUM); `.ci/run` installs it. Without it the test is
skipped locally and fails in CI (CI=true), which must run it."""

from __future__ import annotations

import asyncio
import os
import re
import struct
import zlib
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path

import openpyxl
import pytest
from playwright.async_api import Browser, Page, async_playwright, expect

from bot.app import Application
from bot.config import Config, load_config
from bot.media import MediaStore
from bot.services.appeal_stages import AppealStage
from bot.services.appeals import AppealDraft, answer_appeal, move_appeal, open_appeal
from bot.services.ratings import rate
from bot.services.sign_in import sign_in_link
from storage.models import AppealAttachment
from storage.uow import UnitOfWork
from tests.conftest import IN_CI, stored_resident, write_config
from tests.test_dashboard import OLGA, ROSTER

CHROMIUM = os.environ.get("PRIEMNAYA_CHROMIUM", "/usr/bin/chromium")
# Generous for a loaded CI machine: Playwright's assertions retry until this many milliseconds have passed.
expect.set_options(timeout=20_000)


def png(width: int, height: int) -> bytes:
    """A real RGB PNG (a gradient) a browser decodes, unlike a bare signature."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    pixels = b"".join(
        b"\x00" + bytes(value for x in range(width) for value in (x * 255 // width, y * 255 // height, 160))
        for y in range(height)
    )
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)  # 8 bits, truecolour, no interlace
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(pixels)) + chunk(b"IEND", b"")


PHOTO = png(48, 32)
APPEALS = {  # key: category, description, days ago
    "lift": ("ЖКХ", "Не работает лифт в подъезде 2", 12),
    "bench": ("Благоустройство", "Сломана скамейка в сквере у школы", 9),
    "pit": ("Дороги", "Яма на дороге у дома 5", 3),
    "light": ("Дороги", "Не горит светофор на перекрёстке", 1),
}


@pytest.fixture
def config(tmp_path: Path, database_url: str) -> Config:
    return load_config(write_config(tmp_path, database_url, ROSTER), environ={})


@pytest.fixture(scope="module")
async def browser() -> AsyncIterator[Browser]:
    """Debian's Chromium, headless; never a browser Playwright downloads."""
    if not os.access(CHROMIUM, os.X_OK):
        reason = f"no Chromium at {CHROMIUM}: apt-get install chromium, or set PRIEMNAYA_CHROMIUM to its path"
        if IN_CI:
            pytest.fail(reason + " (CI must run the browser test, so this is a failure, not a skip)")
        pytest.skip(reason)
    async with async_playwright() as playwright:
        chromium = await playwright.chromium.launch(executable_path=CHROMIUM)
        yield chromium
        await chromium.close()


async def seed(app: Application, store: MediaStore) -> dict[str, str]:
    """Four appeals through the service layer: one new, one in work with a photo, one answered and rated 5 (so
    closed), one answered and rated 2."""
    policy, notices, now, staff = app.services.appeals, app.services.notices, app.services.clock(), "staff:olga"
    numbers = {}
    async with UnitOfWork(app.sessions) as uow:
        resident = await stored_resident(uow, "telegram", "42")
        for key, (category, text, age) in APPEALS.items():
            draft = AppealDraft(category, text, phone="+79120000000", latitude=55.75, longitude=37.61)
            appeal = await open_appeal(uow, policy, resident, "telegram", draft, now - timedelta(days=age))
            numbers[key] = appeal.number
            if key == "pit":
                photo = AppealAttachment(platform="telegram", platform_file_id="x", media_path=store.keep(PHOTO))
                appeal.attachments.append(photo)
        await uow.commit()
    async with UnitOfWork(app.sessions) as uow:
        await move_appeal(uow, notices, numbers["pit"], AppealStage.ACCEPTED, actor=staff, now=now - timedelta(days=2))
        await move_appeal(uow, notices, numbers["pit"], AppealStage.IN_PROGRESS, actor=staff, now=now)
        await answer_appeal(uow, notices, numbers["lift"], "Лифт исправлен.", actor=staff, now=now - timedelta(days=8))
        await answer_appeal(
            uow, notices, numbers["bench"], "Скамейку заменят.", actor=staff, now=now - timedelta(days=2)
        )
        await uow.commit()
    async with UnitOfWork(app.sessions) as uow:
        await rate(uow, notices, resident, numbers["lift"], 5, now - timedelta(days=7))
        await rate(uow, notices, resident, numbers["bench"], 2, now - timedelta(days=1))
        await uow.commit()
    return numbers


async def listed(page: Page, count: int) -> list[str]:
    """The numbers in the list's table, once it shows `count` rows."""
    numbers = page.locator("table a[href^='/dashboard/appeals/']")
    await expect(numbers).to_have_count(count)
    return sorted(await numbers.all_inner_texts())


async def test_staff_use_the_dashboard_in_a_browser(
    browser: Browser, app: Application, site: tuple[str, MediaStore], tmp_path: Path
) -> None:
    base, store = site
    numbers = await seed(app, store)
    link = await sign_in_link(app.sessions, OLGA, base)
    context = await browser.new_context(accept_downloads=True, viewport={"width": 1280, "height": 900})
    try:
        page = await context.new_page()
        response = await page.goto(link)
        assert response is not None
        assert response.status == 200
        await expect(page).to_have_url(f"{base}/dashboard/")  # the link opened a session and led on
        await expect(page.locator("h1")).to_have_text(re.compile(r"^Обзор за "))
        await expect(page.locator("header")).to_contain_text("Ольга Смирнова")
        await expect(page.locator("main")).to_contain_text(f"Обращений: {len(APPEALS)}.")

        charts = page.locator(".chart > svg")
        await expect(charts).to_have_count(5)
        for chart in await charts.all():
            box = await chart.bounding_box()
            assert box is not None
            assert box["width"] > 300
            assert box["height"] > 150
            await expect(chart.locator(".no_data")).to_have_count(0)
            drawn = await chart.evaluate(
                "svg => [...svg.querySelectorAll('.series rect, .series path')]"
                ".filter(e => { const b = e.getBBox(); return b.width > 0 && b.height > 0; }).length"
            )
            assert drawn > 0, await chart.locator("title").first.text_content()

        async with page.expect_download() as downloading:
            await page.get_by_role("link", name="XLSX", exact=True).click()
        download = await downloading.value
        assert re.fullmatch(r"appeals-\d{8}-\d{8}\.xlsx", download.suggested_filename)
        saved = tmp_path / download.suggested_filename
        await download.save_as(saved)
        book = await asyncio.to_thread(openpyxl.load_workbook, saved)
        sheet = book.active
        assert sheet is not None
        heading, *rows = sheet.iter_rows(values_only=True)
        columns = [heading.index(name) for name in ("Тема", "Этап", "Оценка", "Фото")]
        exported = {row[0]: tuple(row[column] for column in columns) for row in rows}
        assert exported == {
            numbers["lift"]: ("ЖКХ", "Закрыто", 5, 0),
            numbers["bench"]: ("Благоустройство", "Дан ответ", 2, 0),
            numbers["pit"]: ("Дороги", "В работе", None, 1),
            numbers["light"]: ("Дороги", "Новое, ждёт регистрации", None, 0),
        }

        today = app.services.clock().astimezone(app.services.appeals.calendar.timezone).date()  # the dashboard's
        # The seeded appeals were opened 12, 9, 3 and 1 days ago.
        period = page.locator("form.period")
        await period.locator("input[name=from]").fill((today - timedelta(days=5)).isoformat())
        await period.locator("input[name=to]").fill(today.isoformat())
        await period.get_by_role("button", name="Показать").click()
        await expect(page.locator("h1")).to_have_text(f"Обзор за {today - timedelta(days=5):%d.%m.%Y}–{today:%d.%m.%Y}")
        await expect(page.locator("main")).to_contain_text("Обращений: 2.")
        await period.get_by_role("link", name="год").click()
        await expect(page.locator("h1")).to_have_text(
            f"Обзор за {today - timedelta(days=364):%d.%m.%Y}–{today:%d.%m.%Y}"
        )
        await expect(page.locator("main")).to_contain_text(f"Обращений: {len(APPEALS)}.")

        await page.get_by_role("link", name="Обращения", exact=True).click()
        assert await listed(page, len(APPEALS)) == sorted(numbers.values())
        filters = page.locator("form.filters")
        await filters.locator("select[name=category]").select_option("Дороги")
        await filters.get_by_role("button", name="Показать").click()
        await expect(page).to_have_url(re.compile(r"/dashboard/appeals\?.*category="))
        assert await listed(page, 2) == sorted([numbers["pit"], numbers["light"]])
        await expect(filters.locator("select[name=category]")).to_have_value("Дороги")  # the form keeps it
        await filters.locator("select[name=stage]").select_option(label="В работе")
        await filters.get_by_role("button", name="Показать").click()
        await expect(page).to_have_url(re.compile(r"stage=in_progress"))
        assert await listed(page, 1) == [numbers["pit"]]
        await expect(page.locator("main")).to_contain_text("Найдено: 1.")

        await page.get_by_role("link", name=numbers["pit"], exact=True).click()
        await expect(page.locator("h1")).to_have_text(f"Обращение {numbers['pit']}")
        await expect(page.locator("main")).to_contain_text("Яма на дороге у дома 5")
        await expect(page.locator("main")).to_contain_text("+79120000000")  # an operator sees the phone
        photo = page.locator("img.photo")
        await expect(photo).to_have_count(1)
        await expect(photo).to_have_js_property("complete", True)
        await expect(photo).to_have_js_property("naturalWidth", 48)  # decoded, not a broken image
        await expect(photo).to_have_js_property("naturalHeight", 32)

        await page.get_by_role("button", name="Выйти").click()
        await expect(page.locator("h1")).to_have_text("Вы вышли")
        response = await page.goto(f"{base}/dashboard/")
        assert response is not None
        assert response.status == 401  # the session is over
    finally:
        await context.close()

    stranger = await browser.new_context()
    try:
        page = await stranger.new_page()
        for address, status, heading in (
            (f"{base}/dashboard/", 401, "Нужно войти"),  # no session
            (f"{base}/dashboard/appeals/{numbers['pit']}", 401, "Нужно войти"),
            (link, 403, "Ссылка не действует"),  # a link opens one session
            (f"{base}/dashboard/login?token=wrong", 403, "Ссылка не действует"),
            (f"{base}/dashboard/login", 403, "Ссылка не действует"),
        ):
            response = await page.goto(address)
            assert response is not None
            assert response.status == status, address
            await expect(page.locator("h1")).to_have_text(heading)
        assert await stranger.cookies() == []  # none of these opened a session
    finally:
        await stranger.close()


async def test_the_dashboard_fits_a_phone(browser: Browser, app: Application, site: tuple[str, MediaStore]) -> None:
    base, store = site
    numbers = await seed(app, store)
    phone = await browser.new_context(
        viewport={"width": 390, "height": 844}, device_scale_factor=3, is_mobile=True, has_touch=True
    )  # the size of a common phone
    try:
        page = await phone.new_page()
        await page.goto(await sign_in_link(app.sessions, OLGA, base))
        for address in ("/dashboard/", "/dashboard/appeals", f"/dashboard/appeals/{numbers['pit']}"):
            await page.goto(base + address)
            await expect(page.locator("h1")).to_be_visible()
            # Nothing pushes the page sideways: only a wide table may scroll, inside its own box.
            assert await page.evaluate("document.documentElement.scrollWidth") <= 390, address
            text = await page.evaluate("parseFloat(getComputedStyle(document.body).fontSize)")
            assert text >= 14, address  # not shrunk to a desktop page's overview
        await page.goto(base + "/dashboard/")
        for chart in await page.locator(".chart > svg").all():
            box = await chart.bounding_box()
            assert box is not None
            assert 300 < box["width"] <= 390  # one chart to the width of the screen
            smallest = await chart.evaluate(
                "svg => Math.min(...[...svg.querySelectorAll('text')]"
                ".map(t => t.getBoundingClientRect().height).filter(h => h > 0))"
            )
            assert smallest >= 9, await chart.locator("title").first.text_content()  # text still readable
        await page.goto(base + "/dashboard/appeals")
        search = page.locator("form.filters input[name=q]")
        await search.fill(numbers["pit"])
        await page.locator("form.filters").get_by_role("button", name="Показать").tap()
        assert await listed(page, 1) == [numbers["pit"]]
    finally:
        await phone.close()
