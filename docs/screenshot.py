"""Regenerate docs/dashboard.png, the README's screenshot of the dashboard's overview.

Usage: .venv/bin/python docs/screenshot.py [--output docs/dashboard.png] [--appeals 240]

Creates a temporary SQLite database and seeds a demo through the bot's own services: appeals over the last 60
days across the topics of bot.toml, registered, taken into work, answered and rated by residents (a few
redirected), each department at its own pace; questions the FAQ could not answer, and FAQ answers rated. Then it
serves the real dashboard on 127.0.0.1 (a free port), signs in with a one-time link in Debian's headless Chromium
(/usr/bin/chromium, or PRIEMNAYA_CHROMIUM) and saves a full-page screenshot of the overview, 1280 px wide. The
demo is the same on every run but for its dates (it ends today); nothing but the output file is kept.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import sys
import tempfile
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

from playwright.async_api import async_playwright

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bot.app import Application  # noqa: E402
from bot.config import StaffMember, WebSettings, load_config  # noqa: E402
from bot.dashboard import Dashboard  # noqa: E402
from bot.faq.matcher import Outcome  # noqa: E402
from bot.faq.normalize import normalize  # noqa: E402
from bot.services.appeal_stages import AppealStage  # noqa: E402
from bot.services.appeals import AppealDraft, answer_appeal, move_appeal, open_appeal  # noqa: E402
from bot.services.ratings import rate  # noqa: E402
from bot.services.sign_in import sign_in_link  # noqa: E402
from bot.services.staff import Roster  # noqa: E402
from bot.web import WebServer  # noqa: E402
from storage.repositories import FaqUse, Miss, ResidentProfile  # noqa: E402
from storage.uow import UnitOfWork  # noqa: E402

CHROMIUM = os.environ.get("PRIEMNAYA_CHROMIUM", "/usr/bin/chromium")
DAYS = 60
MANAGER = StaffMember(telegram_id=1001, name="Ольга Смирнова", role="manager")
STREETS = "Ленина,Мира,Советская,Садовая,Школьная,Заречная,Молодёжная,Гагарина,Лесная,Набережная".split(",")


@dataclass(frozen=True, slots=True)
class Pace:
    """How a topic's department works in the demo: its share of appeals, mean hours to the first response, mean
    days to the answer, and how residents rate it (weights of the scores 1 to 5)."""

    share: float
    first_hours: float
    answer_days: float
    scores: tuple[int, int, int, int, int]
    texts: tuple[str, ...]


PACES = {
    "ЖКХ": Pace(0.28, 6, 11, (1, 1, 3, 8, 10), ("Нет горячей воды в доме", "Протекает крыша над последним этажом",
          "Не работает лифт", "Не убирают подъезд", "Холодно в квартире, батареи еле тёплые")),
    "Дороги": Pace(0.2, 22, 26, (4, 4, 5, 5, 3), ("Глубокая яма на проезжей части", "Не горит светофор на перекрёстке",
          "Стёрлась разметка пешеходного перехода", "Тротуар не чистят от снега")),
    "Благоустройство": Pace(0.17, 9, 15, (1, 2, 3, 7, 7), ("Сломаны качели на детской площадке",
          "Переполнены мусорные контейнеры", "Во дворе не горят фонари", "Упало дерево на газон")),
    "Транспорт": Pace(0.11, 14, 18, (2, 3, 5, 5, 3), ("Автобус не ходит по расписанию", "Нет остановочного павильона",
          "Маршрутка проезжает остановку")),
    "Здравоохранение": Pace(0.05, 10, 20, (1, 2, 4, 5, 4), ("Не записаться к терапевту в поликлинике",
          "Долго ждали скорую помощь")),
    "Образование": Pace(0.05, 7, 12, (0, 1, 2, 6, 8), ("Нет мест в детском саду", "В школе холодно в классах")),
    "Соцзащита": Pace(0.05, 5, 9, (0, 1, 2, 6, 10), ("Не пришла компенсация за услуги ЖКХ",
          "Как оформить выплату многодетной семье")),
    "Безопасность": Pace(0.04, 3, 6, (1, 1, 2, 5, 9), ("Стая бродячих собак у школы", "Открыт люк колодца во дворе")),
    "Другое": Pace(0.05, 12, 14, (1, 2, 4, 5, 5), ("Предложение обустроить набережную",
          "Благодарность бригаде за ремонт двора")),
}  # fmt: skip
DEFAULT_PACE = Pace(0.05, 12, 14, (1, 2, 4, 5, 5), ("Прошу рассмотреть вопрос",))
ANSWERS = ("Работы выполнены, спасибо за обращение.", "Вопрос решён, проверьте, пожалуйста.",
           "Заявка передана подрядчику, работы включены в план на ближайший месяц.")  # fmt: skip
REDIRECTED = "Вопрос в ведении регионального министерства, обращение передано туда."
# Questions the FAQ has no answer for, and how often residents asked each.
MISSES = {"Когда откроют каток в парке?": 9, "Где получить парковочное разрешение для жителя?": 7,
          "Будут ли менять трубы на улице Садовой?": 5, "Куда сдать старые батарейки?": 4,
          "Почему не вывезли ёлки после праздников?": 3, "Можно ли выгуливать собак на стадионе?": 2}  # fmt: skip


async def seed(app: Application, count: int, rng: random.Random) -> None:
    """`count` appeals over the last DAYS days through the services, as residents and staff would leave them."""
    policy, notices, zone = app.services.appeals, app.services.notices, app.services.appeals.calendar.timezone
    now = app.services.clock()
    categories = list(policy.categories)
    paces = [PACES.get(category, DEFAULT_PACE) for category in categories]
    today = now.astimezone(zone).replace(hour=0, minute=0, second=0, microsecond=0)
    moments: list[datetime] = []
    while len(moments) < count:
        day = today - timedelta(days=rng.randrange(DAYS))
        if day.weekday() >= 5 and rng.random() < 0.55:
            continue  # fewer appeals at weekends
        moment = (day + timedelta(hours=rng.uniform(7.5, 22))).astimezone(now.tzinfo)
        if moment < now:
            moments.append(moment)
    moments.sort()

    opened: list[tuple[int, str, Pace, datetime]] = []
    async with UnitOfWork(app.sessions) as uow:
        residents = [
            await uow.residents.add("telegram", str(100_000 + n), ResidentProfile(None, None, None, moments[0]))
            for n in range(count // 2)
        ]
        for moment in moments:
            category, pace = rng.choices(list(zip(categories, paces, strict=True)), [p.share for p in paces])[0]
            resident = rng.choice(residents)
            address = f"ул. {rng.choice(STREETS)}, {rng.randrange(1, 80)}"
            draft = AppealDraft(category, rng.choice(pace.texts), address=address, phone="+79000000000")
            appeal = await open_appeal(uow, policy, resident, "telegram", draft, moment)
            opened.append((resident, appeal.number, pace, moment))
        await uow.commit()

    staff = f"staff:{MANAGER.name}"
    for resident, number, pace, created in opened:
        responded = created + timedelta(hours=rng.expovariate(1 / pace.first_hours))
        working = responded + timedelta(hours=rng.uniform(1, 48))
        answered = created + timedelta(days=rng.gammavariate(3, pace.answer_days / 3))
        rated = answered + timedelta(hours=rng.uniform(2, 60))
        async with UnitOfWork(app.sessions) as uow:
            if responded > now:
                continue  # still new
            if rng.random() < 0.04:
                await move_appeal(
                    uow, notices, number, AppealStage.REDIRECTED, actor=staff, now=responded, comment=REDIRECTED
                )
                await uow.commit()
                continue
            await move_appeal(uow, notices, number, AppealStage.ACCEPTED, actor=staff, now=responded)
            last = responded
            if working < now and rng.random() < 0.7:
                await move_appeal(uow, notices, number, AppealStage.IN_PROGRESS, actor=staff, now=working)
                last = working
            given = last < answered < now
            if given:
                await answer_appeal(uow, notices, number, rng.choice(ANSWERS), actor=staff, now=answered)
            await uow.commit()
        if given and rated < now and rng.random() < 0.75:
            async with UnitOfWork(app.sessions) as uow:
                score = rng.choices(range(1, 6), pace.scores)[0]
                await rate(uow, notices, resident, number, score, rated)
                await uow.commit()


async def seed_faq(app: Application, rng: random.Random) -> None:
    """What residents asked the FAQ in vain, and how they rated some of its answers, through the FAQ's journal."""
    now, journal, index = app.services.clock(), app.services.journal, app.services.faq.index
    for text, times in MISSES.items():
        match = index.match(text)
        if match.outcome is Outcome.ANSWER:
            continue  # the FAQ has learnt this one meanwhile
        for _ in range(times):
            journal.record(Miss(text, normalize(text), "telegram", match.best.id if match.best else None,
                                round(match.score, 1), now - timedelta(hours=rng.uniform(1, DAYS * 24))))  # fmt: skip
    for item, helpful in zip(index.items[:8], (0.9, 0.3, 0.8, 0.45, 0.95, 0.2, 0.7, 0.6), strict=False):
        for _ in range(rng.randrange(8, 30)):
            at = now - timedelta(hours=rng.uniform(1, DAYS * 24))
            journal.record(FaqUse(item.id, "view", at))
            if rng.random() < 0.5:
                journal.record(FaqUse(item.id, "helpful" if rng.random() < helpful else "unhelpful", at))
    await journal.flush()


