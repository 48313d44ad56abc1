"""The staff group: actions on an appeal's card, each by a member of the roster, through the same services as
`python -m bot appeals`. The card itself is brought up to date by the staff desk, whoever changed the appeal."""

from __future__ import annotations

from bot.core.context import StaffContext
from bot.core.routing import Router
from bot.services.appeal_stages import AppealStage, DomainError
from bot.services.appeals import move_appeal
from bot.services.staff import MOVE

router = Router("staff")


def actor(ctx: StaffContext) -> str | None:
    """Who acts, as the appeal's history records it; None (with a refusal queued) for anyone not on the roster,
    and for an anonymous group admin, whose person nobody can tell."""
    if ctx.member is None or ctx.incoming.on_behalf_of_chat:
        ctx.answer(ctx.texts("desk.not_allowed"))
        return None
    return f"staff:{ctx.member.name}"


@router.staff_button(MOVE)
async def move(ctx: StaffContext) -> None:
    """`desk:move:<number>:<stage>`: one press on the card."""
    who = actor(ctx)
    number, _, stage = ctx.args.rpartition(":")
    if who is None:
        return
    try:
        target = AppealStage(stage)
        appeal = await move_appeal(ctx.uow, ctx.services.notices, number, target, actor=who, now=ctx.services.clock())
    except (DomainError, ValueError) as exc:
        ctx.answer(ctx.texts("desk.not_possible", reason=str(exc)))
        return
    ctx.answer(ctx.texts("desk.done", number=appeal.number, stage=ctx.services.notices.stage_name(appeal.stage)))
