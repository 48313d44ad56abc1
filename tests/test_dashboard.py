"""The managers' dashboard over real HTTP: a one-time sign-in link, charts drawn on the server, the list with
filters, a card with its photo, an export read back; roles decide what is seen; no session, no page."""

from __future__ import annotations

import io
import re
from datetime import date, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import aiohttp
import openpyxl
import pytest

from bot.app import Application
from bot.config import Config, load_config
from bot.core.types import Incoming, Platform
from bot.dashboard import Spans, ranking
from bot.media import MediaStore
from bot.report import Row, period
from bot.services.appeals import AppealDraft, open_appeal
from bot.services.sign_in import sign_in_link
from storage.models import AppealAttachment, utcnow
from storage.repositories import FaqUse
from storage.uow import UnitOfWork
from tests.conftest import appeals_opened_at, stored_resident, write_config

OLGA, PETR = 3001, 3003
ROSTER = f"""
[staff]
[[staff.members]]
telegram_id = {OLGA}
name = "Ольга Смирнова"
role = "operator"
[[staff.members]]
telegram_id = {PETR}
name = "Пётр Иванов"
role = "department"
departments = ["Дорожное хозяйство"]
"""
PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 40


@pytest.fixture
def config(tmp_path: Path, database_url: str) -> Config:
    return load_config(write_config(tmp_path, database_url, ROSTER), environ={})


async def seed(app: Application, store: MediaStore) -> dict[str, str]:
    numbers = {}
    async with UnitOfWork(app.sessions) as uow:
        resident = await stored_resident(uow, "telegram", "42")
        for key, category, text in (("lift", "ЖКХ", "Не работает лифт в подъезде 2"),
                                    ("pit", "Дороги", "Яма на дороге у дома 5")):  # fmt: skip
            draft = AppealDraft(category, text, phone="+79120000000", latitude=55.75, longitude=37.61)
            appeal = await open_appeal(uow, app.services.appeals, resident, "telegram", draft, app.services.clock())
            numbers[key] = appeal.number
        appeal.attachments.append(
            AppealAttachment(platform="telegram", platform_file_id="x", media_path=store.keep(PNG))
        )
        await uow.commit()
    return numbers


async def signed_in(base: str, link: str) -> aiohttp.ClientSession:
    http = aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True))
    async with http.get(link.replace("http://127.0.0.1:8080", base)) as response:
        assert response.status == 200
        assert str(response.url).endswith("/dashboard/")
    return http


async def test_an_operator_sees_everything_and_a_department_its_own(
    app: Application, site: tuple[str, MediaStore]
) -> None:
    base, store = site
    numbers = await seed(app, store)
    async with aiohttp.ClientSession() as stranger, stranger.get(f"{base}/dashboard/") as response:
        assert response.status == 401
    link = await sign_in_link(app.sessions, OLGA, "http://127.0.0.1:8080")
    olga = await signed_in(base, link)
    try:
        async with olga.get(f"{base}/dashboard/") as response:
            page = await response.text()
        assert page.count("<svg") == 5  # the charts, drawn on the server
        assert "Ольга Смирнова" in page
        async with aiohttp.ClientSession() as reuse, reuse.get(link.replace("http://127.0.0.1:8080", base)) as response:
            assert response.status == 403  # a link opens one session
        async with olga.get(f"{base}/dashboard/appeals", params={"category": "ЖКХ"}) as response:
            listed = await response.text()
        assert numbers["lift"] in listed
        assert numbers["pit"] not in listed
        async with olga.get(f"{base}/dashboard/appeals", params={"q": "яма"}) as response:
            assert numbers["pit"] in await response.text()
        async with olga.get(f"{base}/dashboard/appeals/{numbers['pit']}") as response:
            card = await response.text()
        assert "Яма на дороге у дома 5" in card
        assert "+79120000000" in card  # an operator calls residents back
        photo = re.search(r'src="/dashboard/media/([^"]+)"', card)
        assert photo is not None
        async with olga.get(f"{base}/dashboard/media/{photo.group(1)}") as response:
            assert await response.read() == PNG
        async with (
            aiohttp.ClientSession() as stranger,
            stranger.get(f"{base}/dashboard/media/{photo.group(1)}") as response,
        ):
            assert response.status == 401
        async with olga.get(f"{base}/dashboard/export.xlsx") as response:
            book = openpyxl.load_workbook(io.BytesIO(await response.read()))
        sheet = book.active
        assert sheet is not None
        table = [[cell.value for cell in row] for row in sheet.iter_rows()]
        assert sorted(row[0] for row in table[1:]) == sorted(numbers.values())
        links = {row[0]: row[table[0].index("Фото (ссылки для сотрудников)")] for row in table[1:]}
        assert links[numbers["lift"]] is None
        assert links[numbers["pit"]] == f"/dashboard/media/{photo.group(1)}"  # the export refers to the photo
        async with olga.get(f"{base}{links[numbers['pit']]}") as response:
            assert await response.read() == PNG

        async with olga.post(f"{base}/dashboard/logout", data={"csrf": "forged"}) as response:
            assert response.status == 403
        csrf = re.search(r'name="csrf" value="([^"]+)"', card)
        assert csrf is not None
        async with olga.post(f"{base}/dashboard/logout", data={"csrf": csrf.group(1)}) as response:
            assert response.status == 200
        async with olga.get(f"{base}/dashboard/") as response:
            assert response.status == 401  # the session is over
    finally:
        await olga.close()

    petr = await signed_in(base, await sign_in_link(app.sessions, PETR, "http://127.0.0.1:8080"))
    try:
        async with petr.get(f"{base}/dashboard/appeals") as response:
            listed = await response.text()
        assert numbers["pit"] in listed
        assert numbers["lift"] not in listed  # another department's
        async with petr.get(f"{base}/dashboard/appeals/{numbers['lift']}") as response:
            assert response.status == 404
        async with petr.get(f"{base}/dashboard/appeals/{numbers['pit']}") as response:
            assert "+79120000000" not in await response.text()  # no phones for a department's staff
    finally:
        await petr.close()


