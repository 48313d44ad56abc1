""" "Мои обращения" and the staff commands: staff move an appeal, the resident sees it; nobody sees another's."""

from __future__ import annotations

import dataclasses
import subprocess
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime, timedelta

import pytest

from bot.adapters.console import ConsoleChat
from bot.app import Application
from bot.config import Config
from bot.core.types import Incoming, Platform
from bot.services.appeal_stages import AppealStage, CommentRequired, ForbiddenMove
from bot.services.appeals import AppealNotFound, UnknownDepartment, answer_appeal, move_appeal, route_appeal
from storage.db import session_factory
from storage.models import utcnow
from storage.uow import UnitOfWork
from tests.conftest import appeals_opened_at, run_bot_beside

MONDAY_MORNING = datetime(2026, 11, 23, 7, 0, tzinfo=UTC)  # 10:00 in Moscow


class Clock:
    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock(MONDAY_MORNING)


@pytest.fixture
async def app(config: Config, clock: Clock) -> AsyncIterator[Application]:
    """A resident here files a dozen appeals in a morning: more than bot.toml allows a day by default."""
    settings = config.settings
    many = settings.model_copy(update={"appeals": settings.appeals.model_copy(update={"max_per_day": 20})})
    application = await Application.start(dataclasses.replace(config, settings=many), clock=clock)
    yield application
    await application.close()


async def open_appeal(chat: ConsoleChat, category: str, description: str) -> str:
    await chat.say("/start")
    shown = await chat.say("Подать обращение")
    for line in ("Согласен(на)", category, description, "Без фото", "Пропустить", "Пропустить"):
        if line != "Согласен(на)" or "Согласен(на)" in shown:  # consent is asked only once
            shown = await chat.say(line)
    assert shown.startswith("Проверьте обращение")
    done = await chat.say("Отправить")
    return done.split("номер — ", 1)[1].split(".", 1)[0]


async def staff(app: Application, change: Callable[[UnitOfWork], object]) -> None:
    async with UnitOfWork(session_factory(app.engine)) as uow:
        await change(uow)  # type: ignore[misc]
        await uow.commit()


async def test_resident_follows_the_appeal_through_its_stages(
    app: Application, chat: ConsoleChat, clock: Clock
) -> None:
    number = await open_appeal(chat, "ЖКХ", "Не работает лифт в подъезде 2 дома 14")
    assert number == "А-2026-000001"
    clock.now += timedelta(days=2)
    await staff(
        app,
        lambda uow: move_appeal(
            uow, app.services.notices, number, AppealStage.ACCEPTED, actor="staff:olga", now=clock.now
        ),
    )
    await staff(
        app,
        lambda uow: move_appeal(
            uow,
            app.services.notices,
            number,
            AppealStage.IN_PROGRESS,
            actor="staff:olga",
            now=clock.now,
            comment="Вызвали лифтёров",
        ),
    )

    listing = await chat.say("Мои обращения")
    assert listing == (
        "Ваши обращения, новые сверху. Нажмите, чтобы открыть:\n"
        "  [1] А-2026-000001 · В работе · 2 дн. назад\n"
        "  [2] Главное меню"
    )
    card = await chat.say("1")
    assert card.startswith(
        "Обращение А-2026-000001\nТема: ЖКХ\nЭтап: В работе\nПодано: 23.11.2026\n\n"
        "Не работает лифт в подъезде 2 дома 14\n\nИстория:\n"
        "23.11.2026 10:00 — Новое, ждёт регистрации\n"
        "25.11.2026 10:00 — Зарегистрировано\n"
        "25.11.2026 10:00 — В работе\n"
        "   Вызвали лифтёров\n"
        "  [1] Дополнить\n  [2] К списку обращений"
    )


