"""Platform-free conversations: every handler the bot has, registered on routers."""

from bot.core.routing import Router
from handlers import faq, menu


def all_routers() -> list[Router]:
    """Every router of the bot, in the order the dispatcher includes them."""
    return [menu.router, faq.router]