async def screenshot(app: Application, output: Path) -> None:
    roster, zone = Roster([MANAGER]), app.services.appeals.calendar.timezone
    dashboard = Dashboard(
        app.sessions, app.texts, app.services.appeals, roster, app.config.settings.bot.authority, faq=app.services.faq
    )
    web = WebServer(WebSettings(host="127.0.0.1", port=0), {}, dashboard.routes())
    await web.start()
    try:
        link = await sign_in_link(app.sessions, MANAGER.telegram_id, f"http://127.0.0.1:{web.port}")
        async with async_playwright() as playwright:
            browser = await playwright.chromium.launch(executable_path=CHROMIUM)
            try:
                page = await browser.new_page(viewport={"width": 1280, "height": 900}, locale="ru-RU")
                response = await page.goto(link)
                if response is None or response.status != 200 or not page.url.endswith("/dashboard/"):
                    raise SystemExit(f"the sign-in link did not open the overview: {page.url}")
                first = (app.services.clock().astimezone(zone) - timedelta(days=DAYS - 1)).date()
                await page.goto(f"{page.url}?from={first.isoformat()}")  # the demo's period, not the default 90 days
                await page.locator(".chart svg").last.wait_for()
                await page.screenshot(path=output, full_page=True)
            finally:
                await browser.close()
    finally:
        await web.stop()


async def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--output", type=Path, default=ROOT / "docs" / "dashboard.png")
    parser.add_argument("--appeals", type=int, default=240)
    args = parser.parse_args()
    if not os.access(CHROMIUM, os.X_OK):
        raise SystemExit(f"no Chromium at {CHROMIUM}: apt-get install chromium, or set PRIEMNAYA_CHROMIUM")
    rng = random.Random(2026)
    with tempfile.TemporaryDirectory(prefix="priemnaya-screenshot-") as directory:
        database = f"sqlite+aiosqlite:///{Path(directory) / 'demo.sqlite3'}"
        config = load_config(ROOT / "bot.toml", environ={"PRIEMNAYA_DATABASE_URL": database})
        app = await Application.start(config)
        try:
            await seed(app, args.appeals, rng)
            await seed_faq(app, rng)
            await screenshot(app, args.output)
        finally:
            await app.close()
    print(f"saved {args.output}")


if __name__ == "__main__":
    asyncio.run(main())
