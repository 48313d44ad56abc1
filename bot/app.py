"""Assembly: from a validated config to a migrated database, the texts and a dispatcher with every handler."""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy.ext.asyncio import AsyncEngine

from bot.config import AppealSettings, Config
from bot.core.dispatcher import Dispatcher
from bot.faq.matcher import Thresholds
from bot.faq.service import FaqService
from bot.services.appeals import AppealPolicy
from bot.services.working_time import WorkingCalendar
from bot.texts import Texts
from handlers import all_routers
from storage.db import connection_limit, create_engine, session_factory, upgrade
from storage.models import utcnow
from storage.uow import UnitOfWork


@dataclass(frozen=True, slots=True)
class Services:
    """What handlers reach beyond the database: services with state of their own, the rules, the clock."""

    faq: FaqService
    appeals: AppealPolicy
    limits: AppealSettings
    clock: Callable[[], datetime] = utcnow


@dataclass
class Application:
    config: Config
    engine: AsyncEngine
    texts: Texts
    services: Services
    dispatcher: Dispatcher

    @classmethod
    async def start(cls, config: Config, clock: Callable[[], datetime] = utcnow) -> Application:
        """Load the texts and the FAQ, bring the database schema up to date, and wire the handlers."""
        settings = config.settings
        texts = Texts.load(config.texts_path).with_common(authority=settings.bot.authority)
        services = Services(
            faq=FaqService.load(config.faq_path, faq_thresholds(config)),
            appeals=appeal_policy(config),
            limits=settings.appeals,
            clock=clock,
        )
        engine = create_database_engine(config)
        try:
            await upgrade(engine)
        except BaseException:
            await engine.dispose()
            raise
        sessions = session_factory(engine)
        dispatcher = Dispatcher(
            lambda: UnitOfWork(sessions), texts, services, all_routers(), concurrency=connection_limit(engine)
        )
        return cls(config=config, engine=engine, texts=texts, services=services, dispatcher=dispatcher)

    def background_tasks(self) -> list[Coroutine[Any, Any, None]]:
        """What runs beside the chat for as long as the bot runs."""
        return [self.services.faq.watch(self.config.settings.faq.reload_interval)]

    async def close(self) -> None:
        await self.engine.dispose()


def appeal_policy(config: Config) -> AppealPolicy:
    appeals, deadlines = config.settings.appeals, config.settings.deadlines
    calendar = WorkingCalendar(
        timezone=ZoneInfo(deadlines.timezone),
        work_days=frozenset(deadlines.work_days),
        day_start=deadlines.day_start,
        day_end=deadlines.day_end,
        holidays=frozenset(deadlines.holidays),
        extra_work_days=frozenset(deadlines.extra_work_days),
    )
    return AppealPolicy(
        categories=appeals.categories,
        departments=appeals.departments,
        calendar=calendar,
        first_response_hours=deadlines.first_response_hours,
        resolution_days=deadlines.resolution_days,
    )


def faq_thresholds(config: Config) -> Thresholds:
    faq = config.settings.faq
    return Thresholds(
        answer=faq.answer_threshold,
        margin=faq.answer_margin,
        suggest=faq.suggest_threshold,
        max_suggestions=faq.max_suggestions,
    )


def create_database_engine(config: Config) -> AsyncEngine:
    database = config.settings.database
    password = database.password.get_secret_value() if database.password else None
    return create_engine(config.database_url, password=password, echo=database.echo, pool_size=database.pool_size)
