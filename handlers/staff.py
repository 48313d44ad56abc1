"""The staff group: actions on an appeal's card, each by a member of the roster, through the same services as
`python -m bot appeals`. The card itself is brought up to date by the staff desk, whoever changed the appeal."""

from __future__ import annotations

import re

from bot.core.context import Context, StaffContext
from bot.core.layout import shorten
from bot.core.routing import Router
from bot.core.types import Button
from bot.services.appeal_stages import ALLOWED_MOVES, AppealStage, DomainError
from bot.services.appeals import (
    add_note,
    answer_appeal,
    ask_clarification,
    extend_resolution,
    is_note,
    move_appeal,
    route_appeal,
)
from bot.services.notices import OPEN_APPEAL
from bot.services.sign_in import new_link
from bot.services.staff import CANNED, EXTEND, MOVE, REASONS, ROUTE, reasons_for
from storage.models import Appeal

SEND = "desk:send"  # desk:send:<event id>: the previewed message goes to the resident
ANSWER = "desk:answer"  # desk:answer:<event id>: it goes as the official answer, with the rating buttons
CLARIFY = "desk:clarify"  # desk:clarify:<event id>: it goes as a clarification request; the clock stops
KEEP = "desk:keep"  # desk:keep:<event id>: it stays an internal note

REASON_LABEL = 60  # characters of a reason shown on its button (the whole reason is in the message above)
EXTENDING_ROLES = frozenset({"manager", "admin"})
GAP = re.compile(r"\[[^\[\]\n]{1,60}\]")  # a gap left to fill in a canned answer: "[дата]"

router = Router("staff")


async def actor(ctx: StaffContext, number: str) -> str | None:
    """Who acts on appeal `number`, as its history records it; None (with a refusal queued) for anyone not on
    the roster, an anonymous group admin (whose person nobody can tell), and a department's staff member acting
    on another department's appeal."""
    member = ctx.member
    if member is None or ctx.incoming.on_behalf_of_chat:
        ctx.answer(ctx.texts("desk.not_allowed"))
        return None
    if member.role == "department":
        appeal = await ctx.uow.appeals.by_number(number)
        if appeal is not None and appeal.department not in member.departments:
            ctx.answer(ctx.texts("desk.not_your_department", department=appeal.department))
            return None
    return staff_actor(ctx)


def reasons(ctx: StaffContext, stage: AppealStage) -> list[str]:
    staff = ctx.services.staff
    return reasons_for(stage, staff.reject_reasons, staff.redirect_reasons)


@router.command("dashboard")
async def dashboard_link(ctx: Context) -> None:
    """A staff member of the roster, writing /dashboard in their private chat with the bot, gets a one-time
    sign-in link; anyone else gets what an unknown command gets."""
    member = ctx.services.roster.member(ctx.incoming.platform.value, ctx.incoming.user_id)
    if member is None:
        ctx.answer(ctx.texts("errors.unknown_command"))
        return
    link = new_link(ctx.uow, member.telegram_id, ctx.services.web_url)
    ctx.answer(ctx.texts("desk.dashboard_link", link=link))


@router.staff_button(MOVE)
async def move(ctx: StaffContext) -> None:
    """`desk:move:<number>:<stage>[:<reason>]`: a press on the card, or on the reason picked for the move."""
    number, stage, *picked = ctx.args.split(":")
    who = await actor(ctx, number)
    if who is None:
        return
    try:
        target = AppealStage(stage)
        given = reasons(ctx, target)
        comment = given[int(picked[0])] if picked and picked[0].isdigit() and int(picked[0]) < len(given) else None
        appeal = await move_appeal(
            ctx.uow, ctx.services.notices, number, target, actor=who, now=ctx.services.clock(), comment=comment
        )
    except (DomainError, ValueError) as exc:
        ctx.answer(ctx.texts("desk.not_possible", reason=str(exc)))
        return
    done = ctx.texts("desk.done", number=appeal.number, stage=ctx.services.notices.stage_name(appeal.stage))
    (ctx.update_card if picked else ctx.answer)(done)


