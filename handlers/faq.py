"""Questions: free text and "Задать вопрос" go to the FAQ engine (an answer, suggestions, or an offer to appeal);
the FAQ can also be browsed by topic; each answer can be marked helpful or not."""

from __future__ import annotations

from bot.core.context import Context
from bot.core.layout import shorten
from bot.core.routing import Router
from bot.core.types import Button
from bot.faq.loader import FaqItem
from bot.faq.matcher import Outcome
from bot.faq.normalize import normalize
from handlers.menu import ASK_QUESTION, MAIN_MENU, OPEN_APPEAL, show_menu
from handlers.my_appeals import open_typed
from storage.repositories import FaqUse, Miss

router = Router("faq")

WAITING_FOR_QUESTION = "faq:question"
SHOW_ITEM = "faq:item"  # faq:item:<id>
TOPIC = "faq:topic"  # faq:topic:<page>:<topic number>: a page of a topic's questions (a name may not fit 64 bytes)
VOTE = "faq:vote"  # faq:vote:<id>:<1 helpful | 0 not>
MAX_BUTTON_TEXT = 60
PAGE = 4  # questions per page of a topic: with the page turns and the way back, six rows (VK's inline limit)


@router.button(ASK_QUESTION)
async def ask(ctx: Context) -> None:
    """Ask in one's own words, or pick a topic and browse its questions."""
    ctx.set_state(WAITING_FOR_QUESTION)
    buttons = [Button(title(topic), f"{TOPIC}:0:{number}") for number, topic in enumerate(faq_topics(ctx))]
    rows = [buttons[start : start + 2] for start in range(0, len(buttons), 2)]
    ctx.answer(ctx.texts("faq.ask"), [*rows, [Button(ctx.texts("faq.main_menu"), MAIN_MENU)]])


@router.button(TOPIC)
async def topic(ctx: Context) -> None:
    """A page of a topic's questions, each a button to its answer."""
    page_text, _, number = ctx.args.partition(":")
    topics = faq_topics(ctx)
    name = topics[int(number)] if number.isdigit() and int(number) < len(topics) else ""
    items = [item for item in ctx.services.faq.index.items if item.category == name]
    if not items or not page_text.isdigit():
        await ask(ctx)
        return
    pages = (len(items) + PAGE - 1) // PAGE
    page = min(int(page_text), pages - 1)
    shown = items[page * PAGE : (page + 1) * PAGE]
    rows = [[Button(shorten(item.question, MAX_BUTTON_TEXT), f"{SHOW_ITEM}:{item.id}")] for item in shown]
    turns = []
    if page > 0:
        turns.append(Button(ctx.texts("faq.page_back"), f"{TOPIC}:{page - 1}:{number}"))
    if page + 1 < pages:
        turns.append(Button(ctx.texts("faq.page_next"), f"{TOPIC}:{page + 1}:{number}"))
    rows += [turns] if turns else []
    rows.append([Button(ctx.texts("faq.topics"), ASK_QUESTION), Button(ctx.texts("faq.main_menu"), MAIN_MENU)])
    heading = ctx.texts("faq.topic", topic=title(name), page=page + 1, pages=pages)
    ctx.set_state(WAITING_FOR_QUESTION)  # typing a question still works
    ctx.update_card(heading, rows)


def faq_topics(ctx: Context) -> list[str]:
    return sorted({item.category for item in ctx.services.faq.index.items}, key=str.casefold)


def title(topic: str) -> str:
    """A topic as a heading: "благоустройство" -> "Благоустройство", "ЖКХ" stays."""
    return topic[:1].upper() + topic[1:]


@router.state(WAITING_FOR_QUESTION)
@router.text()
async def question(ctx: Context) -> None:
    text = (ctx.incoming.text or "").strip()
    if not text:  # a photo or a location where a question was expected
        show_menu(ctx, ctx.texts("errors.unexpected_attachment"))
        return
    ctx.clear_state()
    if await open_typed(ctx, text):  # "а-2026-123": their appeal's card, not a question
        return
    normalized = normalize(text)
    if not normalized:
        ctx.set_state(WAITING_FOR_QUESTION)
        ctx.answer(ctx.texts("faq.too_vague"), [[Button(ctx.texts("faq.main_menu"), MAIN_MENU)]])
        return
    match = ctx.services.faq.index.match(text)
    if match.outcome is Outcome.ANSWER and match.item is not None:
        show_item(ctx, match.item)
        return
    ctx.services.journal.record(
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
        rows = [
            [Button(shorten(item.question, MAX_BUTTON_TEXT), f"{SHOW_ITEM}:{item.id}")] for item in match.suggestions
        ]
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
    """The answer in one message, with "helpful or not" and what to do if it is not the one."""
    ctx.services.journal.record(FaqUse(item.id, "view", ctx.services.clock()))
    ctx.answer(ctx.texts("faq.answer", question=item.question, answer=item.answer), answer_buttons(ctx, item))


def answer_buttons(ctx: Context, item: FaqItem, rated: bool = False) -> list[list[Button]]:
    votes = [
        Button(ctx.texts("faq.helpful"), f"{VOTE}:{item.id}:1"),
        Button(ctx.texts("faq.unhelpful"), f"{VOTE}:{item.id}:0"),
    ]
    return [
        *([] if rated else [votes]),
        [Button(ctx.texts("faq.ask_another"), ASK_QUESTION), Button(ctx.texts("menu.open_appeal"), OPEN_APPEAL)],
        [Button(ctx.texts("faq.main_menu"), MAIN_MENU)],
    ]


@router.button(VOTE)
async def vote(ctx: Context) -> None:
    """One tap: helpful or not, counted for the item without who tapped; the answer stays, its votes go."""
    item_id, _, helpful = ctx.args.rpartition(":")
    item = ctx.services.faq.index.get(item_id)
    if item is None or helpful not in ("0", "1"):
        return
    ctx.services.journal.record(FaqUse(item.id, "helpful" if helpful == "1" else "unhelpful", ctx.services.clock()))
    thanks = ctx.texts("faq.thanks_helpful" if helpful == "1" else "faq.thanks_unhelpful")
    text = ctx.texts("faq.answer", question=item.question, answer=item.answer)
    ctx.update_card(f"{text}\n\n{thanks}", answer_buttons(ctx, item, rated=True))
