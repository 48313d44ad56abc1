"""The fake VK itself, driven through unmodified vkbottle (`API` and `BotPolling`), so tests can trust it."""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import aiohttp
import pytest
from vkbottle import API, Callback, Keyboard, KeyboardButtonColor, Text, VKAPIError
from vkbottle.http import AiohttpClient
from vkbottle.polling import BotPolling
from vkbottle_types.events.bot_events import MessageAllow, MessageEvent, MessageNew

from tests.fake_vk import CHAT_PEER_BASE, GROUP_ID, OLD_CLIENT, FakeVK, User

TOKEN = "vk1.a.test-community-token"
ANNA = User(101, "Анна", "Петрова")
BORIS = User(102, "Борис")


class QuietPolling(BotPolling):
    def save_server_ts(self, server: dict[str, Any]) -> None:
        """vkbottle would write `.vkbottle/` into the current directory: not in tests."""


@pytest.fixture
async def vk() -> AsyncIterator[FakeVK]:
    fake = FakeVK(token=TOKEN, poll_wait=0.2)
    await fake.start()
    yield fake
    await fake.close()


@pytest.fixture
async def api(vk: FakeVK) -> AsyncIterator[API]:
    api = API(TOKEN, http_client=AiohttpClient())
    api.API_URL = f"{vk.url}/method/"
    yield api
    await api.http_client.close()


async def collect(vk: FakeVK, api: API, count: int, act: Callable[[], Awaitable[object]]) -> list[dict[str, Any]]:
    """Start polling as a bot does, `act` once it listens, and return the first `count` updates it gets."""
    polling = QuietPolling(api, wait=25)
    updates: list[dict[str, Any]] = []

    async def listen() -> None:
        async with contextlib.aclosing(polling.listen()) as events:
            async for event in events:
                updates.extend(event["updates"])
                if len(updates) >= count:
                    return

    task = asyncio.create_task(listen())
    await vk.wait_until(lambda: vk.polled_ts > 0)
    await act()
    await asyncio.wait_for(task, 5)
    return updates


def board(*rows: list[str], **flags: Any) -> str:
    """A keyboard of text buttons with these labels, as JSON."""
    buttons = [[{"action": {"type": "text", "label": label}} for label in row] for row in rows]
    return json.dumps({**flags, "buttons": buttons})


async def send(api: API, peer_id: int, text: str = "Здравствуйте", **params: Any) -> int:
    params.setdefault("random_id", 0)
    return await api.messages.send(peer_id=peer_id, message=text, **params)  # type: ignore[return-value]


async def test_long_poll_delivers_and_redelivers_from_an_old_ts(vk: FakeVK, api: API) -> None:
    vk.push(vk.message_new(BORIS, "до запуска"))  # BotPolling skips what came before it started, like on VK

    async def act() -> None:
        vk.push(vk.start_button(ANNA))
        vk.push(vk.message_new(ANNA, "Фото", photos=("yard",)))
        vk.allow(BORIS)

    updates = await collect(vk, api, 3, act)
    assert [u["type"] for u in updates] == ["message_new", "message_new", "message_allow"]
    start, photo = MessageNew(**updates[0]), MessageNew(**updates[1])
    assert start.group_id == GROUP_ID
    assert updates[0]["v"] == "5.199"
    assert len(updates[0]["event_id"]) == 40
    assert start.object.message
    assert start.object.message.text == "Начать"
    assert json.loads(start.object.message.payload or "") == {"command": "start"}
    assert MessageAllow(**updates[-1]).object.user_id == BORIS.id
    sizes = updates[1]["object"]["message"]["attachments"][0]["photo"]["sizes"]
    largest = max(sizes, key=lambda size: size["width"] * size["height"])
    assert photo.object.message
    assert largest["type"] == "z"
    async with aiohttp.ClientSession() as session, session.get(largest["url"]) as response:
        assert await response.read() == b"\xff\xd8\xff\xd9"
        # The history is kept: an older ts gets the same events again; a wrong key gets failed 2.
        server = await api.groups.get_long_poll_server(group_id=GROUP_ID)
        query = {"act": "a_check", "key": server.key, "ts": "1", "wait": "1"}
        async with session.post(server.server, params=query) as again:
            replay = await again.json()
        async with session.post(server.server, params={**query, "key": "old"}) as stale:
            assert await stale.json() == {"failed": 2}
    assert replay["ts"] == server.ts == "5"
    assert [u["event_id"] for u in replay["updates"][1:]] == [u["event_id"] for u in updates]


