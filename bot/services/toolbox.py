"""What handlers reach beyond the database: the services with state of their own, the rules, the clock."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime

from bot.config import AppealSettings, StaffSettings
from bot.faq.journal import FaqJournal
from bot.faq.service import FaqService
from bot.services.appeals import AppealPolicy
from bot.services.canned import CannedAnswers
from bot.services.notices import Notices
from bot.services.staff import Roster
from storage.models import utcnow


@dataclass(frozen=True, slots=True)
class Services:
    """Given to every handler in its context; assembled once by `bot.app`."""

    faq: FaqService
    journal: FaqJournal
    appeals: AppealPolicy
    notices: Notices
    limits: AppealSettings
    roster: Roster = field(default_factory=Roster)
    canned: CannedAnswers = field(default_factory=CannedAnswers)  # none, unless the app names the folder
    staff: StaffSettings = field(default_factory=StaffSettings)
    clock: Callable[[], datetime] = utcnow
    web_url: str = "http://127.0.0.1:8080"  # where staff open the dashboard (sign-in links)
