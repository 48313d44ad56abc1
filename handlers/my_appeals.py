""" "Мои обращения": a resident's appeals, newest first, and each one's timeline. Only ever their own."""

from __future__ import annotations

from datetime import datetime

from bot.core.context import Context
from bot.core.routing import Router
from bot.core.types import Button
from bot.services.appeal_stages import FINAL_STAGES, RESIDENT_ACTOR, AppealStage
from bot.services.appeals import add_note, attach_photos, clarified, is_note, typed_number
from bot.services.notices import ADD_TO_APPEAL, STAGE_TEXTS
from bot.services.notices import OPEN_APPEAL as OPEN
from handlers.appeal_wizard import add_photos
from handlers.menu import MAIN_MENU, MY_APPEALS, OPEN_APPEAL
from storage.models import Appeal

router = Router("my_appeals")


def stage_name(ctx: Context, stage: str) -> str:
    return ctx.texts(STAGE_TEXTS[AppealStage(stage)])


BACK_TO_LIST = "my:list"  # my:list[:<page>]: a page of the list, in place of the message pressed
PAGE = 5  # appeals a page: with the page turns and the menu, VK's six rows of an inline keyboard
ADD = ADD_TO_APPEAL  # my:add:<number>: "Дополнить" an appeal, or answer a clarification request
ADD_CANCEL = "my:add_cancel"
ADD_DONE = "my:add_done"  # the photos (and captions) sent so far are the addition
ADDING = "my:adding"  # dialog state: the next message is the addition; photos gather until "Отправить"


@router.button(MY_APPEALS)
async def my_appeals(ctx: Context) -> None:
    await show_list(ctx, ctx.texts("my.list"), in_place=False)


@router.button(BACK_TO_LIST)
async def back_to_list(ctx: Context) -> None:
    page = int(ctx.args) if ctx.args.isdigit() else 0
    await show_list(ctx, ctx.texts("my.list"), in_place=True, page=page)


async def show_list(ctx: Context, intro: str, in_place: bool, page: int = 0) -> None:
    """A page of the list, newest first, as a new message or in place of the message the resident pressed."""
    resident_id = ctx.resident.id  # None: not stored, so no appeals
    total = 0 if resident_id is None else await ctx.uow.appeals.count_of_resident(resident_id)
    menu_button = Button(ctx.texts("faq.main_menu"), MAIN_MENU)
    if resident_id is None or not total:
        ctx.answer(ctx.texts("my.empty"), [[Button(ctx.texts("menu.open_appeal"), OPEN_APPEAL)], [menu_button]])
        return
    pages = (total + PAGE - 1) // PAGE
    page = min(page, pages - 1)
    appeals = await ctx.uow.appeals.of_resident(resident_id, limit=PAGE, offset=page * PAGE)
    now = ctx.services.clock()
    rows = [
        [
            Button(
                ctx.texts("my.item", number=a.number, stage=stage_name(ctx, a.stage), age=age(ctx, a, now)),
                f"{OPEN}:{a.number}",
            )
        ]
        for a in appeals
    ]
    turns = [
        *([Button(ctx.texts("my.newer"), f"{BACK_TO_LIST}:{page - 1}")] if page > 0 else []),
        *([Button(ctx.texts("my.older"), f"{BACK_TO_LIST}:{page + 1}")] if page + 1 < pages else []),
    ]
    if pages > 1:
        intro = ctx.texts("my.list_page", intro=intro, page=page + 1, pages=pages, total=total)
    (ctx.update_card if in_place else ctx.answer)(intro, [*rows, *([turns] if turns else []), [menu_button]])


async def open_typed(ctx: Context, text: str) -> bool:
    """A resident who types an appeal's number ("а-2026-123") gets its card, if it is theirs; True if the text
    was a number (theirs or not: the same answer either way, so nothing leaks)."""
    number = typed_number(text)
    if number is None or ctx.resident.id is None:
        return False
    await show_card(ctx, number, in_place=False)
    return True


@router.button(OPEN)
async def open_one(ctx: Context) -> None:
    await show_card(ctx, ctx.args, in_place=True)


async def show_card(ctx: Context, number: str, in_place: bool) -> None:
    resident_id = ctx.resident.id
    appeal = None if resident_id is None else await ctx.uow.appeals.owned_by(resident_id, number)
    if appeal is None:  # not theirs, or no such number: the same answer, so nothing leaks
        await show_list(ctx, ctx.texts("my.not_found"), in_place=False)
        return
    rows = [[Button(ctx.texts("my.back"), BACK_TO_LIST)], [Button(ctx.texts("faq.main_menu"), MAIN_MENU)]]
    if AppealStage(appeal.stage) not in FINAL_STAGES:
        rows.insert(0, [Button(ctx.texts("my.add"), f"{ADD}:{appeal.number}")])
    (ctx.update_card if in_place else ctx.answer)(card(ctx, appeal), rows)


@router.button(ADD)
async def add(ctx: Context) -> None:
    """ "Дополнить": the resident's next message goes to the appeal, and to the staff working on it."""
    resident_id = ctx.resident.id
    appeal = None if resident_id is None else await ctx.uow.appeals.owned_by(resident_id, ctx.args)
    if appeal is None or AppealStage(appeal.stage) in FINAL_STAGES:
        await show_list(ctx, ctx.texts("my.not_found"), in_place=False)
        return
    ctx.set_state(ADDING, number=appeal.number)
    ctx.answer(ctx.texts("my.add_prompt", number=appeal.number), [[Button(ctx.texts("my.add_cancel"), ADD_CANCEL)]])


