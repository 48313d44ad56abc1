"""Random sequences of what residents send (texts, button presses, attachments) and restarts, driven through the
core on SQLite and PostgreSQL by hypothesis: nothing crashes, and the invariants hold: every stored appeal's
number was sent to its resident, every stored dialog step exists, nobody is shown another's appeal."""

from __future__ import annotations

import re
import uuid
from collections import defaultdict
from dataclasses import dataclass, field

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import select

from bot.app import Application
from bot.config import Config
from bot.core.types import Incoming, Location, Photo, Platform, Reply
from storage.models import Appeal, DialogState, Resident
from tests.conftest import run_in_own_loop

TEXTS = [
    "/start", "/menu", "/help", "/cancel", "/mydata", "/forget", "Подать обращение", "Мои обращения",
    "Задать вопрос", "Помощь", "Главное меню", "Отмена", "да", "нет", "Готово", "Пропустить", "Отправить",
    "Дороги", "Яма на дороге у дома 5 по Садовой", "нет горячей воды", "А-2026-000001", "а-2026-2",
    "\x00\x07", "\u200b" * 12, "..........", "+7 912 345-67-89", "ул. Садовая, 5", "Продолжить", "Начать заново",
]  # fmt: skip
PAYLOADS = [
    "appeal:submit", "appeal:consent:yes", "appeal:category:0", "appeal:next", "appeal:edit:description",
    "appeal:draft:continue", "my:open:А-2026-000001", "my:add:А-2026-000001", "my:add_done", "my:list:3",
    "privacy:forget:yes", "rate:А-2026-000001:1", "rate:А-2026-000001:5", "faq:vote:hot-water-outage:0",
    "faq:topic:0:0", "faq:item:nope", "menu:appeal", "garbage", "appeal:category:999",
]  # fmt: skip
NUMBER = re.compile(r"А-\d{4}-\d{6}")

action = st.one_of(
    st.tuples(st.just("text"), st.sampled_from(TEXTS)),
    st.tuples(st.just("text"), st.text(max_size=40)),
    st.tuples(st.just("payload"), st.sampled_from(PAYLOADS)),
    st.tuples(st.just("press"), st.integers(min_value=0, max_value=12).map(str)),  # a button of the last reply
    st.tuples(st.just("photo"), st.sampled_from(["", "Яма на дороге у дома 5 по Садовой"])),
    st.tuples(st.just("location"), st.just("")),
    st.tuples(st.just("voice"), st.just("")),
    st.tuples(st.just("restart"), st.just("")),
    st.tuples(st.just("file"), st.just("")),  # a whole appeal, so that there are numbers to keep apart
)
FILING = [
    ("payload", "menu:appeal"), ("payload", "appeal:draft:anew"), ("payload", "appeal:consent:yes"),
    ("payload", "appeal:category:1"), ("text", "Яма на дороге у дома 5 по Садовой"), ("payload", "appeal:next"),
    ("payload", "appeal:next"), ("payload", "appeal:next"), ("payload", "appeal:submit"),
]  # fmt: skip
steps = st.lists(st.tuples(st.sampled_from(["anna", "boris"]), action), min_size=1, max_size=25)


@dataclass
class Residents:
    """What each resident was shown, and the buttons of the last message."""

    shown: dict[str, list[str]] = field(default_factory=lambda: defaultdict(list))
    buttons: dict[str, list[str]] = field(default_factory=lambda: defaultdict(list))

    def saw(self, user: str, replies: list[Reply]) -> None:
        for reply in replies:
            self.shown[user].append(reply.text)
            self.buttons[user] = [button.payload for row in reply.buttons for button in row] or self.buttons[user]


def incoming(user: str, kind: str, value: str, residents: Residents) -> Incoming:
    base = {"platform": Platform.TELEGRAM, "user_id": user, "chat_id": user, "display_name": user.title()}
    if kind == "text":
        return Incoming(**base, text=value)  # type: ignore[arg-type]
    if kind == "payload":
        return Incoming(**base, payload=value)  # type: ignore[arg-type]
    if kind == "press":
        offered = residents.buttons[user]
        return Incoming(**base, payload=offered[int(value) % len(offered)] if offered else "garbage")  # type: ignore[arg-type]
    if kind == "photo":
        return Incoming(**base, photos=(Photo("AgADphoto"),), text=value or None)  # type: ignore[arg-type]
    if kind == "location":
        return Incoming(**base, location=Location(55.75, 37.61))  # type: ignore[arg-type]
    return Incoming(**base, unsupported="voice")  # type: ignore[arg-type]


async def run(config: Config, sequence: list[tuple[str, tuple[str, str]]]) -> None:
    """One example: its own residents (the database is the test's, shared by its examples)."""
    app = await Application.start(config)
    residents = Residents()
    run_id = uuid.uuid4().hex[:8]
    try:
        for name, (kind, value) in sequence:
            user = f"{name}-{run_id}"
            if kind == "restart":
                await app.close()
                app = await Application.start(config)
                continue
            for step_kind, step_value in FILING if kind == "file" else [(kind, value)]:
                replies = list(await app.dispatcher.feed(incoming(user, step_kind, step_value, residents)))
                assert all(reply.text != app.texts("errors.internal") for reply in replies), (user, kind, value)
                residents.saw(user, replies)
        known_states = set(app.dispatcher._states)
        async with app.sessions() as session:
            query = select(Appeal.number, Resident.platform_user_id).join(Resident)
            appeals = [(n, owner) for n, owner in (await session.execute(query)).all() if run_id in owner]
            states = (await session.execute(select(DialogState.state))).scalars().all()
    finally:
        await app.close()
    for number, owner in appeals:
        if not owner.startswith("erased:"):
            assert any(number in text for text in residents.shown[owner]), f"{owner} was never told {number}"
    owners = {number: owner for number, owner in appeals}
    for user, texts in residents.shown.items():
        for text in texts:
            for number in NUMBER.findall(text):
                assert owners.get(number, user) == user, f"{user} was shown {number}, not theirs"
    assert all(state is None or state in known_states for state in states)


@pytest.mark.slow
@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(sequence=steps)
def test_random_input_never_breaks_the_bot_nor_its_invariants(config: Config, sequence: list) -> None:  # type: ignore[type-arg]
    run_in_own_loop(run(config, sequence))
