"""Questions: free text and "Задать вопрос" go to the FAQ engine; answer, suggestions, or an offer to appeal."""

from __future__ import annotations

from bot.core.context import Context
from bot.core.routing import Router
from bot.core.types import Button
from bot.faq.loader import FaqItem
from bot.faq.matcher import Outcome
from bot.faq.normalize import normalize
from handlers.menu import ASK_QUESTION, MAIN_MENU, OPEN_APPEAL, show_menu
from storage.repositories import Miss

router = Router("faq")

WAITING_FOR_QUESTION = "faq:question"
SHOW_ITEM = "faq:item"
MAX_BUTTON_TEXT = 60


@router.button(ASK_QUESTION)
async def ask(ctx: Context) -> None:
    ctx.set_state(WAITING_FOR_QUESTION)
    ctx.answer(ctx.texts("faq.ask"), [[Button(ctx.texts("faq.main_menu"), MAIN_MENU)]])


@router.state(WAITING_FOR_QUESTION)
@router.text()
async def question(ctx: Context) -> None:
    text = (ctx.incoming.text or "").strip()
    if not text:  # a photo or a location where a question was expected
        show_menu(ctx, ctx.texts("errors.unexpected_attachment"))
        return
    ctx.clear_state()
    normalized = normalize(text)
    if not normalized:
        ctx.set_state(WAITING_FOR_QUESTION)
        ctx.answer(ctx.texts("faq.too_vague"), [[Button(ctx.texts("faq.main_menu"), MAIN_MENU)]])
        return
    match = ctx.services.faq.index.match(text)
    if match.outcome is Outcome.ANSWER and match.item is not None:
        show_item(ctx, match.item)
        return
    ctx.services.misses.record(
        Miss(
            text=text,
            normalized=normalized,
            platform=ctx.incoming.platform.value,
            best_item_id=match.best.id if match.best else None,
            best_score=round(match.score, 1),
            asked_at=ctx.services.clock(),
        )
    )
    if match.outcome is Outcome.SUGGEST:
        rows = [[Button(shorten(item.question), f"{SHOW_ITEM}:{item.id}")] for item in match.suggestions]
        rows.append([Button(ctx.texts("faq.nothing_fits"), OPEN_APPEAL)])
        ctx.answer(ctx.texts("faq.suggest"), rows)
    else:
        ctx.answer(
            ctx.texts("faq.none"),
            [
                [Button(ctx.texts("menu.open_appeal"), OPEN_APPEAL)],
                [Button(ctx.texts("faq.ask_another"), ASK_QUESTION), Button(ctx.texts("faq.main_menu"), MAIN_MENU)],
            ],
        )


@router.button(SHOW_ITEM)
async def suggested_item(ctx: Context) -> None:
    item = ctx.services.faq.index.get(ctx.args)
    if item is None:
        ctx.set_state(WAITING_FOR_QUESTION)
        ctx.answer(ctx.texts("faq.item_gone"), [[Button(ctx.texts("faq.main_menu"), MAIN_MENU)]])
        return
    show_item(ctx, item)


def show_item(ctx: Context, item: FaqItem) -> None:
    """The answer in one message, with what to do if it is not the one."""
    ctx.answer(
        ctx.texts("faq.answer", question=item.question, answer=item.answer),
        [
            [Button(ctx.texts("faq.ask_another"), ASK_QUESTION), Button(ctx.texts("menu.open_appeal"), OPEN_APPEAL)],
            [Button(ctx.texts("faq.main_menu"), MAIN_MENU)],
        ],
    )


def shorten(text: str) -> str:
    """A question short enough for a button label."""
    return text if len(text) <= MAX_BUTTON_TEXT else text[: MAX_BUTTON_TEXT - 1].rstrip() + "…"
