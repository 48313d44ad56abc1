"""The staff side of an appeal: who may act (the roster), and the card and topic name staff see in their group."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from zoneinfo import ZoneInfo

from bot.config import StaffMember
from bot.core.types import Button, Keyboard
from bot.services.appeal_stages import ALLOWED_MOVES, FINAL_STAGES, AppealStage
from bot.services.appeals import was_extended
from bot.services.notices import STAGE_TEXTS
from bot.texts import Texts, local_time
from storage.models import Appeal

MOVE = "desk:move"  # button payload desk:move:<number>:<stage>[:<reason index>]
REASONS = "desk:reasons"  # desk:reasons:<number>:<stage>: the reasons to pick from, for a move that needs one
EXTEND = "desk:extend"  # desk:extend:<number>[:<reason index>]: the reasons to pick from, or the extension
ROUTE = "desk:route"  # desk:route:<number>[:<department index>]: the departments to hand it to, or the hand-over
CANNED = "desk:canned"  # desk:canned:<number>[:<answer id>]: the canned answers for its topic, or one of them
TOPIC_NAME_LIMIT = 128  # characters Telegram allows in a topic's name
# The moves a card offers as one press, in this order.
ONE_PRESS_MOVES = (AppealStage.ACCEPTED, AppealStage.IN_PROGRESS, AppealStage.CLOSED)
MOVE_LABELS = {
    AppealStage.ACCEPTED: "desk.accept",
    AppealStage.IN_PROGRESS: "desk.take",
    AppealStage.CLOSED: "desk.close",
    AppealStage.REJECTED: "desk.reject",
    AppealStage.REDIRECTED: "desk.redirect",
}


@dataclass(frozen=True, slots=True)
class Roster:
    """The staff members from bot.toml, by Telegram user id."""

    members: Iterable[StaffMember] = ()
    _by_id: dict[str, StaffMember] = field(init=False, default_factory=dict)

    def __post_init__(self) -> None:
        for member in self.members:
            self._by_id[str(member.telegram_id)] = member

    def member(self, platform: str, user_id: str) -> StaffMember | None:
        return self._by_id.get(user_id) if platform == "telegram" else None


# The mark that opens a topic's name, so the list of topics shows each appeal's stage at a glance.
STAGE_MARKS = {
    AppealStage.NEW: "desk.mark_new",
    AppealStage.ACCEPTED: "desk.mark_accepted",
    AppealStage.IN_PROGRESS: "desk.mark_in_progress",
    AppealStage.ANSWERED: "desk.mark_answered",
    AppealStage.CLOSED: "desk.mark_closed",
    AppealStage.REJECTED: "desk.mark_rejected",
    AppealStage.REDIRECTED: "desk.mark_redirected",
}


def topic_name(texts: Texts, appeal: Appeal) -> str:
    """`🆕 А-2026-000123 · ЖКХ · ул. Ленина, 5`: the stage's mark, the number, the topic, the place, within
    Telegram's limit."""
    number = f"{texts(STAGE_MARKS[AppealStage(appeal.stage)])} {appeal.number}"
    parts = [number, appeal.category, *([appeal.address] if appeal.address else [])]
    name = " · ".join(parts)
    return name if len(name) <= TOPIC_NAME_LIMIT else name[: TOPIC_NAME_LIMIT - 1] + "…"


def topic_closed(appeal: Appeal) -> bool:
    """The topic is open while the appeal needs staff: closed once it is answered (a poor rating reopens both)
    or finished."""
    return AppealStage(appeal.stage) in FINAL_STAGES or appeal.stage == AppealStage.ANSWERED


def card_text(texts: Texts, appeal: Appeal, timezone: ZoneInfo) -> str:
    """Everything staff need to work on the appeal, in one message."""

    if appeal.latitude is not None and appeal.longitude is not None:
        place = texts("desk.place_point", latitude=appeal.latitude, longitude=appeal.longitude)
        place += f"\n{appeal.address}" if appeal.address else ""
    else:
        place = appeal.address or texts("desk.none")
    return texts(
        "desk.card",
        number=appeal.number,
        stage=texts(STAGE_TEXTS[AppealStage(appeal.stage)]),
        category=appeal.category,
        department=appeal.department,
        description=appeal.description,
        place=place,
        phone=appeal.phone or texts("desk.none"),
        photos=len(appeal.attachments),
        first_response=local_time(appeal.first_response_due_at, timezone),
        resolution=local_time(appeal.resolution_due_at, timezone),
    )


def card_buttons(texts: Texts, appeal: Appeal) -> Keyboard:
    """The actions the stage machine allows from the appeal's stage: moves of one press, moves that need a
    reason (picked from a list next), and the hand-over to another department."""
    stage = AppealStage(appeal.stage)
    allowed = ALLOWED_MOVES[stage]
    number = appeal.number
    rows = [
        tuple(Button(texts(MOVE_LABELS[to]), f"{MOVE}:{number}:{to.value}") for to in ONE_PRESS_MOVES if to in allowed),
        tuple(
            Button(texts(MOVE_LABELS[to]), f"{REASONS}:{number}:{to.value}")
            for to in (AppealStage.REJECTED, AppealStage.REDIRECTED)
            if to in allowed
        ),
        (Button(texts("desk.canned"), f"{CANNED}:{number}"),) if stage not in FINAL_STAGES else (),
        (Button(texts("desk.route"), f"{ROUTE}:{number}"),) if stage not in FINAL_STAGES else (),
        (Button(texts("desk.extend"), f"{EXTEND}:{number}"),) if may_extend(appeal) else (),
    ]
    return tuple(row for row in rows if row)


def may_extend(appeal: Appeal) -> bool:
    """59-FZ allows one extension of an open appeal's resolution deadline."""
    return AppealStage(appeal.stage) not in FINAL_STAGES and not was_extended(appeal)


def reasons_for(stage: AppealStage, reject: list[str], redirect: list[str]) -> list[str]:
    return reject if stage is AppealStage.REJECTED else redirect if stage is AppealStage.REDIRECTED else []
