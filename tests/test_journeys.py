"""The resident's whole journey, written once and run in the console chat, in Telegram and in VK, so that the
platforms can never drift apart: menu, FAQ, an appeal with a photo and a place, my appeals, a notice at every
stage, the answer and its rating."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator

import pytest
from sqlalchemy import select

from bot.app import Application
from bot.services.appeal_stages import AppealStage
from bot.services.appeals import answer_appeal, move_appeal
from storage.db import session_factory
from storage.models import Appeal, Rating, Resident
from storage.uow import UnitOfWork
from tests.residents import PLATFORMS, Platforms, platform_for


@pytest.fixture(params=PLATFORMS)
async def platform(request: pytest.FixtureRequest, app: Application) -> AsyncIterator[Platforms]:
    async for ready in platform_for(request.param, app):
        yield ready


async def staff_moves(app: Application, number: str, stage: AppealStage, comment: str | None = None) -> None:
    async with UnitOfWork(session_factory(app.engine)) as uow:
        await move_appeal(
            uow, app.services.notices, number, stage, actor="staff:olga", now=app.services.clock(), comment=comment
        )
        await uow.commit()


async def staff_answers(app: Application, number: str, text: str) -> None:
    async with UnitOfWork(session_factory(app.engine)) as uow:
        await answer_appeal(uow, app.services.notices, number, text, actor="staff:olga", now=app.services.clock())
        await uow.commit()


async def test_the_menu_and_the_faq(platform: Platforms) -> None:
    anna = platform.resident()
    [greeting] = await anna.send("/start")
    assert greeting.startswith("Здравствуйте, Анна Петрова!\nЭто бот «Администрация города Тестовска».")
    assert anna.buttons == ["Задать вопрос", "Подать обращение", "Мои обращения", "Помощь"]
    [answer] = await anna.send("нет горячей воды")
    assert answer.startswith("❓ Почему нет горячей воды и когда её дадут?\n\nСначала проверьте")
    assert anna.buttons == ["👍 Помогло", "👎 Не помогло", "Задать другой вопрос", "Подать обращение", "Главное меню"]
    [rated] = await anna.press("👍 Помогло")
    assert rated.endswith("Спасибо за оценку!")
    assert "👍 Помогло" not in anna.buttons
    await anna.press("Задать другой вопрос")
    assert anna.buttons[:2] == ["Безопасность", "Благоустройство"]  # the topics, to browse
    [topic] = await anna.press("ЖКХ")
    assert topic.startswith("ЖКХ: частые вопросы (страница 1 из 2).")
    [second] = await anna.press("Ещё ▸")
    assert second.startswith("ЖКХ: частые вопросы (страница 2 из 2).")
    [suggestions] = await anna.send("автобус")
    assert suggestions == "Точного ответа я не нашёл. Может быть, вы спрашиваете об одном из этих вопросов?"
    offered = anna.buttons
    assert offered[-1] == "Ничего не подходит — подать обращение"
    [shown] = await anna.press(offered[0])
    assert shown.startswith(f"❓ {offered[0]}"[:40].rstrip("…"))
    [help_text] = await anna.send("/help")
    assert help_text.startswith("Я помогаю жителям связаться с «Администрация города Тестовска».")


async def test_an_appeal_from_filing_to_a_rated_answer(app: Application, platform: Platforms) -> None:
    anna = platform.resident()
    await anna.send("/start")
    [consent] = await anna.press("Подать обращение")
    assert consent.startswith("Чтобы принять обращение, нам нужно ваше согласие")
    assert await anna.press("Согласен(на)") == ["Выберите тему обращения:"]
    assert "Дороги" in anna.buttons
    [describe] = await anna.press("Дороги")
    assert describe.startswith("Опишите проблему")
    [photos] = await anna.send(photo="pit", caption="Огромная яма на дороге у дома 5 по улице Ленина")
    assert photos.startswith("Если есть фото")
    assert await anna.press("Готово") == ["Где это? Отправьте геолокацию или напишите адрес (улица, дом, ориентир)."]
    [phone] = await anna.send(location=(55.751, 37.618))
    assert phone.startswith("Оставьте телефон")
    [summary] = await anna.send("+7 912 345-67-89")
    assert summary.startswith(
        "Проверьте обращение:\n\nТема: Дороги\nОписание: Огромная яма на дороге у дома 5 по улице Ленина\n"
        "Фото: 1\nМесто: геолокация 55.75100, 37.61800\nТелефон: +79123456789"
    )
    [created] = await anna.press("Отправить")
    found = re.match(r"Обращение принято, его номер — (А-\d{4}-\d{6})\.", created)
    assert found is not None
    number = found[1]

    async with session_factory(app.engine)() as session:
        appeal = (await session.execute(select(Appeal))).scalar_one()
        await session.refresh(appeal, ["attachments"])
        resident = await session.get(Resident, appeal.resident_id)
    assert resident is not None
    assert (resident.platform, resident.platform_user_id) == (platform.name, anna.user_id)
    [photo] = appeal.attachments
    assert "pit" in photo.platform_file_id
    assert (appeal.latitude, appeal.longitude) == (55.751, 37.618)

    await anna.press("Мои обращения")
    item = next(label for label in anna.buttons if label.startswith(number))
    [card] = await anna.press(item)
    assert card.startswith(f"Обращение {number}\nТема: Дороги\nЭтап: Новое, ждёт регистрации")

    await staff_moves(app, number, AppealStage.ACCEPTED, comment="Передано в дорожную службу")
    await staff_moves(app, number, AppealStage.IN_PROGRESS)
    assert await anna.notices(app) == [
        f"Обращение {number}: новый этап — «Зарегистрировано».\nКомментарий специалиста: Передано в дорожную службу",
        f"Обращение {number}: новый этап — «В работе».",
    ]
    await staff_answers(app, number, "Яму заделают до 10 декабря.")
    [answer] = await anna.notices(app)
    assert answer.startswith(f"Ответ на обращение {number}:\n\nЯму заделают до 10 декабря.\n\nОцените")
    assert anna.buttons[:5] == ["1", "2", "3", "4", "5"]
    [sorry] = await anna.press("2")
    assert sorry.startswith("Жаль, что ответ не помог.")
    [saved] = await anna.send("Яму так и не заделали")
    assert saved.startswith("Спасибо, ваш комментарий передан специалистам.")
    [reopened] = await anna.press("Вернуть в работу")
    assert reopened == f"Обращение {number} снова в работе. Мы сообщим, когда будет новый ответ."
    async with session_factory(app.engine)() as session:
        assert (await session.execute(select(Appeal.stage))).scalar_one() == "in_progress"
        rating = (await session.execute(select(Rating))).scalar_one()
    assert (rating.score, rating.comment) == (2, "Яму так и не заделали")