@router.button(ADD_CANCEL)
async def add_cancelled(ctx: Context) -> None:
    ctx.clear_state()
    await show_list(ctx, ctx.texts("my.list"), in_place=False)


@router.state(ADDING)
async def adding(ctx: Context) -> None:
    """Text ends the addition at once; photos (an album arrives as several messages) gather, with their
    captions, until the resident presses "Отправить" or writes text."""
    text = (ctx.incoming.text or "").strip()
    if ctx.incoming.photos:
        added = add_photos(ctx, [photo.file_id for photo in ctx.incoming.photos])
        if text:
            ctx.data.setdefault("captions", []).append(text)
        count, maximum = len(ctx.data["photos"]), ctx.services.limits.max_photos
        key = "my.add_photo_received" if added or count < maximum else "my.add_photos_full"
        buttons = [[Button(ctx.texts("my.add_send"), ADD_DONE)], [Button(ctx.texts("my.add_cancel"), ADD_CANCEL)]]
        ctx.answer(ctx.texts(key, count=count, max=maximum), buttons)
        return
    if not text:
        ctx.answer(ctx.texts("my.add_nothing"), [[Button(ctx.texts("my.add_cancel"), ADD_CANCEL)]])
        return
    await store_addition(ctx, [*ctx.data.get("captions", []), text])


@router.button(ADD_DONE)
async def add_done(ctx: Context) -> None:
    if ctx.state != ADDING:  # an old button: the addition was sent or cancelled
        await show_list(ctx, ctx.texts("my.list"), in_place=False)
        return
    await store_addition(ctx, list(ctx.data.get("captions", [])))


async def store_addition(ctx: Context, texts: list[str]) -> None:
    """The resident's addition (text, photos or both) goes into the appeal's history and to its staff topic;
    it also answers a clarification request, which restarts the first-response clock."""
    resident_id = ctx.resident.id
    number = str(ctx.data.get("number", ""))
    photos: list[str] = list(ctx.data.get("photos", []))
    appeal = None if resident_id is None else await ctx.uow.appeals.owned_by(resident_id, number)
    if appeal is None:
        ctx.clear_state()
        await show_list(ctx, ctx.texts("my.not_found"), in_place=False)
        return
    if not texts and not photos:
        ctx.answer(ctx.texts("my.add_nothing"), [[Button(ctx.texts("my.add_cancel"), ADD_CANCEL)]])
        return
    now = ctx.services.clock()
    comment = "\n".join([*texts, *([ctx.texts("my.added_photos", count=len(photos))] if photos else [])])
    await add_note(ctx.uow, appeal, comment, actor=RESIDENT_ACTOR, now=now, visible_to_resident=True)
    attach_photos(appeal, ctx.incoming.platform.value, photos, now)
    key = "desk.resident_clarified" if appeal.clarification_asked_at else "desk.resident_added"
    clarified(appeal, ctx.services.appeals, now)
    await ctx.services.notices.to_staff(ctx.uow, key, now, appeal, number=appeal.number, text=comment)
    ctx.clear_state()
    ctx.answer(ctx.texts("my.added", number=appeal.number), [[Button(ctx.texts("faq.main_menu"), MAIN_MENU)]])


def card(ctx: Context, appeal: Appeal) -> str:
    zone = ctx.services.appeals.calendar.timezone
    lines = []
    for event in appeal.events:  # every move is shown; a staff comment only when meant for the resident
        at = f"{event.created_at.astimezone(zone):%d.%m.%Y %H:%M}"
        if is_note(event):  # a message: staff notes are never shown, messages to and from the resident are
            if event.visible_to_resident:
                key = "my.event_added" if event.actor == RESIDENT_ACTOR else "my.event_message"
                lines.append(ctx.texts(key, at=at))
                lines.append(f"   {event.comment}")
            continue
        if event.kind == "extension":
            lines.append(ctx.texts("my.event_extended", at=at))
            lines.append(f"   {event.comment}")
            continue
        if event.department:
            lines.append(ctx.texts("my.event_routed", at=at, department=event.department))
        else:
            lines.append(ctx.texts("my.event", at=at, stage=stage_name(ctx, event.to_stage)))
        if event.comment and event.visible_to_resident and event.to_stage != AppealStage.ANSWERED:
            lines.append(f"   {event.comment}")
    text = ctx.texts(
        "my.card",
        number=appeal.number,
        category=appeal.category,
        stage=stage_name(ctx, appeal.stage),
        created=f"{appeal.created_at.astimezone(zone):%d.%m.%Y}",
        description=appeal.description,
        timeline="\n".join(lines),
    )
    if appeal.answer_text:
        text += "\n\n" + ctx.texts("my.card_answer", answer=appeal.answer_text)
    return text


def age(ctx: Context, appeal: Appeal, now: datetime) -> str:
    zone = ctx.services.appeals.calendar.timezone
    days = (now.astimezone(zone).date() - appeal.created_at.astimezone(zone).date()).days
    return ctx.texts("my.today") if days <= 0 else ctx.texts("my.days_ago", days=days)
