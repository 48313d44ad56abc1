"""Rating an answer: buttons 1-5 under the answer, a comment, and for a poor rating the choice to reopen."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import datetime

from bot.core.context import Context
from bot.core.routing import Router
from bot.core.types import Button
from bot.services.notices import RATE, Notices
from bot.services.ratings import CLOSES, RatingNotAllowed, close, comment, rate, reopen
from handlers.menu import show_menu
from storage.models import Appeal
from storage.uow import UnitOfWork

router = Router("rating")

REOPEN, CLOSE, SKIP = "rate_reopen", "rate_close", "rate_skip"  # :<appeal number> for the first two
WAITING_FOR_COMMENT = "rating:comment"
Decision = Callable[[UnitOfWork, Notices, int, str, datetime], Awaitable[Appeal]]


def reopen_or_close(ctx: Context, number: str) -> list[list[Button]]:
    return [
        [
            Button(ctx.texts("rating.reopen"), f"{REOPEN}:{number}"),
            Button(ctx.texts("rating.close"), f"{CLOSE}:{number}"),
        ]
    ]


@router.button(RATE)
async def rated(ctx: Context) -> None:
    number, _, score_text = ctx.args.rpartition(":")
    if not score_text.isdigit():
        show_menu(ctx, ctx.texts("rating.not_available"))
        return
    score = int(score_text)
    try:
        await rate(ctx.uow, ctx.services.notices, await ctx.resident_id(), number, score, ctx.services.clock())
    except RatingNotAllowed:
        show_menu(ctx, ctx.texts("rating.not_available"))
        return
    if score == 5:
        show_menu(ctx, ctx.texts("rating.thanks", number=number))
        return
    ctx.set_state(WAITING_FOR_COMMENT, number=number, score=score)
    if score >= CLOSES:
        ctx.answer(ctx.texts("rating.thanks_ask_comment"), [[Button(ctx.texts("rating.skip"), SKIP)]])
    else:
        ctx.answer(ctx.texts("rating.bad"), reopen_or_close(ctx, number))


@router.state(WAITING_FOR_COMMENT)
async def commented(ctx: Context) -> None:
    number, score = ctx.data.get("number", ""), int(ctx.data.get("score", 0))
    text = (ctx.incoming.text or "").strip()
    if not text:
        ctx.answer(ctx.texts("rating.thanks_ask_comment"), [[Button(ctx.texts("rating.skip"), SKIP)]])
        return
    await comment(ctx.uow, await ctx.resident_id(), number, text[:2000])
    ctx.clear_state()
    if score >= CLOSES:
        show_menu(ctx, ctx.texts("rating.comment_saved"))
    else:
        ctx.answer(ctx.texts("rating.comment_saved"), reopen_or_close(ctx, number))


@router.button(REOPEN)
async def reopen_pressed(ctx: Context) -> None:
    await decide(ctx, reopen, "rating.reopened")


@router.button(CLOSE)
async def close_pressed(ctx: Context) -> None:
    await decide(ctx, close, "rating.closed")


async def decide(ctx: Context, action: Decision, done_key: str) -> None:
    """Reopen or close the appeal numbered in the button, and say so."""
    number = ctx.args
    ctx.clear_state()
    try:
        await action(ctx.uow, ctx.services.notices, await ctx.resident_id(), number, ctx.services.clock())
    except RatingNotAllowed:
        show_menu(ctx, ctx.texts("rating.not_available"))
        return
    show_menu(ctx, ctx.texts(done_key, number=number))


@router.button(SKIP)
async def skipped(ctx: Context) -> None:
    ctx.clear_state()
    show_menu(ctx, ctx.texts("menu.prompt"))
