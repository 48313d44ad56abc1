"""What residents and staff are told when appeals change, queued in the outbox in the caller's transaction."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime
from zoneinfo import ZoneInfo

from bot.core.types import Button, Keyboard, keyboard_to_json
from bot.services.appeal_stages import RESIDENT_ACTOR, AppealStage, StageMove
from bot.texts import Texts, local_time
from storage.models import Appeal, OutboxMessage
from storage.uow import UnitOfWork

log = logging.getLogger(__name__)

RATE = "rate"  # button payload rate:<number>:<score>
OPEN_APPEAL = "my:open"  # button payload my:open:<number>
ADD_TO_APPEAL = "my:add"  # button payload my:add:<number>: the resident's next message goes to the appeal
STAGE_TEXTS = {
    AppealStage.NEW: "stages.new",
    AppealStage.ACCEPTED: "stages.accepted",
    AppealStage.IN_PROGRESS: "stages.in_progress",
    AppealStage.ANSWERED: "stages.answered",
    AppealStage.CLOSED: "stages.closed",
    AppealStage.REJECTED: "stages.rejected",
    AppealStage.REDIRECTED: "stages.redirected",
}


@dataclass(frozen=True, slots=True)
class Notices:
    """Composes notifications from the texts file and queues them; `staff_chat` is (platform, chat id) or None."""

    texts: Texts
    timezone: ZoneInfo
    staff_chat: tuple[str, str] | None = None
    staff_topics: bool = False  # the staff chat is a forum with a topic per appeal

    def stage_name(self, stage: str) -> str:
        return self.texts(STAGE_TEXTS[AppealStage(stage)])

    def rating_buttons(self, number: str) -> Keyboard:
        return (tuple(Button(str(score), f"{RATE}:{number}:{score}") for score in range(1, 6)),)

    async def stage_changed(self, uow: UnitOfWork, appeal: Appeal, record: StageMove) -> None:
        """Tell the resident about a move staff made (a resident knows about their own)."""
        if record.actor == RESIDENT_ACTOR:
            return
        if record.to_stage is AppealStage.ANSWERED:
            text = self.texts("notify.answered", number=appeal.number, answer=appeal.answer_text or record.comment)
            buttons = self.rating_buttons(appeal.number)
        else:
            comment = record.comment if record.visible_to_resident else None
            key = "notify.stage_comment" if comment else "notify.stage"
            text = self.texts(key, number=appeal.number, stage=self.stage_name(record.to_stage), comment=comment)
            buttons = ((Button(self.texts("notify.open_card"), f"{OPEN_APPEAL}:{appeal.number}"),),)
        await self.to_resident(uow, appeal, text, buttons, record.at)

    async def clarification(self, uow: UnitOfWork, appeal: Appeal, question: str, now: datetime) -> None:
        text = self.texts("notify.clarification", number=appeal.number, department=appeal.department, text=question)
        await self.to_resident(uow, appeal, text, self.clarify_button(appeal.number), now)

    async def clarification_reminder(self, uow: UnitOfWork, appeal: Appeal, now: datetime) -> None:
        text = self.texts("notify.clarification_reminder", number=appeal.number)
        await self.to_resident(uow, appeal, text, self.clarify_button(appeal.number), now)

    def clarify_button(self, number: str) -> Keyboard:
        return ((Button(self.texts("notify.clarify"), f"{ADD_TO_APPEAL}:{number}"),),)

    async def extended(self, uow: UnitOfWork, appeal: Appeal, reason: str, now: datetime) -> None:
        text = self.texts(
            "notify.extended", number=appeal.number, due=self.when(appeal.resolution_due_at), reason=reason
        )
        buttons = ((Button(self.texts("notify.open_card"), f"{OPEN_APPEAL}:{appeal.number}"),),)
        await self.to_resident(uow, appeal, text, buttons, now)

    async def rating_reminder(self, uow: UnitOfWork, appeal: Appeal, now: datetime) -> None:
        text = self.texts("notify.rating_reminder", number=appeal.number)
        await self.to_resident(uow, appeal, text, self.rating_buttons(appeal.number), now)

    async def to_resident(self, uow: UnitOfWork, appeal: Appeal, text: str, buttons: Keyboard, now: datetime) -> None:
        resident = await uow.residents.get(appeal.resident_id)
        if resident is None or resident.erased_at is not None or resident.platform == "open311":
            return  # erased: nobody to tell; filed by a system over Open311: it follows the appeal itself
        uow.outbox.add(
            OutboxMessage(
                platform=resident.platform,
                chat_id=resident.platform_user_id,
                text=text,
                buttons=keyboard_to_json(buttons),
                appeal_id=appeal.id,
                created_at=now,
                due_at=now,
            )
        )

    async def to_staff(
        self, uow: UnitOfWork, key: str, now: datetime, appeal: Appeal | None = None, **values: object
    ) -> str:
        """Queue an alert for the staff chat, into the appeal's topic where it has one. Always logged at WARNING
        (by its kind and the appeal's number: the text may quote the resident), so that with no staff chat
        configured it is not lost. Returns the text."""
        text = self.texts(key, **values)
        log.warning("staff alert %s: appeal %s", key, appeal.number if appeal is not None else "-")
        if self.staff_chat is not None:
            platform, chat_id = self.staff_chat
            card = await uow.staff_cards.get(appeal.id) if appeal is not None and self.staff_topics else None
            if card is not None and card.thread_id is not None:
                chat_id = f"{chat_id}/{card.thread_id}"
            uow.outbox.add(
                OutboxMessage(
                    platform=platform,
                    chat_id=chat_id,
                    text=text,
                    appeal_id=appeal.id if appeal else None,
                    created_at=now,
                    due_at=now,
                )
            )
        return text

    def when(self, moment: datetime | None) -> str:
        return local_time(moment, self.timezone)