async def test_polling_survives_an_expired_key_and_gets_a_repeated_event(vk: FakeVK, api: API) -> None:
    first = vk.message_new(ANNA, "раз")
    event_id = vk.push(first)

    async def act() -> None:
        vk.expire_key()  # the waiting poll still answers; the next gets failed 2 and vkbottle asks for a new key
        await vk.wait_until(lambda: len(vk.calls_of("groups.getLongPollServer")) == 2)
        vk.push(vk.message_new(ANNA, "два"))
        vk.push(first, event_id)  # VK delivering the same event twice

    updates = await collect(vk, api, 2, act)
    texts = [u["object"]["message"]["text"] for u in updates]
    assert texts == ["два", "раз"]
    assert updates[-1]["event_id"] == event_id


async def test_random_id_repeats_are_dropped(vk: FakeVK, api: API) -> None:
    vk.allow(ANNA)
    first = await send(api, ANNA.id, "Ваше обращение принято", random_id=77)
    assert await send(api, ANNA.id, "Ваше обращение принято", random_id=77) == first
    await send(api, ANNA.id, "без random_id: 0 не сверяется")
    await send(api, ANNA.id, "без random_id: 0 не сверяется")
    assert vk.chats[ANNA.id][0].message_id == first
    assert len(vk.chats[ANNA.id]) == 3
    assert vk.repeats_dropped == 1
    with pytest.raises(VKAPIError[100], match="random_id is a required parameter"):
        await api.messages.send(peer_id=ANNA.id, message="нет random_id")


async def test_keyboards_are_validated_like_vk(vk: FakeVK, api: API) -> None:
    vk.allow(ANNA)
    good = Keyboard(inline=True).add(Text("Да", {"answer": "yes"}), color=KeyboardButtonColor.POSITIVE)
    await send(api, ANNA.id, keyboard=good.add(Callback("Оценить", {"rate": 5})).get_json())
    shown = vk.chats[ANNA.id][-1]
    assert shown.buttons == [[("Да", '{"answer":"yes"}'), ("Оценить", '{"rate":5}')]]
    assert shown.inline
    assert shown.kinds == ["text", "callback"]
    bad = {
        "buttons": board(["a"] * 5, ["b"] * 5, ["c"], inline=True),
        "rows": board(*[["a"]] * 7, inline=True),
        "row": board(["a"] * 6),
        "label": board(["x" * 41]),
        "one_time": board(["a"], inline=True, one_time=True),
        "color": json.dumps({"buttons": [[{"action": {"type": "text", "label": "a"}, "color": "red"}]]}),
        "type": json.dumps({"buttons": [[{"action": {"type": "photo", "label": "a"}}]]}),
        "payload": Keyboard().add(Text("a", {"x": "y" * 250})).get_json(),
        "empty row": board(["a"], []),
    }
    for reason, keyboard in bad.items():
        with pytest.raises(VKAPIError[911], match="Keyboard format is invalid"):
            await send(api, ANNA.id, keyboard=keyboard)
        assert len(vk.chats[ANNA.id]) == 1, reason


async def test_901_until_the_user_allows_or_writes(vk: FakeVK, api: API) -> None:
    with pytest.raises(VKAPIError[901]):
        await send(api, ANNA.id)
    vk.allow(ANNA)
    await send(api, ANNA.id)
    vk.deny(ANNA)
    with pytest.raises(VKAPIError[901]):
        await send(api, ANNA.id)
    vk.push(vk.message_new(ANNA, "Снова я"))
    await send(api, ANNA.id)
    await send(api, CHAT_PEER_BASE + 1, "В беседу можно всегда")
    assert len(vk.chats[ANNA.id]) == 2
    assert len(vk.chats[CHAT_PEER_BASE + 1]) == 1


