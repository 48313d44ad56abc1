"""A resident's data rights (152-FZ): /mydata shows everything stored about them, /forget erases it after a
confirmation."""

from __future__ import annotations

from datetime import datetime

from bot.core.context import Context
from bot.core.routing import Router
from bot.core.types import Button
from bot.services.appeal_stages import RESIDENT_ACTOR, AppealStage
from bot.services.appeals import is_note
from bot.services.notices import STAGE_TEXTS
from bot.services.privacy import forget, stored_data
from bot.texts import local_time
from handlers.menu import MAIN_MENU, show_menu
from storage.models import Appeal

router = Router("privacy")

FORGET = "privacy:forget"  # privacy:forget:yes erases; privacy:forget:no keeps everything


@router.command("mydata")
async def my_data(ctx: Context) -> None:
    found = None if ctx.resident.id is None else await stored_data(ctx.uow, ctx.resident.id)
    if found is None:
        show_menu(ctx, ctx.texts("privacy.nothing"))
        return
    resident = found.resident
    profile = ctx.texts(
        "privacy.profile",
        platform=resident.platform,
        user_id=resident.platform_user_id,
        name=resident.display_name or "—",
        consent=local(ctx, resident.consent_given_at),
        created=local(ctx, resident.created_at),
        seen=local(ctx, resident.last_seen_at),
    )
    parts = [profile, *(appeal_data(ctx, appeal) for appeal in found.appeals)]
    if not found.appeals:
        parts.append(ctx.texts("privacy.no_appeals"))
    parts.append(ctx.texts("privacy.how_to_forget"))
    ctx.answer("\n\n".join(parts), [[Button(ctx.texts("faq.main_menu"), MAIN_MENU)]])


def local(ctx: Context, moment: datetime | None) -> str:
    return local_time(moment, ctx.services.appeals.calendar.timezone)


def appeal_data(ctx: Context, appeal: Appeal) -> str:
    """An appeal as stored: what the resident gave, what they added, how they rated the answers."""
    point = f"{appeal.latitude:.5f}, {appeal.longitude:.5f}" if appeal.latitude is not None else "—"
    own_words = [
        f"{local(ctx, event.created_at)}: {event.comment}"
        for event in appeal.events
        if event.actor == RESIDENT_ACTOR and is_note(event) and event.comment
    ]
    ratings = [f"{rating.score}{f' — {rating.comment}' if rating.comment else ''}" for rating in appeal.ratings]
    return ctx.texts(
        "privacy.appeal",
        number=appeal.number,
        created=local(ctx, appeal.created_at),
        stage=ctx.texts(STAGE_TEXTS[AppealStage(appeal.stage)]),
        category=appeal.category,
        description=appeal.description,
        address=appeal.address or "—",
        point=point,
        phone=appeal.phone or "—",
        photos=len(appeal.attachments),
        additions="\n".join(own_words) or "—",
        ratings="; ".join(ratings) or "—",
    )


@router.command("forget")
async def ask_to_forget(ctx: Context) -> None:
    if ctx.resident.id is None:
        show_menu(ctx, ctx.texts("privacy.nothing"))
        return
    buttons = [
        [Button(ctx.texts("privacy.forget_yes"), f"{FORGET}:yes")],
        [Button(ctx.texts("privacy.forget_no"), f"{FORGET}:no")],
    ]
    ctx.answer(ctx.texts("privacy.forget_confirm"), buttons)


@router.button(FORGET)
async def forget_decided(ctx: Context) -> None:
    if ctx.args != "yes" or ctx.resident.id is None:
        ctx.update_card(ctx.texts("privacy.kept"), [[Button(ctx.texts("faq.main_menu"), MAIN_MENU)]])
        return
    appeals = await forget(ctx.uow, ctx.resident.id, ctx.services.clock())
    ctx.forget_resident()
    ctx.update_card(ctx.texts("privacy.forgotten", appeals=appeals))