@router.staff_button(REASONS)
async def pick_reason(ctx: StaffContext) -> None:
    """`desk:reasons:<number>:<stage>`: the reasons (from bot.toml) to pick for a rejection or a redirection."""
    number, _, stage = ctx.args.partition(":")
    if await actor(ctx, number) is None or stage not in {AppealStage.REJECTED, AppealStage.REDIRECTED}:
        return
    target = AppealStage(stage)
    rows = [
        [Button(shorten(reason, REASON_LABEL), f"{MOVE}:{number}:{stage}:{index}")]
        for index, reason in enumerate(reasons(ctx, target))
    ]
    full = "\n".join(f"{index + 1}. {reason}" for index, reason in enumerate(reasons(ctx, target)))
    ctx.answer(
        ctx.texts("desk.pick_reason", number=number, stage=ctx.services.notices.stage_name(stage), reasons=full), rows
    )


@router.staff_button(EXTEND)
async def extend(ctx: StaffContext) -> None:
    """`desk:extend:<number>`: the reasons to pick from; `desk:extend:<number>:<index>`: the extension. 59-FZ
    (art. 12) leaves it to the head of the body or an official they authorise: managers and admins."""
    number, _, picked = ctx.args.partition(":")
    who = await actor(ctx, number)
    if who is None or ctx.member is None:
        return
    if ctx.member.role not in EXTENDING_ROLES:
        ctx.answer(ctx.texts("desk.extension_not_allowed"))
        return
    reasons = ctx.services.staff.extension_reasons
    if not picked.isdigit():
        rows = [
            [Button(shorten(reason, REASON_LABEL), f"{EXTEND}:{number}:{index}")]
            for index, reason in enumerate(reasons)
        ]
        full = "\n".join(f"{index + 1}. {reason}" for index, reason in enumerate(reasons))
        ctx.answer(ctx.texts("desk.pick_extension", number=number, reasons=full), rows)
        return
    try:
        reason = reasons[int(picked)]
        policy, notices = ctx.services.appeals, ctx.services.notices
        appeal = await extend_resolution(ctx.uow, policy, notices, number, reason, actor=who, now=ctx.services.clock())
    except (DomainError, IndexError) as exc:
        ctx.update_card(ctx.texts("desk.not_possible", reason=str(exc)))
        return
    ctx.update_card(ctx.texts("desk.extended", number=number, due=notices.when(appeal.resolution_due_at)))


@router.staff_button(ROUTE)
async def route(ctx: StaffContext) -> None:
    """`desk:route:<number>`: the departments to pick from; `desk:route:<number>:<index>`: the hand-over."""
    number, _, picked = ctx.args.partition(":")
    who = await actor(ctx, number)
    if who is None:
        return
    departments = ctx.services.appeals.departments
    if not picked.isdigit():
        rows = [[Button(department, f"{ROUTE}:{number}:{index}")] for index, department in enumerate(departments)]
        ctx.answer(ctx.texts("desk.pick_department", number=number), rows)
        return
    try:
        department = departments[int(picked)]
        policy = ctx.services.appeals
        await route_appeal(ctx.uow, policy, number, department, actor=who, now=ctx.services.clock())
    except (DomainError, IndexError) as exc:
        ctx.update_card(ctx.texts("desk.not_possible", reason=str(exc)))
        return
    ctx.update_card(ctx.texts("desk.routed", number=number, department=department))


@router.staff_button(CANNED)
async def canned(ctx: StaffContext) -> None:
    """`desk:canned:<number>`: the canned answers for the appeal's topic; `desk:canned:<number>:<id>`: that one,
    previewed like a reply to the card, to send as it is or to correct first."""
    number, _, answer_id = ctx.args.partition(":")
    if await actor(ctx, number) is None or ctx.member is None:
        return
    appeal = await ctx.uow.appeals.by_number(number)
    if appeal is None:
        return
    if not answer_id:
        offered = ctx.services.canned.for_category(appeal.category)
        if not offered:
            ctx.answer(ctx.texts("desk.no_canned", category=appeal.category))
            return
        rows = [[Button(shorten(answer.title, REASON_LABEL), f"{CANNED}:{number}:{answer.id}")] for answer in offered]
        ctx.answer(ctx.texts("desk.pick_canned", number=number), rows)
        return
    answer = ctx.services.canned.get(answer_id)
    if answer is None:
        ctx.answer(ctx.texts("desk.canned_gone"))
        return
    await preview(ctx, appeal, answer.text)


