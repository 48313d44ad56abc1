"""The staff workspace in a Telegram forum supergroup, end to end through unmodified aiogram and the fake Bot API:
a topic and card per appeal, kept up to date; actions on the card by roster members only."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import select

from bot.adapters.telegram import TelegramSender, make_bot
from bot.app import Application
from bot.config import Config, load_config
from bot.desk import StaffDesk
from bot.notifier import RateLimiter
from bot.services.appeal_stages import AppealStage
from bot.services.appeals import AppealDraft, move_appeal, open_appeal
from storage.models import Appeal, AppealAttachment, AppealEvent, OutboxMessage, StaffCard, utcnow
from storage.uow import UnitOfWork
from tests.conftest import appeals_opened_at, stored_resident, write_config
from tests.fake_telegram import Chat, FakeTelegram, User
from tests.test_telegram import Running, settings_for, start

STAFF = Chat(-1001234567890, "supergroup", "Центр обратной связи", is_forum=True)
OLGA = User(3001, "Ольга")  # an operator on the roster
MALLORY = User(3002, "Мэллори")  # in the group, not on the roster
PETR = User(3003, "Пётр")  # on the roster for the roads department only
IRINA = User(3004, "Ирина")  # a manager
ROSTER = f"""
[staff]
platform = "telegram"
chat_id = "{STAFF.id}"
topics = true
[[staff.members]]
telegram_id = {OLGA.id}
name = "Ольга Смирнова"
role = "operator"
[[staff.members]]
telegram_id = {PETR.id}
name = "Пётр Иванов"
role = "department"
departments = ["Дорожное хозяйство"]
[[staff.members]]
telegram_id = {IRINA.id}
name = "Ирина Петрова"
role = "manager"
"""


@pytest.fixture
def config(tmp_path: Path, database_url: str, request: pytest.FixtureRequest) -> Config:
    extra = "".join(f"\n{marker.args[0]}" for marker in request.node.iter_markers("staff_settings"))
    return load_config(
        write_config(tmp_path, database_url, ROSTER.replace("topics = true", "topics = true" + extra)), environ={}
    )


@pytest.fixture
async def telegram(app: Application, fake: FakeTelegram) -> AsyncIterator[Running]:
    fake.add_chat(STAFF)
    running, stopped = await start(fake, app)
    yield running
    await stopped()


def desk_for(app: Application, fake: FakeTelegram, limiter: RateLimiter | None = None) -> StaffDesk:
    """The app's desk on the fake, with the group's limit scaled down from 20 a minute, unless a test sets one."""
    board = TelegramSender(make_bot(settings_for(fake)))
    limiter = limiter or RateLimiter(per_second=1000, chat_interval=0.0, group_interval=0.01)
    timezone = app.services.notices.timezone
    return StaffDesk(app.sessions, app.texts, timezone, str(STAFF.id), board, limiter, clock=app.services.clock)


async def new_appeal(
    app: Application,
    user: str = "42",
    address: str | None = "ул. Ленина, 5",
    photos: tuple[str, ...] = (),
    point: tuple[float, float] | None = None,
) -> str:
    async with UnitOfWork(app.sessions) as uow:
        resident = await stored_resident(uow, "telegram", user)
        latitude, longitude = point or (None, None)
        draft = AppealDraft(
            "ЖКХ",
            "Не работает лифт в подъезде 2",
            address=address,
            phone="+79123456789",
            photos=photos,
            latitude=latitude,
            longitude=longitude,
        )
        appeal = await open_appeal(uow, app.services.appeals, resident, "telegram", draft, app.services.clock())
        await uow.commit()
        return appeal.number


async def press(running: Running, user: User, label: str, thread: int) -> None:
    fake = running.fake
    [topic] = [topic for topic in fake.topics[STAFF.id] if topic.message_thread_id == thread]
    card = next(message for message in reversed(topic.messages) if label in message.labels)
    payload = next(payload for row in card.buttons for text, payload in row if text == label)
    update_id = fake.push(fake.callback_update(user, card, payload, chat=STAFF))
    await fake.wait_until(lambda: fake.confirmed_below > update_id)
    await running.adapter.wait_idle()


async def test_a_new_appeal_gets_its_topic_and_card_and_a_change_edits_it(app: Application, telegram: Running) -> None:
    fake = telegram.fake
    number = await new_appeal(app)
    desk = desk_for(app, fake)
    assert await desk.sync_due() == 1
    assert await desk.sync_due() == 0  # up to date: nothing to do, and no second topic
    [topic] = fake.topics[STAFF.id]
    assert topic.name == f"🆕 {number} · ЖКХ · ул. Ленина, 5"
    [card] = topic.messages
    assert card.text.startswith(f"Обращение {number} · Новое, ждёт регистрации\nТема: ЖКХ\nОтдел: Отдел ЖКХ")
    assert "Телефон: +79123456789" in card.text
    assert card.labels == [
        "Принять",
        "Отклонить",
        "Перенаправить",
        "Шаблоны ответов",
        "Передать в другой отдел",
        "Продлить срок на 30 дней",
    ]

    async with UnitOfWork(app.sessions) as uow:  # the command line moves it: the card follows
        await move_appeal(
            uow, app.services.notices, number, AppealStage.ACCEPTED, actor="cli", now=app.services.clock()
        )
        await uow.commit()
    assert await desk.sync_due() == 1
    assert card.edits == 1
    assert card.text.startswith(f"Обращение {number} · Зарегистрировано")
    assert card.labels[:4] == ["Взять в работу", "Отклонить", "Перенаправить", "Шаблоны ответов"]
    assert len(fake.topics[STAFF.id]) == 1
    assert fake.topics[STAFF.id][0].name.startswith(f"📥 {number}")  # the name shows the stage


async def test_the_card_is_followed_by_the_photos_as_an_album_and_the_place_as_a_map_pin(
    app: Application, telegram: Running
) -> None:
    fake = telegram.fake
    number = await new_appeal(app, address=None, photos=("ph-1", "ph-2", "ph-3"), point=(56.838011, 60.597461))
    desk = desk_for(app, fake)
    await desk.sync_due()
    [topic] = fake.topics[STAFF.id]
    card, *album, pin = topic.messages
    assert card.text.startswith(f"Обращение {number}")  # the card comes first: it is the topic's head
    assert "Место: точка на карте ниже (56.83801, 60.59746)" in card.text
    assert "Фото: 3" in card.text
    assert [message.photos for message in album] == [["ph-1"], ["ph-2"], ["ph-3"]]
    assert len({message.media_group_id for message in album}) == 1  # one album
    assert album[0].text == f"Фото к обращению {number}"
    assert pin.location == (56.838011, 60.597461)

    async with UnitOfWork(app.sessions) as uow:  # a change edits the card; the photos are not posted again
        await move_appeal(
            uow, app.services.notices, number, AppealStage.ACCEPTED, actor="cli", now=app.services.clock()
        )
        await uow.commit()
    await desk_for(app, fake).sync_due()  # another desk, as after a restart
    assert len(topic.messages) == 5
    assert card.edits == 1


async def test_photos_telegram_cannot_show_are_reported_in_the_topic_and_do_not_hold_the_card(
    app: Application, telegram: Running
) -> None:
    fake = telegram.fake
    fake.fail("sendPhoto", 400, "Bad Request: wrong file identifier/HTTP URL specified")
    number = await new_appeal(app, photos=("expired-url",))
    desk = desk_for(app, fake)
    assert await desk.sync_due() == 1
    [topic] = fake.topics[STAFF.id]
    assert [message.text for message in topic.messages][1:] == [
        "Фото к обращению (1) не удалось показать здесь: Telegram их не принял. Они сохранены в обращении."
    ]
    assert await desk.sync_due() == 0
    assert topic.messages[0].text.startswith(f"Обращение {number}")


async def test_an_operator_moves_the_appeal_with_a_button_and_an_outsider_is_refused(
    app: Application, telegram: Running
) -> None:
    fake = telegram.fake
    number = await new_appeal(app)
    desk = desk_for(app, fake)
    await desk.sync_due()
    [topic] = fake.topics[STAFF.id]

    await press(telegram, MALLORY, "Принять", topic.message_thread_id)
    assert topic.messages[-1].text.startswith("Действовать по обращениям могут только сотрудники из списка")
    await press(telegram, PETR, "Принять", topic.message_thread_id)  # on the roster, for another department
    assert topic.messages[-1].text.startswith("Это обращение ведёт «Отдел ЖКХ»")
    await press(telegram, OLGA, "Принять", topic.message_thread_id)
    assert topic.messages[-1].text == f"Готово: обращение {number} — «Зарегистрировано»."
    async with app.sessions() as session:
        appeal = (await session.execute(select(Appeal))).scalar_one()
        events = (await session.execute(select(AppealEvent).order_by(AppealEvent.id))).scalars().all()
        [notice] = (await session.execute(select(OutboxMessage).where(OutboxMessage.chat_id == "42"))).scalars()
    assert appeal.stage == "accepted"
    assert [event.actor for event in events] == ["resident", "staff:Ольга Смирнова"]
    assert notice.text == f"Обращение {number}: новый этап — «Зарегистрировано»."  # the resident is told
    await desk.sync_due()
    assert topic.messages[0].labels[0] == "Взять в работу"


async def test_a_closed_appeal_closes_its_topic_and_a_restart_creates_no_second_one(
    app: Application, telegram: Running
) -> None:
    fake = telegram.fake
    number = await new_appeal(app, address=None)
    await desk_for(app, fake).sync_due()
    for stage in (AppealStage.ACCEPTED, AppealStage.REJECTED):
        async with UnitOfWork(app.sessions) as uow:
            await move_appeal(
                uow,
                app.services.notices,
                number,
                stage,
                actor="cli",
                now=app.services.clock(),
                comment="Не в нашей компетенции",
            )
            await uow.commit()
    assert await desk_for(app, fake).sync_due() == 1  # another desk: as after a restart
    [topic] = fake.topics[STAFF.id]
    assert topic.name == f"⛔ {number} · ЖКХ"
    assert topic.closed
    assert topic.messages[0].labels == []
    async with app.sessions() as session:
        [card] = (await session.execute(select(StaffCard))).scalars()
    assert (card.thread_id, card.topic_closed) == (topic.message_thread_id, True)


@pytest.mark.slow
async def test_a_hundred_appeals_at_once_end_with_a_hundred_topics_within_the_groups_limit(
    app: Application, telegram: Running
) -> None:
    fake = telegram.fake
    numbers = [await new_appeal(app, user=str(100 + user)) for user in range(100)]
    # Telegram's 20 messages a minute into a group, a new topic included, with the minute scaled down to 2 s.
    fake.group_per_minute, fake.group_window = 20, 2.0
    desk = desk_for(app, fake, RateLimiter(per_second=30, chat_interval=0.0, group_interval=2.0 / 20))
    while await desk.sync_due():
        pass
    topics = fake.topics[STAFF.id]
    assert len(topics) == 100
    assert sorted(topic.name.split(" · ")[0].split()[-1] for topic in topics) == sorted(numbers)
    assert all(len(topic.messages) == 1 for topic in topics)  # one card each: nothing twice
    assert fake.throttled == 0


async def test_a_rejection_with_a_reason_picked_from_the_list_and_a_hand_over(
    app: Application, telegram: Running
) -> None:
    fake = telegram.fake
    number = await new_appeal(app)
    desk = desk_for(app, fake)
    await desk.sync_due()
    [topic] = fake.topics[STAFF.id]
    await press(telegram, OLGA, "Передать в другой отдел", topic.message_thread_id)
    await press(telegram, OLGA, "Дорожное хозяйство", topic.message_thread_id)
    assert topic.messages[-1].text == f"Обращение {number} передано: Дорожное хозяйство."
    await desk.sync_due()
    assert "Отдел: Дорожное хозяйство" in topic.messages[0].text

    await press(telegram, OLGA, "Отклонить", topic.message_thread_id)
    choice = topic.messages[-1]
    assert choice.text.startswith(f"Обращение {number} — «Отклонено». Выберите причину (её увидит житель):\n1. ")
    await press(telegram, OLGA, choice.labels[1], topic.message_thread_id)
    reason = "Этот вопрос уже рассмотрен по вашему предыдущему обращению."
    assert await resident_messages(app) == [
        f"Обращение {number}: новый этап — «Отклонено».\nКомментарий специалиста: {reason}"
    ]
    await desk.sync_due()
    assert topic.closed
    assert topic.messages[0].labels == []


async def test_the_deadline_is_extended_once_with_the_resident_told_why_and_until_when(
    app: Application, telegram: Running
) -> None:
    fake = telegram.fake
    number = await new_appeal(app)
    desk = desk_for(app, fake)
    await desk.sync_due()
    [topic] = fake.topics[STAFF.id]
    async with app.sessions() as session:
        before = (await session.execute(select(Appeal.resolution_due_at))).scalar_one()
    await press(telegram, OLGA, "Продлить срок на 30 дней", topic.message_thread_id)  # an operator may not
    assert topic.messages[-1].text.startswith("Продлить срок рассмотрения может руководитель")
    await press(telegram, IRINA, "Продлить срок на 30 дней", topic.message_thread_id)
    await press(telegram, IRINA, topic.messages[-1].labels[0], topic.message_thread_id)
    async with app.sessions() as session:
        after = (await session.execute(select(Appeal.resolution_due_at))).scalar_one()
    assert after is not None
    assert before is not None
    assert 30 <= (after - before).days <= 33  # 30 days, moved off a day off
    due = app.services.notices.when(after)
    assert topic.messages[-1].text == f"Срок рассмотрения обращения {number} продлён до {due}; житель уведомлён."
    assert await resident_messages(app) == [
        f"Срок рассмотрения обращения {number} продлён до {due}.\nПричина: Нужна выездная проверка на месте."
    ]
    await desk.sync_due()
    assert "Продлить срок на 30 дней" not in topic.messages[0].labels  # once only (59-FZ)
    assert f"Рассмотреть до: {due}" in topic.messages[0].text


async def write_in_topic(running: Running, user: User, text: str, thread: int, reply_to: object = None) -> None:
    fake = running.fake
    update = fake.message_update(user, text, chat=STAFF, thread_id=thread, reply_to=reply_to)  # type: ignore[arg-type]
    update_id = fake.push(update)
    await fake.wait_until(lambda: fake.confirmed_below > update_id)
    await running.adapter.wait_idle()


async def resident_messages(app: Application, chat_id: str = "42") -> list[str]:
    async with app.sessions() as session:
        query = select(OutboxMessage.text).where(OutboxMessage.chat_id == chat_id).order_by(OutboxMessage.id)
        return list((await session.execute(query)).scalars())


async def test_a_reply_to_the_card_reaches_the_resident_after_a_preview_and_a_note_never_does(
    app: Application, telegram: Running
) -> None:
    fake = telegram.fake
    number = await new_appeal(app)
    await desk_for(app, fake).sync_due()
    [topic] = fake.topics[STAFF.id]
    card = topic.messages[0]

    await write_in_topic(telegram, OLGA, "Похоже, это уже третий раз за месяц, проверить УК", topic.message_thread_id)
    await write_in_topic(telegram, OLGA, "Уточните, пожалуйста, номер подъезда", topic.message_thread_id, card)
    preview = topic.messages[-1]
    assert preview.text == (
        f"Отправить жителю по обращению {number}?\n\nУточните, пожалуйста, номер подъезда\n\n"
        "Чтобы исправить текст, ответьте на это сообщение исправленным текстом."
    )
    assert preview.labels == [
        "Отправить",
        "Отправить как официальный ответ",
        "Отправить как запрос уточнения",
        "Отмена",
    ]
    assert await resident_messages(app) == []  # nothing goes out by accident
    await press(telegram, MALLORY, "Отправить", topic.message_thread_id)  # an outsider cannot send it
    assert await resident_messages(app) == []
    await press(telegram, OLGA, "Отправить", topic.message_thread_id)
    assert preview.text == "Отправлено жителю: Уточните, пожалуйста, номер подъезда"
    assert await resident_messages(app) == [
        f"Сообщение по обращению {number} от «Отдел ЖКХ»:\n\nУточните, пожалуйста, номер подъезда"
    ]
    async with app.sessions() as session:
        notes = (await session.execute(select(AppealEvent).where(AppealEvent.comment.is_not(None)))).scalars().all()
    assert [(note.actor, note.visible_to_resident) for note in notes] == [
        ("staff:Ольга Смирнова", False),
        ("staff:Ольга Смирнова", True),
    ]


async def test_an_anonymous_admin_and_an_outsider_writing_in_a_topic_change_nothing(
    app: Application, telegram: Running
) -> None:
    fake = telegram.fake
    await new_appeal(app)
    await desk_for(app, fake).sync_due()
    [topic] = fake.topics[STAFF.id]
    card = topic.messages[0]
    anonymous = fake.message_update(
        OLGA,
        "Сообщите жителю, что всё готово",
        chat=STAFF,
        thread_id=topic.message_thread_id,
        reply_to=card,
        sender_chat=STAFF,
    )
    for update in (
        anonymous,
        fake.message_update(MALLORY, "Всё готово", chat=STAFF, thread_id=topic.message_thread_id, reply_to=card),
    ):
        update_id = fake.push(update)
        await fake.wait_until(lambda: fake.confirmed_below > update_id)  # noqa: B023
        await telegram.adapter.wait_idle()
    assert topic.messages == [card]  # no preview, no reply
    async with app.sessions() as session:
        notes = (await session.execute(select(AppealEvent).where(AppealEvent.kind == "message"))).scalars().all()
    assert notes == []
    assert await resident_messages(app) == []


async def test_the_topic_closes_with_the_answer_and_reopens_with_a_poor_rating(
    app: Application, telegram: Running
) -> None:
    fake = telegram.fake
    number = await new_appeal(app, user="42")
    desk = desk_for(app, fake)
    await desk.sync_due()
    [topic] = fake.topics[STAFF.id]
    await write_in_topic(telegram, OLGA, "Лифт починили.", topic.message_thread_id, topic.messages[0])
    await press(telegram, OLGA, "Отправить как официальный ответ", topic.message_thread_id)
    await desk.sync_due()
    assert topic.closed
    assert topic.name.startswith(f"💬 {number}")

    anna = telegram.resident(User(42, "Анна"))
    while await app.notifier.deliver_due():
        pass
    await anna.press("1")
    await anna.press("Вернуть в работу")
    await desk.sync_due()
    assert not topic.closed
    assert topic.name.startswith(f"🔧 {number}")
    assert fake.calls_of("reopenForumTopic")
    while await app.notifier.deliver_due():
        pass
    assert topic.messages[-1].text.startswith(f"Обращение {number} (Отдел ЖКХ) возвращено в работу: житель оценил")


async def test_a_restart_between_two_actions_loses_nothing(config: Config, fake: FakeTelegram) -> None:
    fake.add_chat(STAFF)
    first = await Application.start(config)
    running, stopped = await start(fake, first)
    number = await new_appeal(first)
    await desk_for(first, fake).sync_due()
    [topic] = fake.topics[STAFF.id]
    await press(running, OLGA, "Принять", topic.message_thread_id)
    await stopped()
    await first.close()

    second = await Application.start(config)  # the same database, a new process
    try:
        running, stopped = await start(fake, second)
        await desk_for(second, fake).sync_due()
        assert topic.messages[0].labels[0] == "Взять в работу"  # the card shows the first action
        await press(running, OLGA, "Взять в работу", topic.message_thread_id)
        await desk_for(second, fake).sync_due()
        await stopped()
        async with second.sessions() as session:
            appeal = (await session.execute(select(Appeal))).scalar_one()
            stages = (await session.execute(select(AppealEvent.to_stage).order_by(AppealEvent.id))).scalars().all()
        assert appeal.stage == "in_progress"
        assert stages == ["new", "accepted", "in_progress"]
        assert len(fake.topics[STAFF.id]) == 1  # the same topic, the same card
        assert topic.messages[0].text.startswith(f"Обращение {number} · В работе")
        assert topic.messages[0].edits == 2
    finally:
        await second.close()


async def test_the_official_answer_from_the_topic_asks_the_resident_for_a_rating(
    app: Application, telegram: Running
) -> None:
    fake = telegram.fake
    number = await new_appeal(app)
    await desk_for(app, fake).sync_due()
    [topic] = fake.topics[STAFF.id]
    await write_in_topic(telegram, OLGA, "Лифт починили 4 декабря.", topic.message_thread_id, topic.messages[0])
    await press(telegram, OLGA, "Отправить как официальный ответ", topic.message_thread_id)
    async with app.sessions() as session:
        appeal = (await session.execute(select(Appeal))).scalar_one()
        [answer] = (await session.execute(select(OutboxMessage).where(OutboxMessage.chat_id == "42"))).scalars()
    assert (appeal.stage, appeal.answer_text) == ("answered", "Лифт починили 4 декабря.")
    assert answer.text.startswith(f"Ответ на обращение {number}:\n\nЛифт починили 4 декабря.\n\nОцените")
    assert answer.buttons == [[{"text": str(n), "payload": f"rate:{number}:{n}"} for n in range(1, 6)]]


async def test_a_clarification_round_trip_stops_the_clock_until_the_resident_answers(
    app: Application, telegram: Running
) -> None:
    fake = telegram.fake
    number = await new_appeal(app, user="42")
    await desk_for(app, fake).sync_due()
    [topic] = fake.topics[STAFF.id]
    async with app.sessions() as session:
        due_before = (await session.execute(select(Appeal.first_response_due_at))).scalar_one()
    await write_in_topic(
        telegram, OLGA, "В каком подъезде не работает лифт?", topic.message_thread_id, topic.messages[0]
    )
    await press(telegram, OLGA, "Отправить как запрос уточнения", topic.message_thread_id)
    assert topic.messages[-1].text.startswith("Отправлено жителю как запрос уточнения")
    anna = telegram.resident(User(42, "Анна"))
    while await app.notifier.deliver_due():
        pass
    assert anna.chat[-1].text.startswith(f"Специалистам «Отдел ЖКХ» нужно уточнение по обращению {number}:")
    await anna.press("Ответить на вопрос")
    await anna.send("Во втором подъезде")
    while await app.notifier.deliver_due():
        pass
    assert topic.messages[-1].text.startswith(f"Житель ответил на запрос уточнения по обращению {number}")
    async with app.sessions() as session:
        appeal = (await session.execute(select(Appeal))).scalar_one()
    assert appeal.clarification_asked_at is None
    assert appeal.first_response_due_at is not None
    assert due_before is not None
    assert appeal.first_response_due_at >= due_before  # the time spent waiting for the resident is not counted


async def test_an_unanswered_clarification_is_reminded_once_then_closed(app: Application, telegram: Running) -> None:
    fake = telegram.fake
    number = await new_appeal(app, user="42")
    await desk_for(app, fake).sync_due()
    [topic] = fake.topics[STAFF.id]
    await write_in_topic(telegram, OLGA, "Уточните адрес, пожалуйста", topic.message_thread_id, topic.messages[0])
    await press(telegram, OLGA, "Отправить как запрос уточнения", topic.message_thread_id)
    jobs, now = app.jobs, app.services.clock()
    assert await jobs.chase_clarifications(now + timedelta(days=2)) == 0
    assert await jobs.chase_clarifications(now + timedelta(days=3, minutes=1)) == 1  # the reminder
    assert await jobs.chase_clarifications(now + timedelta(days=4)) == 0  # once
    assert await jobs.chase_clarifications(now + timedelta(days=6, minutes=2)) == 1  # closed as unclarified
    async with app.sessions() as session:
        appeal = (await session.execute(select(Appeal))).scalar_one()
    assert appeal.stage == "rejected"
    messages = await resident_messages(app)
    assert (
        messages[-2]
        == f"Напоминаем: специалисты ждут вашего уточнения по обращению {number}. Без него обращение будет закрыто."
    )
    assert messages[-1].startswith(
        f"Обращение {number}: новый этап — «Отклонено».\nКомментарий специалиста: Обращение закрыто без рассмотрения"
    )


async def test_a_residents_addition_reaches_the_topic(app: Application, telegram: Running) -> None:
    fake = telegram.fake
    number = await new_appeal(app, user="42")
    await desk_for(app, fake).sync_due()
    [topic] = fake.topics[STAFF.id]
    anna = telegram.resident(User(42, "Анна"))
    await anna.send("/start")
    await anna.press("Мои обращения")
    await anna.press(next(label for label in anna.chat[-1].labels if label.startswith(number)))
    [prompt] = await anna.press("Дополнить")
    assert prompt.startswith(f"Напишите, что добавить к обращению {number}")
    [thanks] = await anna.send("Подъезд второй, лифт стоит с понедельника")
    assert thanks.startswith(f"Спасибо, добавлено к обращению {number}.")
    while await app.notifier.deliver_due():
        pass
    assert (
        topic.messages[-1].text == f"Житель дополнил обращение {number}:\n\nПодъезд второй, лифт стоит с понедельника"
    )
    await anna.press("Мои обращения")
    await anna.press(next(label for label in anna.chat[-1].labels if label.startswith(number)))
    assert "вы дополнили обращение\n   Подъезд второй, лифт стоит с понедельника" in anna.chat[-1].text


async def test_a_residents_photos_reach_the_topic_as_an_album_after_their_words(
    app: Application, telegram: Running
) -> None:
    fake = telegram.fake
    number = await new_appeal(app, user="42")
    desk = desk_for(app, fake)
    await desk.sync_due()
    [topic] = fake.topics[STAFF.id]
    anna = telegram.resident(User(42, "Анна"))
    await anna.send("/start")
    await anna.press("Мои обращения")
    await anna.press(next(label for label in anna.chat[-1].labels if label.startswith(number)))
    await anna.press("Дополнить")
    [received] = await anna.send(photo="new-1", caption="Вот как выглядит кабина")
    assert received.startswith("Фото получено (1 из ")
    await anna.send(photo="new-2")  # the second photo of an album arrives as its own message
    [thanks] = await anna.press("Отправить")
    assert thanks.startswith(f"Спасибо, добавлено к обращению {number}.")
    while await app.notifier.deliver_due():
        pass
    await desk.sync_due()
    alert, *album = topic.messages[-3:]
    assert alert.text == f"Житель дополнил обращение {number}:\n\nВот как выглядит кабина\n📷 Фото: 2"
    assert [message.photos for message in album] == [["new-1-1280"], ["new-2-1280"]]  # the largest size
    assert "Фото: 2" in topic.messages[0].text  # the card counts them
    async with app.sessions() as session:
        query = select(AppealAttachment.platform_file_id).order_by(AppealAttachment.id)
        assert list((await session.execute(query)).scalars()) == ["new-1-1280", "new-2-1280"]


async def test_the_daily_digest_lists_overdue_appeals_per_department_in_the_general_topic(
    app: Application, telegram: Running
) -> None:
    assert await app.jobs.digest(app.services.clock()) == 0  # nothing overdue: nothing sent
    number = await new_appeal(app)
    await desk_for(app, telegram.fake).sync_due()
    assert await app.jobs.digest(app.services.clock() + timedelta(days=3)) == 1
    async with app.sessions() as session:
        [digest] = (
            await session.execute(select(OutboxMessage).where(OutboxMessage.chat_id == str(STAFF.id)))
        ).scalars()
    assert digest.text == f"Просрочено обращений: 1.\n• Отдел ЖКХ: 1 — {number}"  # to the General topic: no thread


async def test_the_digest_counts_every_overdue_appeal_however_many(app: Application) -> None:
    await appeals_opened_at(app, "ЖКХ", [utcnow() - timedelta(days=10, minutes=n) for n in range(201)])
    assert await app.jobs.digest(app.services.clock()) == 201
    async with app.sessions() as session:
        [digest] = (
            await session.execute(select(OutboxMessage).where(OutboxMessage.chat_id == str(STAFF.id)))
        ).scalars()
    assert digest.text.startswith("Просрочено обращений: 201.\n• Отдел ЖКХ: 201 — ")  # none cut off at 200


CANNED = """
answers:
  - id: lift-fixed
    title: Лифт отремонтирован
    categories: [ЖКХ]
    text: "Лифт в подъезде [номер] отремонтирован [дата]. Если он снова остановится, напишите нам."
  - id: roads-only
    title: Яма в плане ремонта
    categories: [Дороги]
    text: "Яма включена в план ремонта."
