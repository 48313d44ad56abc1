"""Assembly: from a validated config to a migrated database, the texts and a dispatcher with every handler."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Callable, Coroutine
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from bot import logs
from bot.config import Config
from bot.core.dispatcher import KNOWN_RESIDENTS, Dispatcher
from bot.core.types import Platform
from bot.desk import StaffBoard, StaffDesk
from bot.faq.journal import FaqJournal
from bot.faq.matcher import Thresholds
from bot.faq.service import FaqService
from bot.notifier import Notifier, RateLimiter, RetryPolicy, SendLimiter, SharedRateLimiter
from bot.scheduler import Jobs, build_scheduler, run_scheduler
from bot.services.appeals import AppealPolicy
from bot.services.canned import CannedAnswers
from bot.services.notices import Notices
from bot.services.staff import Roster
from bot.services.toolbox import Services
from bot.services.working_time import WorkingCalendar
from bot.supervisor import TaskFactory
from bot.texts import Texts
from handlers import all_routers
from storage.db import connection_limit, create_engine, session_factory, upgrade
from storage.models import utcnow
from storage.uow import UnitOfWork

log = logging.getLogger(__name__)


@dataclass
class Application:
    config: Config
    engine: AsyncEngine
    sessions: async_sessionmaker[AsyncSession]
    texts: Texts
    services: Services
    dispatcher: Dispatcher
    notifier: Notifier
    jobs: Jobs
    _limiters: dict[Platform, SendLimiter] = field(default_factory=dict)

    @classmethod
    async def start(cls, config: Config, clock: Callable[[], datetime] = utcnow) -> Application:
        """Load the texts and the FAQ, bring the database schema up to date, and wire the handlers."""
        logs.install()
        settings = config.settings
        texts = load_texts(config)
        faq = FaqService.load(config.faq_path, faq_thresholds(config))
        engine = create_database_engine(config)
        try:
            await upgrade(engine)
        except BaseException:
            await engine.dispose()
            raise
        sessions = session_factory(engine)
        services = Services(
            faq=faq,
            journal=FaqJournal(lambda: UnitOfWork(sessions)),
            appeals=appeal_policy(config),
            notices=notices_for(config, texts),
            limits=settings.appeals,
            roster=Roster(settings.staff.members),
            canned=CannedAnswers(config.answers_path, settings.appeals.categories),
            web_url=settings.web.base_url,
            staff=settings.staff,
            clock=clock,
        )
        delivery = settings.notifications
        notifier = Notifier(
            sessions,
            RetryPolicy(delivery.retry_base_delay, delivery.retry_max_delay, delivery.max_attempts),
            clock=clock,
            # Alone on its database, a restarting bot knows that whatever is still claimed was its own.
            takes_over_claims=settings.bot.workers == 1,
        )
        dispatcher = Dispatcher(
            lambda: UnitOfWork(sessions),
            texts,
            services,
            all_routers(),
            concurrency=connection_limit(engine),
            on_queued_messages=notifier.wake,
            # Other processes would change conversations behind this one's memory.
            remembered=KNOWN_RESIDENTS if settings.bot.workers == 1 else 0,
            claims=notifier,
            per_minute=settings.bot.messages_per_minute,
        )
        log.info(
            "started: %s database, %d FAQ items, %d worker(s) configured",
            engine.dialect.name,
            len(faq.index.items),
            settings.bot.workers,
        )
        retention = timedelta(days=settings.privacy.retention_days)
        jobs = Jobs(sessions, services.appeals, services.notices, settings.ratings, settings.staff, retention)
        return cls(config, engine, sessions, texts, services, dispatcher, notifier, jobs)

    def rate_limiter(self, platform: Platform) -> SendLimiter | None:
        """The sending limits bot.toml sets for a platform (none for the console); one per platform, shared by
        everything that sends there, and with several workers kept in the database, shared by all of them."""
        if platform not in self._limiters:
            limits = self.config.settings.notifications
            if platform is Platform.TELEGRAM:
                group = 60.0 / self.config.settings.staff.group_per_minute
                per_second, chat_interval = limits.telegram_per_second, limits.telegram_chat_interval
            elif platform is Platform.VK:
                per_second, chat_interval, group = limits.vk_per_second, limits.vk_chat_interval, 0.0
            else:
                return None
            if self.config.settings.bot.workers > 1:
                shared = SharedRateLimiter(self.sessions, platform.value, per_second, chat_interval, group)
                self._limiters[platform] = shared
            else:
                self._limiters[platform] = RateLimiter(per_second, chat_interval, group)
        return self._limiters[platform]

    async def summarise(self, interval: float) -> None:
        """A line every `interval` seconds saying what the bot did meanwhile, so a quiet log still shows it is
        alive: updates handled, messages sent, failed tries, and what waits in the outbox."""
        handled, activity = self.dispatcher.handled, dict(self.notifier.activity)
        while True:
            await asyncio.sleep(interval)
            try:
                async with UnitOfWork(self.sessions) as uow:
                    waiting: int | str = await uow.outbox.waiting()
            except Exception as exc:  # an outage: the summary says so, the outage itself is logged elsewhere
                waiting = f"unknown ({type(exc).__name__})"
            now = self.notifier.activity
            log.info(
                "last %g min: %d updates handled, %d messages sent, %d tries failed; %s waiting in the outbox",
                interval / 60,
                self.dispatcher.handled - handled,
                now["sent"] - activity.get("sent", 0),
                now["failed"] - activity.get("failed", 0),
                waiting,
            )
            handled, activity = self.dispatcher.handled, dict(now)

    def background_tasks(self) -> dict[str, TaskFactory]:
        """What runs beside the chat for as long as the bot runs, by name: FAQ reloads and its journal, the outbox, the
        scheduler. Each is a factory, so that a supervisor can start it again after a failure."""
        settings = self.config.settings

        def scheduler() -> Coroutine[Any, Any, None]:
            return run_scheduler(
                build_scheduler(
                    self.jobs,
                    self.notifier,
                    self.services.clock,
                    settings.notifications.sweep_interval,
                    settings.staff.scan_interval,
                )
            )

        return {
            "log summary": lambda: self.summarise(settings.bot.log_summary_interval),
            "faq reload": lambda: self.services.faq.watch(settings.faq.reload_interval),
            "faq journal": self.services.journal.run,
            "outbox": self.notifier.run,
            "scheduler": scheduler,
        }

    def staff_desk(self, board: StaffBoard) -> StaffDesk:
        """The desk that keeps a topic and card per appeal in the staff group ([staff] topics)."""
        staff = self.config.settings.staff
        assert staff.chat_id is not None  # the config requires it with topics
        return StaffDesk(
            self.sessions,
            self.texts,
            ZoneInfo(self.config.settings.deadlines.timezone),
            staff.chat_id,
            board,
            self.rate_limiter(Platform.TELEGRAM),
            clock=self.services.clock,
        )

    async def close(self) -> None:
        """Write what is still queued, then release the database."""
        try:
            await self.services.journal.flush()
        except Exception:
            log.exception("FAQ journal entries could not be written before shutdown")
        await self.engine.dispose()


def load_texts(config: Config) -> Texts:
    return Texts.load(config.texts_path).with_common(authority=config.settings.bot.authority)


def notices_for(config: Config, texts: Texts) -> Notices:
    staff = config.settings.staff
    staff_chat = (staff.platform, staff.chat_id) if staff.platform and staff.chat_id else None
    timezone = ZoneInfo(config.settings.deadlines.timezone)
    return Notices(texts=texts, timezone=timezone, staff_chat=staff_chat, staff_topics=staff.topics)


def appeal_policy(config: Config) -> AppealPolicy:
    appeals, deadlines = config.settings.appeals, config.settings.deadlines
    calendar = WorkingCalendar(
        timezone=ZoneInfo(deadlines.timezone),
        work_days=frozenset(deadlines.work_days),
        day_start=deadlines.day_start,
        day_end=deadlines.day_end,
        holidays=frozenset(deadlines.holidays),
        extra_work_days=frozenset(deadlines.extra_work_days),
        country_calendar=deadlines.production_calendar,
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


@contextlib.asynccontextmanager
async def migrated_database(config: Config) -> AsyncIterator[async_sessionmaker[AsyncSession]]:
    """For a command: the database brought up to date, as sessions; the engine is closed afterwards."""
    engine = create_database_engine(config)
    try:
        await upgrade(engine)
        yield session_factory(engine)
    finally:
        await engine.dispose()


def create_database_engine(config: Config) -> AsyncEngine:
    database = config.settings.database
    password = database.password.get_secret_value() if database.password else None
    return create_engine(config.database_url, password=password, echo=database.echo, pool_size=database.pool_size)