@router.staff_message()
async def written(ctx: StaffContext) -> None:
    """A message in an appeal's topic. A reply to one of the bot's messages there (the card, the resident's
    words, a preview to correct) is meant for the resident: it is previewed with "Отправить" / "Отмена" first.
    Anything else is an internal note in the appeal's history."""
    chat, _, thread = ctx.incoming.chat_id.partition("/")
    if ctx.member is None or ctx.incoming.on_behalf_of_chat or not thread.isdigit() or not ctx.incoming.text:
        return  # not the bot's business: the General topic, or someone the roster does not know
    card = await ctx.uow.staff_cards.in_thread(chat, int(thread))
    appeal = None if card is None else await ctx.uow.appeals.get(card.appeal_id)
    if card is None or appeal is None:
        return
    if ctx.incoming.reply_to is not None:
        await preview(ctx, appeal, ctx.incoming.text)
        return
    await add_note(
        ctx.uow, appeal, ctx.incoming.text, actor=staff_actor(ctx), now=ctx.services.clock(), visible_to_resident=False
    )


def staff_actor(ctx: StaffContext) -> str:
    assert ctx.member is not None
    return f"staff:{ctx.member.name}"


async def preview(ctx: StaffContext, appeal: Appeal, text: str) -> None:
    """Keep `text` as a draft (an internal note until sent) and show it with the ways to send it."""
    note = await add_note(
        ctx.uow, appeal, text, actor=staff_actor(ctx), now=ctx.services.clock(), visible_to_resident=False
    )
    buttons = [[Button(ctx.texts("desk.send"), f"{SEND}:{note.id}")]]
    if appeal.stage == AppealStage.NEW or AppealStage.ANSWERED in ALLOWED_MOVES[AppealStage(appeal.stage)]:
        buttons.append([Button(ctx.texts("desk.send_answer"), f"{ANSWER}:{note.id}")])
    buttons.append([Button(ctx.texts("desk.send_clarify"), f"{CLARIFY}:{note.id}")])
    buttons.append([Button(ctx.texts("desk.keep"), f"{KEEP}:{note.id}")])
    gaps = ", ".join(GAP.findall(text))
    hint = ctx.texts("desk.fill_gaps", gaps=gaps) if gaps else ctx.texts("desk.how_to_correct")
    ctx.answer(ctx.texts("desk.preview", number=appeal.number, text=text, hint=hint), buttons)


@router.staff_button(SEND, ANSWER, CLARIFY, KEEP)
async def decided(ctx: StaffContext) -> None:
    """The operator decided on a previewed message: send it to the resident as a message or as the official
    answer (the appeal moves to "answered" and the resident is asked to rate it), or keep it as a note."""
    event = await ctx.uow.appeals.event(int(ctx.args)) if ctx.args.isdigit() else None
    appeal = None if event is None or not is_note(event) else await ctx.uow.appeals.get(event.appeal_id)
    if event is None or appeal is None:
        return
    who = await actor(ctx, appeal.number)
    if who is None:
        return
    if event.visible_to_resident:
        ctx.update_card(ctx.texts("desk.already_sent"))
        return
    payload = ctx.incoming.payload or ""
    if payload.startswith(KEEP):
        ctx.update_card(ctx.texts("desk.kept", text=event.comment))
        return
    if gaps := GAP.findall(event.comment or ""):  # the preview stays, so it can be corrected by a reply
        ctx.answer(ctx.texts("desk.gaps_left", gaps=", ".join(gaps)))
        return
    if ctx.services.staff.show_staff_names and ctx.member is not None:
        event.comment = ctx.texts("desk.signed", text=event.comment, name=ctx.member.name)
    if payload.startswith(ANSWER):
        try:
            await answer_appeal(
                ctx.uow, ctx.services.notices, appeal.number, event.comment or "", actor=who, now=ctx.services.clock()
            )
        except DomainError as exc:
            ctx.update_card(ctx.texts("desk.not_possible", reason=str(exc)))
            return
        ctx.update_card(ctx.texts("desk.answered", text=event.comment))
        return
    if payload.startswith(CLARIFY):
        try:
            await ask_clarification(ctx.uow, ctx.services.notices, appeal, event, ctx.services.clock())
        except DomainError as exc:
            ctx.update_card(ctx.texts("desk.not_possible", reason=str(exc)))
            return
        ctx.update_card(ctx.texts("desk.clarification_asked", text=event.comment))
        return
    event.visible_to_resident = True
    notices = ctx.services.notices
    text = ctx.texts("notify.staff_message", number=appeal.number, department=appeal.department, text=event.comment)
    buttons = ((Button(ctx.texts("notify.open_card"), f"{OPEN_APPEAL}:{appeal.number}"),),)
    await notices.to_resident(ctx.uow, appeal, text, buttons, ctx.services.clock())
    ctx.update_card(ctx.texts("desk.sent", text=event.comment))