async def test_internal_notes_and_routing_in_the_timeline(app: Application, chat: ConsoleChat, clock: Clock) -> None:
    number = await open_appeal(chat, "Дороги", "Яма у остановки Школьная, уже месяц")
    policy = app.services.appeals
    await staff(
        app,
        lambda uow: route_appeal(uow, policy, number, "Отдел благоустройства", actor="staff:ivan", now=clock.now),
    )
    await staff(
        app,
        lambda uow: move_appeal(
            uow,
            app.services.notices,
            number,
            AppealStage.ACCEPTED,
            actor="staff:ivan",
            now=clock.now,
            comment="подрядчик X",
            visible_to_resident=False,
        ),
    )
    await chat.say("Мои обращения")
    card = await chat.say("1")
    assert "— передано: Отдел благоустройства\n" in card
    assert "— Зарегистрировано\n" in card
    assert "подрядчик X" not in card


async def test_a_resident_never_sees_another_residents_appeal(
    app: Application, chat_as: Callable[..., ConsoleChat]
) -> None:
    anna, boris = chat_as("anna", "Анна"), chat_as("boris", "Борис")
    number = await open_appeal(anna, "ЖКХ", "Протекает крыша над кв. 40, Ленина 5")
    assert (await boris.say("Мои обращения")).startswith("У вас пока нет обращений.")
    for payload in (f"my:open:{number}", f"my:open:{number}:x", "my:open:' OR 1=1 --", "my:open:", "my:open:%"):
        [reply] = await app.dispatcher.feed(
            Incoming(platform=Platform.CONSOLE, user_id="boris", chat_id="boris", payload=payload)
        )
        assert reply.text == "Такого обращения у вас нет. Вот ваши обращения:" or reply.text.startswith(
            "У вас пока нет обращений."
        )
        assert "Протекает крыша" not in reply.text
        assert number not in "".join(button.text for row in reply.buttons for button in row)
    # The same person on another platform is another account: no access either.
    [reply] = await app.dispatcher.feed(
        Incoming(platform=Platform.TELEGRAM, user_id="anna", chat_id="anna", payload=f"my:open:{number}")
    )
    assert "Протекает крыша" not in reply.text


async def test_domain_errors_for_staff_changes(app: Application, chat: ConsoleChat, clock: Clock) -> None:
    number = await open_appeal(chat, "ЖКХ", "Не вывозят мусор третью неделю")
    policy = app.services.appeals
    async with UnitOfWork(session_factory(app.engine)) as uow:
        with pytest.raises(ForbiddenMove, match="cannot move an appeal from 'new' to 'closed'"):
            await move_appeal(uow, app.services.notices, number, AppealStage.CLOSED, actor="staff", now=clock.now)
        with pytest.raises(CommentRequired):
            await move_appeal(uow, app.services.notices, number, AppealStage.REJECTED, actor="staff", now=clock.now)
        with pytest.raises(AppealNotFound):
            await move_appeal(
                uow, app.services.notices, "А-2026-999999", AppealStage.ACCEPTED, actor="staff", now=clock.now
            )
        with pytest.raises(UnknownDepartment):
            await route_appeal(uow, policy, number, "Марс", actor="staff", now=clock.now)