"""


async def test_a_canned_answer_with_gaps_is_corrected_by_a_reply_and_sent_as_the_official_answer(
    app: Application, telegram: Running, config: Config
) -> None:
    (config.base_dir / "answers").mkdir()
    (config.base_dir / "answers" / "lift.yaml").write_text(CANNED, encoding="utf-8")
    fake = telegram.fake
    number = await new_appeal(app)
    await desk_for(app, fake).sync_due()
    [topic] = fake.topics[STAFF.id]
    await press(telegram, OLGA, "Шаблоны ответов", topic.message_thread_id)
    assert topic.messages[-1].labels == ["Лифт отремонтирован"]  # only the answers for the appeal's topic
    await press(telegram, OLGA, "Лифт отремонтирован", topic.message_thread_id)
    draft = topic.messages[-1]
    assert draft.text.endswith("Заполните пропуски ([номер], [дата]): ответьте на это сообщение исправленным текстом.")
    await press(telegram, OLGA, "Отправить как официальный ответ", topic.message_thread_id)
    assert topic.messages[-1].text.startswith("В тексте остались пропуски ([номер], [дата])")
    assert await resident_messages(app) == []  # a template with gaps never reaches the resident

    corrected = "Лифт в подъезде 2 отремонтирован 4 декабря. Если он снова остановится, напишите нам."
    await write_in_topic(telegram, OLGA, corrected, topic.message_thread_id, draft)  # a reply to the draft
    assert topic.messages[-1].text.startswith(f"Отправить жителю по обращению {number}?\n\n{corrected}")
    await press(telegram, OLGA, "Отправить как официальный ответ", topic.message_thread_id)
    [answer] = await resident_messages(app)
    assert answer.startswith(f"Ответ на обращение {number}:\n\n{corrected}\n\nОцените")


@pytest.mark.staff_settings("show_staff_names = true")
async def test_residents_see_the_staff_members_name_where_the_setting_asks_for_it(
    app: Application, telegram: Running
) -> None:
    fake = telegram.fake
    number = await new_appeal(app)
    await desk_for(app, fake).sync_due()
    [topic] = fake.topics[STAFF.id]
    await write_in_topic(telegram, OLGA, "Мастер придёт завтра до обеда.", topic.message_thread_id, topic.messages[0])
    await press(telegram, OLGA, "Отправить", topic.message_thread_id)
    assert await resident_messages(app) == [
        f"Сообщение по обращению {number} от «Отдел ЖКХ»:\n\nМастер придёт завтра до обеда.\n\n— Ольга Смирнова"
    ]


async def test_a_reply_to_a_colleague_stays_an_internal_note(app: Application, telegram: Running) -> None:
    fake = telegram.fake
    await new_appeal(app)
    await desk_for(app, fake).sync_due()
    [topic] = fake.topics[STAFF.id]
    question = fake.message_update(PETR, "Кто выезжает на место?", chat=STAFF, thread_id=topic.message_thread_id)
    update_id = fake.push(question)
    await fake.wait_until(lambda: fake.confirmed_below > update_id)
    await write_in_topic(telegram, OLGA, "Выезжаю я, после обеда", topic.message_thread_id, question)
    assert len(topic.messages) == 1  # no preview: only the card
    async with app.sessions() as session:
        notes = (await session.execute(select(AppealEvent).where(AppealEvent.kind == "message"))).scalars().all()
    assert [(note.comment, note.visible_to_resident) for note in notes] == [
        ("Кто выезжает на место?", False),
        ("Выезжаю я, после обеда", False),
    ]
    assert await resident_messages(app) == []