async def test_a_staff_member_asks_the_bot_for_a_link_in_telegram(
    app: Application, site: tuple[str, MediaStore]
) -> None:
    base, _ = site
    [reply] = await app.dispatcher.feed(
        Incoming(platform=Platform.TELEGRAM, user_id=str(OLGA), chat_id=str(OLGA), text="/dashboard")
    )
    link = re.search(r"http://\S+", reply.text)
    assert link is not None
    olga = await signed_in(base, link.group(0))
    await olga.close()
    [refused] = await app.dispatcher.feed(
        Incoming(platform=Platform.TELEGRAM, user_id="5", chat_id="5", text="/dashboard")
    )
    assert "http" not in refused.text  # an outsider learns nothing


async def test_a_new_dashboard_says_in_russian_that_there_is_nothing_yet(
    app: Application, site: tuple[str, MediaStore]
) -> None:
    base, _ = site
    async with (
        await signed_in(base, await sign_in_link(app.sessions, OLGA, "http://127.0.0.1:8080")) as olga,
        olga.get(f"{base}/dashboard/") as response,
    ):
        page = await response.text()
    assert "Обращений: 0." in page
    assert page.count("Нет данных") == 5  # each chart, in the dashboard's language
    assert "No data" not in page


async def test_the_list_combines_overdue_with_the_other_filters_and_pages_through_all_it_finds(
    app: Application, site: tuple[str, MediaStore]
) -> None:
    base, _ = site
    now = utcnow()
    ten_days_ago = [now - timedelta(days=10, minutes=minute) for minute in range(101)]  # newest first
    overdue_lifts = await appeals_opened_at(app, "ЖКХ", ten_days_ago)
    [overdue_pit] = await appeals_opened_at(app, "Дороги", [now - timedelta(days=9)])
    [fresh_lift] = await appeals_opened_at(app, "ЖКХ", [now])

    def numbers(page: str) -> list[str]:
        return re.findall(r'<a href="/dashboard/appeals/([^"]+)">', page)

    async with await signed_in(base, await sign_in_link(app.sessions, OLGA, "http://127.0.0.1:8080")) as olga:
        async with olga.get(f"{base}/dashboard/appeals", params={"overdue": "1", "category": "ЖКХ"}) as response:
            first = await response.text()
        assert "Найдено: 101, показаны 1–100, сначала новые." in first
        assert numbers(first) == overdue_lifts[:100]  # neither the pit (another topic) nor the fresh lift
        following = re.search(r'<a href="([^"]+)" rel="next">Следующие →</a>', first)
        assert following is not None
        async with olga.get(base + following.group(1).replace("&amp;", "&")) as response:
            second = await response.text()
        assert numbers(second) == overdue_lifts[100:]  # the filters kept on the next page
        assert 'rel="prev"' in second
        assert 'rel="next"' not in second
        async with olga.get(f"{base}/dashboard/appeals", params={"overdue": "1", "q": "Обращение"}) as response:
            assert numbers(await response.text()) == [overdue_pit, *overdue_lifts[:99]]  # any topic, newest first
        async with olga.get(f"{base}/dashboard/appeals", params={"page": "999"}) as response:
            last = await response.text()
        assert numbers(last) == overdue_lifts[98:]  # past the end: the last page, 101st to 103rd
        async with olga.get(f"{base}/dashboard/appeals", params={"page": "два"}) as response:
            assert numbers(await response.text())[0] == fresh_lift  # not a number: the first page


