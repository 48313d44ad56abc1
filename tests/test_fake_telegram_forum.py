"""The fake Bot API's forum supergroups, driven through the unmodified aiogram bot: topics the bot creates, edits,
closes and reopens; cards, albums and locations posted in a topic; staff writing and pressing buttons there."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest
from aiogram import Bot
from aiogram.client.session.aiohttp import AiohttpSession
from aiogram.client.telegram import TelegramAPIServer
from aiogram.exceptions import TelegramBadRequest, TelegramRetryAfter
from aiogram.types import (
    ChatMemberAdministrator,
    ForumTopic,
    InlineKeyboardButton,
    InlineKeyboardMarkup,
    InputMediaPhoto,
    Message,
    ReplyParameters,
    Update,
)

from tests.fake_telegram import BOT_ID, Chat, FakeTelegram, Topic, User

TOKEN = "123456:TEST-token"
STAFF = Chat(-1005550001, "supergroup", "Штаб", is_forum=True)
PLAIN_GROUP = Chat(-1005550002, "supergroup", "Жители дома 5")
OLGA = User(2001, "Ольга", "Сотрудница")
CARD = "Обращение №2024-0001\nДороги: яма у дома 5"
BUTTONS = InlineKeyboardMarkup(
    inline_keyboard=[[InlineKeyboardButton(text="Взять в работу", callback_data="staff:take:1")]]
)


@pytest.fixture
async def bot(fake: FakeTelegram) -> AsyncIterator[Bot]:
    fake.add_chat(STAFF)
    telegram_bot = Bot(TOKEN, session=AiohttpSession(api=TelegramAPIServer.from_base(fake.url)))
    yield telegram_bot
    await telegram_bot.session.close()


async def refused(call: Any) -> str:
    """The description of the Bot API error `call` (an aiogram call, not yet awaited) ends in."""
    with pytest.raises(TelegramBadRequest) as error:
        await call
    return error.value.message


async def received(fake: FakeTelegram, bot: Bot, update: dict[str, Any]) -> Update:
    """`update` as the bot receives it: pushed to the fake, fetched and parsed by aiogram."""
    update_id = fake.push(update)
    [got] = [u for u in await bot.get_updates(offset=update_id, timeout=0) if u.update_id == update_id]
    return got


async def test_a_topic_gets_a_card_that_is_edited_and_the_topic_is_renamed_closed_and_reopened(
    fake: FakeTelegram, bot: Bot
) -> None:
    topic = await bot.create_forum_topic(STAFF.id, "2024-0001 · Дороги")
    assert isinstance(topic, ForumTopic)
    assert (topic.name, topic.icon_color) == ("2024-0001 · Дороги", 0x6FB9F0)
    thread = topic.message_thread_id

    card = await bot.send_message(STAFF.id, CARD, message_thread_id=thread, reply_markup=BUTTONS)
    assert (card.message_thread_id, card.is_topic_message) == (thread, True)
    assert card.reply_to_message is not None
    assert card.reply_to_message.message_id == thread
    assert card.reply_to_message.forum_topic_created is not None
    assert card.reply_to_message.forum_topic_created.name == "2024-0001 · Дороги"
    assert card.chat.is_forum

    edited = await bot.edit_message_text(
        CARD + "\nВ работе: Ольга", chat_id=STAFF.id, message_id=card.message_id, reply_markup=BUTTONS
    )
    assert isinstance(edited, Message)
    assert edited.message_thread_id == thread
    await bot.edit_message_reply_markup(chat_id=STAFF.id, message_id=card.message_id)  # the buttons go
    [shown] = fake.chats[STAFF.id]
    assert (shown.thread_id, shown.text, shown.buttons, shown.edits) == (thread, CARD + "\nВ работе: Ольга", [], 2)
    assert fake.topics[STAFF.id] == [Topic(thread, "2024-0001 · Дороги", messages=[shown])]

    assert await bot.edit_forum_topic(STAFF.id, thread, name="2024-0001 · Дороги · в работе")
    assert await refused(bot.edit_forum_topic(STAFF.id, thread, name="2024-0001 · Дороги · в работе")) == (
        "Bad Request: TOPIC_NOT_MODIFIED"
    )
    assert await bot.close_forum_topic(STAFF.id, thread)
    assert await refused(bot.close_forum_topic(STAFF.id, thread)) == "Bad Request: TOPIC_NOT_MODIFIED"
    assert fake.topic(STAFF.id, thread).closed
    await bot.send_message(STAFF.id, "Ответ отправлен жителю", message_thread_id=thread)  # an admin still posts
    assert await bot.reopen_forum_topic(STAFF.id, thread)
    assert await refused(bot.reopen_forum_topic(STAFF.id, thread)) == "Bad Request: TOPIC_NOT_MODIFIED"
    [now] = fake.topics[STAFF.id]
    assert (now.name, now.closed, now.edits, len(now.messages)) == ("2024-0001 · Дороги · в работе", False, 1, 2)
    assert await bot.get_forum_topic_icon_stickers() == []


async def test_forum_calls_are_refused_as_by_telegram(fake: FakeTelegram, bot: Bot) -> None:
    fake.add_chat(PLAIN_GROUP)
    assert await refused(bot.create_forum_topic(PLAIN_GROUP.id, "Тема")) == "Bad Request: the chat is not a forum"
    assert await refused(bot.create_forum_topic(STAFF.id, "   ")) == "Bad Request: title must be non-empty"
    long = await bot.create_forum_topic(STAFF.id, "Я" * 200)
    assert long.name == "Я" * 128  # Telegram cuts a long name
    missing = long.message_thread_id + 1000
    assert await refused(bot.send_message(STAFF.id, "?", message_thread_id=missing)) == (
        "Bad Request: message thread not found"
    )
    assert await refused(bot.close_forum_topic(STAFF.id, missing)) == "Bad Request: TOPIC_ID_INVALID"
    assert await refused(bot.edit_forum_topic(STAFF.id, missing, name="x")) == "Bad Request: TOPIC_ID_INVALID"
    assert await refused(bot.send_message(STAFF.id, "?", reply_parameters=ReplyParameters(message_id=missing))) == (
        "Bad Request: message to be replied not found"
    )
    assert await bot.edit_forum_topic(STAFF.id, long.message_thread_id)  # no change asked: True, nothing done
    assert fake.topic(STAFF.id, long.message_thread_id).edits == 0
    assert fake.chats[STAFF.id] == []  # nothing refused was posted

    fake.set_member(STAFF, BOT_ID, "member")  # no longer an administrator
    assert await refused(bot.create_forum_topic(STAFF.id, "Тема")) == (
        "Bad Request: not enough rights to create a topic"
    )
    await bot.close_forum_topic(STAFF.id, long.message_thread_id)  # its own topic: it may
    assert await refused(bot.send_message(STAFF.id, "?", message_thread_id=long.message_thread_id)) == (
        "Bad Request: TOPIC_CLOSED"
    )


async def test_an_album_a_photo_and_a_location_land_in_the_topic(fake: FakeTelegram, bot: Bot) -> None:
    thread = (await bot.create_forum_topic(STAFF.id, "2024-0002")).message_thread_id
    album = await bot.send_media_group(
        STAFF.id,
        [InputMediaPhoto(media="photo-1-1280", caption="Фото жителя"), InputMediaPhoto(media="https://x.test/2.jpg")],
        message_thread_id=thread,
    )
    assert [message.message_thread_id for message in album] == [thread, thread]
    assert album[0].media_group_id is not None
    assert album[0].media_group_id == album[1].media_group_id
    assert album[0].caption == "Фото жителя"
    assert album[0].photo
    assert album[0].photo[-1].file_id == "photo-1-1280"
    photo = await bot.send_photo(STAFF.id, "photo-3-1280", caption="Ещё одно", message_thread_id=thread)
    assert photo.photo
    assert photo.message_thread_id == thread
    point = await bot.send_location(STAFF.id, 55.7558, 37.6173, message_thread_id=thread)
    assert point.location is not None
    assert (point.location.latitude, point.location.longitude) == (55.7558, 37.6173)

    first, second, third, fourth = fake.topic(STAFF.id, thread).messages
    assert (first.photos, first.text, second.photos) == (["photo-1-1280"], "Фото жителя", ["https://x.test/2.jpg"])
    assert (third.photos, third.text, third.media_group_id) == (["photo-3-1280"], "Ещё одно", None)
    assert (fourth.location, fourth.thread_id) == ((55.7558, 37.6173), thread)
    assert fake.chats[STAFF.id] == [first, second, third, fourth]
    assert await refused(bot.edit_message_text("?", chat_id=STAFF.id, message_id=fourth.message_id)) == (
        "Bad Request: there is no text in the message to edit"
    )
    eleven = [InputMediaPhoto(media=f"p{n}") for n in range(11)]
    assert await refused(bot.send_media_group(STAFF.id, eleven, message_thread_id=thread)) == (
        "Bad Request: too many messages to send as an album"
    )


async def test_topic_creation_and_album_items_count_against_the_group_limit(fake: FakeTelegram, bot: Bot) -> None:
    fake.group_per_minute = 4
    thread = (await bot.create_forum_topic(STAFF.id, "2024-0003")).message_thread_id  # 1
    await bot.send_message(STAFF.id, CARD, message_thread_id=thread)  # 2
    photos = [InputMediaPhoto(media="a"), InputMediaPhoto(media="b"), InputMediaPhoto(media="c")]
    with pytest.raises(TelegramRetryAfter) as too_many:  # 3 more would make 5
        await bot.send_media_group(STAFF.id, photos, message_thread_id=thread)
    assert too_many.value.retry_after >= 1
    await bot.send_media_group(STAFF.id, photos[:2], message_thread_id=thread)  # 4
    with pytest.raises(TelegramRetryAfter):
        await bot.create_forum_topic(STAFF.id, "2024-0004")
    assert fake.throttled == 2
    assert len(fake.sent_at) == 4
    assert [topic.name for topic in fake.topics[STAFF.id]] == ["2024-0003"]


async def test_staff_messages_and_button_presses_in_a_topic_reach_aiogram_as_topic_messages(
    fake: FakeTelegram, bot: Bot
) -> None:
    thread = (await bot.create_forum_topic(STAFF.id, "2024-0005")).message_thread_id
    await bot.send_message(STAFF.id, CARD, message_thread_id=thread, reply_markup=BUTTONS)
    [card] = fake.topic(STAFF.id, thread).messages

    update = await received(fake, bot, fake.message_update(OLGA, "Выезжаем завтра", chat=STAFF, thread_id=thread))
    written = update.message
    assert written is not None
    assert written.from_user is not None
    assert written.from_user.id == OLGA.id
    assert (written.message_thread_id, written.is_topic_message, written.chat.is_forum) == (thread, True, True)
    assert written.reply_to_message is not None
    assert written.reply_to_message.forum_topic_created is not None

    answer = (await received(fake, bot, fake.message_update(OLGA, "Ответ жителю", chat=STAFF, reply_to=card))).message
    assert answer is not None
    assert answer.message_thread_id == thread
    assert answer.reply_to_message is not None
    assert answer.reply_to_message.message_id == card.message_id
    assert answer.reply_to_message.text == CARD

    photo = fake.message_update(OLGA, photo="ph9", caption="Фото с места", chat=STAFF, thread_id=thread)
    shot = (await received(fake, bot, photo)).message
    assert shot is not None
    assert shot.photo
    assert (shot.caption, shot.message_thread_id) == ("Фото с места", thread)

    anonymous = fake.message_update(OLGA, "Закрываем", chat=STAFF, sender_chat=STAFF, thread_id=thread)
    unnamed = (await received(fake, bot, anonymous)).message
    assert unnamed is not None
    assert unnamed.sender_chat is not None
    assert unnamed.sender_chat.id == STAFF.id
    assert unnamed.from_user is not None
    assert unnamed.from_user.username == "GroupAnonymousBot"
    assert unnamed.message_thread_id == thread

    pressed = (await received(fake, bot, fake.callback_update(OLGA, card, "staff:take:1", chat=STAFF))).callback_query
    assert pressed is not None
    assert pressed.data == "staff:take:1"
    assert isinstance(pressed.message, Message)
    assert (pressed.message.message_thread_id, pressed.message.is_topic_message) == (thread, True)
    assert pressed.message.reply_markup is not None

    reply = await bot.send_message(STAFF.id, "Принято", reply_parameters=ReplyParameters(message_id=written.message_id))
    assert reply.message_thread_id == thread  # no thread given: the replied message's topic
    assert reply.reply_to_message is not None
    assert reply.reply_to_message.text == "Выезжаем завтра"
    assert fake.topic(STAFF.id, thread).messages[-1].reply_to == written.message_id

    member = await bot.get_chat_member(STAFF.id, BOT_ID)
    assert isinstance(member, ChatMemberAdministrator)
    assert member.can_manage_topics
    assert (await bot.get_chat_member(STAFF.id, OLGA.id)).status == "member"  # she has written there