async def test_rate_limit_answers_error_6(vk: FakeVK, api: API) -> None:
    vk.rate_limit = 5
    answers = await asyncio.gather(
        *(api.messages.set_activity(peer_id=ANNA.id, type="typing") for _ in range(8)), return_exceptions=True
    )
    assert answers.count(1) == 5
    assert vk.throttled == 3
    assert all(isinstance(a, VKAPIError[6]) for a in answers if a != 1)


async def test_text_limits_and_other_errors(vk: FakeVK, api: API) -> None:
    vk.allow(ANNA)
    with pytest.raises(VKAPIError[914], match="Message is too long"):
        await send(api, ANNA.id, "я" * 4097)
    await send(api, ANNA.id, "я" * 4096)
    with pytest.raises(VKAPIError[100]):
        await send(api, ANNA.id, "")
    with pytest.raises(VKAPIError[3], match="Unknown method passed"):
        await api.request("messages.sendLater", {})
    vk.fail("messages.send", 9, "Flood control", times=2)
    for _ in range(2):
        with pytest.raises(VKAPIError[9]):
            await send(api, ANNA.id)
    wrong = API("stolen", http_client=api.http_client)
    wrong.API_URL = api.API_URL
    with pytest.raises(VKAPIError[5]):
        await wrong.users.get(user_ids=[ANNA.id])
    assert [u.first_name for u in await api.users.get(user_ids=[ANNA.id, 999])] == ["Анна"]
    assert vk.calls[-1].version == "5.199"
    assert "access_token" not in vk.calls[-1].params


async def test_edit_by_conversation_message_id(vk: FakeVK, api: API) -> None:
    vk.push(vk.message_new(ANNA, "Привет"))  # the resident's message takes cmid 1 from the same counter
    await send(api, ANNA.id, "Оцените ответ", keyboard=Keyboard(inline=True).add(Callback("5", {"r": 5})).get_json())
    shown = vk.chats[ANNA.id][-1]
    assert shown.conversation_message_id == 2
    assert await api.messages.edit(peer_id=ANNA.id, conversation_message_id=2, message="Спасибо за оценку") == 1
    assert (shown.text, shown.buttons, shown.edits) == ("Спасибо за оценку", [], 1)
    with pytest.raises(VKAPIError[100], match="message not found"):
        await api.messages.edit(peer_id=ANNA.id, conversation_message_id=9, message="нет такого")
    vk.fail("messages.edit", 909, "Can't edit this message, because it's too old")
    with pytest.raises(VKAPIError[909]):
        await api.messages.edit(peer_id=ANNA.id, conversation_message_id=2, message="поздно")


async def test_pressing_buttons_and_answering_callbacks(vk: FakeVK, api: API) -> None:
    vk.allow(ANNA)
    menu = Keyboard(one_time=True).add(Text("Задать вопрос", {"cmd": "ask"})).get_json()
    await send(api, ANNA.id, "Меню", keyboard=menu)
    await send(api, ANNA.id, "Оцените", keyboard=Keyboard(inline=True).add(Callback("Хорошо", {"r": 5})).get_json())
    with pytest.raises(AssertionError, match="does not show"):
        vk.press(ANNA, "Хорошо", OLD_CLIENT)
    event = MessageEvent(**{**vk.press(ANNA, "Хорошо"), "group_id": GROUP_ID})
    assert event.object.payload == {"r": 5}
    assert event.object.conversation_message_id == 2
    asked = vk.press(ANNA, "Задать вопрос")["object"]["message"]
    assert (asked["text"], asked["payload"]) == ("Задать вопрос", '{"cmd":"ask"}')
    assert vk.keyboards[ANNA.id] is None  # a one_time keyboard hides once pressed
    with pytest.raises(AssertionError, match="no button"):
        vk.press(ANNA, "Задать вопрос")
    snackbar = json.dumps({"type": "show_snackbar", "text": "Спасибо!"})
    await api.messages.send_message_event_answer(
        event_id=event.object.event_id, user_id=ANNA.id, peer_id=ANNA.id, event_data=snackbar
    )
    assert vk.answered_events == [event.object.event_id]