def test_the_overview_charts_weeks_and_a_long_period_months() -> None:
    zone = ZoneInfo("Europe/Moscow")
    weeks = Spans.of(period(date(2026, 11, 4), date(2026, 11, 30), zone, 90), zone)  # a Wednesday to a Monday
    assert (weeks.unit, weeks.labels) == ("неделям", ["02.11", "09.11", "16.11", "23.11", "30.11"])
    assert weeks.bounds[0] == datetime(2026, 11, 4, tzinfo=zone)  # cut to the period
    assert weeks.bounds[1] == datetime(2026, 11, 9, tzinfo=zone)
    assert weeks.bounds[-1] == datetime(2026, 12, 1, tzinfo=zone)
    year = Spans.of(period(date(2025, 12, 15), date(2026, 12, 3), zone, 90), zone)
    assert year.unit == "месяцам"
    assert year.labels[:2] == ["12.2025", "01.2026"]
    assert year.labels[-1] == "12.2026"
    assert len(year.bounds) == len(year.labels) + 1
    assert year.bounds[1] == datetime(2026, 1, 1, tzinfo=zone)


async def test_the_overview_takes_its_period_from_the_address_and_mends_it(
    app: Application, site: tuple[str, MediaStore]
) -> None:
    base, _ = site
    async with await signed_in(base, await sign_in_link(app.sessions, OLGA, "http://127.0.0.1:8080")) as olga:
        for query, heading in (
            ("?from=2026-11-01&to=2026-11-30", "Обзор за 01.11.2026–30.11.2026"),
            ("?from=2026-11-30&to=2026-11-01", "Обзор за 01.11.2026–30.11.2026"),  # the wrong way round
        ):
            async with olga.get(f"{base}/dashboard/{query}") as response:
                page = await response.text()
            assert f"<h1>{heading}</h1>" in page, query
            assert 'name="from" value="2026-11-01"' in page  # the form shows the period
            assert "export.xlsx?from=2026-11-01&to=2026-11-30" in page  # and the export follows it


async def test_the_overview_names_the_questions_whose_answers_help_least(
    app: Application, site: tuple[str, MediaStore]
) -> None:
    base, _ = site
    now = app.services.clock()
    votes = {"tree-removal": ("unhelpful",) * 3 + ("helpful",), "playground-repair": ("helpful",) * 2 + ("unhelpful",),
             "stray-dogs": ("unhelpful",) * 2, "gone-from-the-faq": ("unhelpful",) * 5}  # fmt: skip
    async with UnitOfWork(app.sessions) as uow:
        await uow.faq_uses.add_many([FaqUse(item, kind, now) for item, kinds in votes.items() for kind in kinds])
        await uow.commit()
    async with (
        await signed_in(base, await sign_in_link(app.sessions, OLGA, "http://127.0.0.1:8080")) as olga,
        olga.get(f"{base}/dashboard/") as response,
    ):
        page = await response.text()
    listed = re.findall(r"<li>([^<]+) <small>\(([^)]+)\)</small>: не помог (\d+) из (\d+)</li>", page)
    assert listed == [
        ("Как спилить аварийное дерево?", "tree-removal", "3", "4"),  # helped a quarter: first to rewrite
        ("На детской площадке сломаны качели — куда сообщить?", "playground-repair", "1", "3"),
    ]  # two votes are too few to judge; an item no longer in the FAQ cannot be rewritten


def department(name: str, first: float, answered: float, rating: float | None, poor: float, ratings: int) -> Row:
    return Row(name, 20, 3.0, 7.0, first, answered, rating, poor, 9.0, {4: ratings} if ratings else {})


def test_departments_are_ranked_by_promptness_and_by_quality() -> None:
    rows = ranking([
        department("Дорожное хозяйство", 0.50, 0.40, 4.0, 0.10, 12),
        department("Отдел ЖКХ", 0.90, 0.80, 4.0, 0.10, 30),
        department("Благоустройство", 0.90, 0.80, 4.5, 0.00, 6),
        department("ЕДДС", 0.95, 0.50, None, 0.00, 0),
        department("Транспорт", 0.80, 0.90, 5.0, 0.00, 4),  # too few ratings for a place by quality
    ])  # fmt: skip
    assert [(row["promptness"], row["quality"], row["group"]) for row in rows] == [
        ("1", "—", "ЕДДС"),
        ("2", "1", "Благоустройство"),  # equal promptness: one place, in name order
        ("2", "2", "Отдел ЖКХ"),
        ("4", "—", "Транспорт"),
        ("5", "2", "Дорожное хозяйство"),  # the same rating and share of poor ones as Отдел ЖКХ
    ]
    assert (rows[1]["first"], rows[1]["answered"], rows[1]["rating"]) == ("90%", "80%", "4.5")
