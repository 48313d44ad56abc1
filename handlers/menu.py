"""The main menu: greeting, help, cancel, honest notes on features still to come, and the polite fallback."""

from __future__ import annotations

from bot.core.context import KEPT, Context
from bot.core.routing import Router
from bot.core.types import Button, Keyboard
from bot.texts import Texts

router = Router("menu")

ASK_QUESTION = "menu:ask"
OPEN_APPEAL = "menu:appeal"
MY_APPEALS = "menu:my"
HELP = "menu:help"
MAIN_MENU = "menu:main"
APPEAL_DRAFT = f"{KEPT}appeal"  # a half-filled appeal the resident left: offered to continue, never dropped silently


router.label("menu.ask_question", ASK_QUESTION)
router.label("menu.open_appeal", OPEN_APPEAL)
router.label("menu.my_appeals", MY_APPEALS)
router.label("menu.help", HELP)
router.label("faq.main_menu", MAIN_MENU)


def command_menu(texts: Texts) -> dict[str, str]:
    """The commands a messenger lists beside the input field, with their descriptions."""
    return {
        "start": texts("commands.start"),
        "menu": texts("commands.menu"),
        "help": texts("commands.help"),
        "cancel": texts("commands.cancel"),
        "mydata": texts("commands.mydata"),
        "forget": texts("commands.forget"),
    }


def main_menu(texts: Texts) -> Keyboard:
    return (
        (Button(texts("menu.ask_question"), ASK_QUESTION), Button(texts("menu.open_appeal"), OPEN_APPEAL)),
        (Button(texts("menu.my_appeals"), MY_APPEALS), Button(texts("menu.help"), HELP)),
    )


def show_menu(ctx: Context, text: str) -> None:
    """The main menu, under `text`; a half-filled appeal the resident left is mentioned, so it is not lost."""
    if ctx.data.get(APPEAL_DRAFT):
        text = f"{text}\n\n{ctx.texts('appeal.draft_kept')}"
    ctx.answer(text, main_menu(ctx.texts))


@router.command("start")
async def start(ctx: Context) -> None:
    ctx.clear_state()
    name = ctx.incoming.display_name
    greeting = ctx.texts("menu.greeting", name=name) if name else ctx.texts("menu.greeting_anonymous")
    show_menu(ctx, greeting)


@router.command("menu")
@router.button(MAIN_MENU)
async def menu(ctx: Context) -> None:
    show_menu(ctx, ctx.texts("menu.prompt"))


@router.command("help")
@router.button(HELP)
async def help_(ctx: Context) -> None:
    show_menu(ctx, ctx.texts("help.text"))


@router.command("cancel")
async def cancel(ctx: Context) -> None:
    """/cancel, or "Отмена" typed at any step: leave the dialog, and drop a kept draft too (it was asked for)."""
    was_in_dialog = ctx.state is not None or bool(ctx.data)
    ctx.clear_state(drafts_too=True)
    show_menu(ctx, ctx.texts("cancel.done" if was_in_dialog else "cancel.nothing"))


@router.otherwise()
async def not_understood(ctx: Context) -> None:
    incoming = ctx.incoming
    if incoming.command is not None:
        key = "errors.unknown_command"
    elif incoming.payload is not None:
        key = "errors.stale_button"
    elif incoming.photos or incoming.location is not None:
        key = "errors.unexpected_attachment"
    else:
        key = "errors.not_understood"
    show_menu(ctx, ctx.texts(key))