@pytest.mark.slow
async def test_staff_commands_with_exit_codes(config: Config, app: Application, chat: ConsoleChat) -> None:
    number = await open_appeal(chat, "ЖКХ", "Не работает лифт в подъезде 2 дома 14")

    async def staff_cli(*args: str) -> subprocess.CompletedProcess[str]:
        return await run_bot_beside("--config", str(config.base_dir / "bot.toml"), "appeals", "--actor", "olga", *args)

    listing = await staff_cli("list")
    assert listing.returncode == 0
    assert number in listing.stdout
    assert "OVERDUE" in listing.stdout  # opened on 23.11 (fake clock): past its 8 working hours by now
    assert number in (await staff_cli("list", "--overdue")).stdout
    assert "no appeals" in (await staff_cli("list", "--stage", "answered")).stdout
    assert "no appeals" in (await staff_cli("list", "--department", "ЕДДС")).stdout
    await appeals_opened_at(app, "Дороги", [utcnow()])
    assert "... the first 1 of 2; narrow the list or raise --limit" in (await staff_cli("list", "--limit", "1")).stdout
    overdue_new = (await staff_cli("list", "--overdue", "--stage", "new")).stdout
    assert number in overdue_new
    assert "Дорожное" not in overdue_new  # both filters hold: the roads' one is fresh
    refused = await staff_cli("list", "--limit", "0")
    assert (refused.returncode, "a whole number from 1 is needed" in refused.stderr) == (2, True)

    refused = await staff_cli("move", number, "closed")
    assert refused.returncode == 1
    assert "cannot move an appeal from 'new' to 'closed'" in refused.stderr
    missing = await staff_cli("show", "А-2026-000404")
    assert (missing.returncode, missing.stderr.strip()) == (3, "error: no appeal numbered 'А-2026-000404'")

    moved = await staff_cli("move", number, "accepted", "--comment", "Передано в УК")
    assert (moved.returncode, moved.stdout.strip()) == (0, f"{number}: accepted, Отдел ЖКХ")
    assert (await staff_cli("move", number, "in_progress", "--internal", "--comment", "звонил в УК")).returncode == 0
    assert (await staff_cli("route", number, "Приёмная главы")).returncode == 1  # not in this test's bot.toml
    answered = await staff_cli("answer", number, "--text", "Лифт починили 25 ноября.")
    assert answered.returncode == 0
    shown = (await staff_cli("show", number)).stdout
    assert "answer:\n  Лифт починили 25 ноября." in shown
    assert "olga                 accepted -> in_progress [internal]: звонил в УК" in shown
    assert number not in (await staff_cli("list", "--overdue")).stdout  # answered: no longer overdue

    await chat.say("Мои обращения")
    card = await chat.say("1")
    assert "Этап: Дан ответ" in card
    assert card.endswith(
        "Ответ:\nЛифт починили 25 ноября.\n  [1] Дополнить\n  [2] К списку обращений\n  [3] Главное меню"
    )
    assert "звонил в УК" not in card


async def test_every_appeal_is_reachable_page_by_page_and_by_typing_its_number(
    app: Application, chat: ConsoleChat, clock: Clock
) -> None:
    numbers = []
    for day in range(12):
        clock.now = MONDAY_MORNING + timedelta(minutes=day)
        numbers.append(await open_appeal(chat, "Дороги", f"Яма номер {day + 1} на улице Садовой"))
    shown = await chat.say("Мои обращения")
    assert shown.startswith("Ваши обращения, новые сверху. Нажмите, чтобы открыть: (страница 1 из 3, всего 12)")
    assert numbers[11] in shown
    assert numbers[6] not in shown
    await chat.say("Старше ▸")
    shown = await chat.say("Старше ▸")
    assert "(страница 3 из 3, всего 12)" in shown
    assert numbers[0] in shown  # the first, the oldest: reachable
    assert "Старше ▸" not in shown
    opened = await chat.say(numbers[0])
    assert opened.startswith(f"Обращение {numbers[0]}\nТема: Дороги")
    assert "Яма номер 1 на улице Садовой" in opened

    # Typed as people type it: a Latin "A", lower case, spaces, the zeros left out.
    for typed in ("a-2026-3", "А 2026 000003", "что с обращением а-2026-000003?"):
        assert (await chat.say(typed)).startswith("Обращение А-2026-000003\n")
    assert (await chat.say("А-2026-000099")).startswith("Такого обращения у вас нет.")


async def test_an_answered_appeals_card_sets_the_answer_apart(app: Application, chat: ConsoleChat) -> None:
    number = await open_appeal(chat, "Дороги", "Яма у дома 7 по улице Садовой")
    await staff(
        app,
        lambda uow: answer_appeal(
            uow, app.services.notices, number, "Заделали.", actor="cli", now=app.services.clock()
        ),
    )
    card = await chat.say(number)
    timeline, answer = card.split("\n\nОтвет:\n", 1)
    assert timeline.splitlines()[-1].endswith(" — Дан ответ")
    assert answer.startswith("Заделали.")
