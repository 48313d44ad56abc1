"""Platform-free conversations: every handler the bot has, registered on routers."""

from bot.core.routing import Router
from handlers import appeal_wizard, faq, menu, my_appeals, privacy, rating, staff


def all_routers() -> list[Router]:
    """Every router of the bot, in the order the dispatcher includes them."""
    return [
        menu.router,
        faq.router,
        appeal_wizard.router,
        my_appeals.router,
        rating.router,
        privacy.router,
        staff.router,
    ]
