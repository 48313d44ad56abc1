"""Periodic jobs: outbox sweep, rating reminders, closing answered appeals, deadline alerts to staff.

APScheduler only ticks (an in-memory AsyncIOScheduler); what is due lives in our tables, and each job claims
its work row by row (see `ReminderRepository.claim`), so several bot processes can run the same jobs at once.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from apscheduler.schedulers.asyncio import AsyncIOScheduler
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.config import RatingSettings, StaffSettings
from bot.notifier import Notifier
from bot.services.appeal_stages import AppealStage
from bot.services.appeals import OPEN_STAGES, AppealPolicy, move_appeal, overdue_appeals
from bot.services.notices import Notices
from bot.services.privacy import expire
from storage.models import Appeal
from storage.uow import UnitOfWork

log = logging.getLogger(__name__)
SYSTEM_ACTOR = "system"
OVERDUE_ALERTS = ("first_response_overdue", "resolution_overdue")  # the alerts' kinds, as `_pending_deadlines` names
LOOKAHEAD = timedelta(days=7)  # deadlines further away than this are never "soon"
KEEP_UPDATE_IDS = timedelta(days=2)  # Telegram re-delivers an update for at most 24 hours
KEEP_REPLIES = timedelta(days=7)  # delivered replies, for a support question about what the bot said
ALERT_TEXTS = {
    "first_response_soon": "staff.first_response_soon",
    "first_response_overdue": "staff.first_response_overdue",
    "resolution_soon": "staff.resolution_soon",
    "resolution_overdue": "staff.resolution_overdue",
}


@dataclass(frozen=True, slots=True)
class Jobs:
    """The periodic work, each method one pass at the moment `now`; returns how many appeals it acted on."""

    sessions: async_sessionmaker[AsyncSession]
    policy: AppealPolicy
    notices: Notices
    ratings: RatingSettings
    staff: StaffSettings
    retention: timedelta = timedelta(days=1825)  # personal data of finished appeals ([privacy] of bot.toml)

    async def remind_to_rate(self, now: datetime) -> int:
        done = 0
        async with UnitOfWork(self.sessions) as uow:
            for appeal in await uow.appeals.answered_before(now - timedelta(hours=self.ratings.remind_after_hours)):
                if await self._unrated(uow, appeal) and await uow.reminders.claim(
                    appeal.id, _round("rate", appeal), now
                ):
                    await self.notices.rating_reminder(uow, appeal, now)
                    done += 1
            await uow.commit()
        return done

    async def close_answered(self, now: datetime) -> int:
        """Close appeals left answered past the limit: unrated, or rated poorly without asking to reopen."""
        done = 0
        async with UnitOfWork(self.sessions) as uow:
            for appeal in await uow.appeals.answered_before(now - timedelta(hours=self.ratings.close_after_hours)):
                if await uow.reminders.claim(appeal.id, _round("close", appeal), now):
                    how = "unrated" if await self._unrated(uow, appeal) else "rated"
                    await move_appeal(
                        uow,
                        self.notices,
                        appeal.number,
                        AppealStage.CLOSED,
                        actor=SYSTEM_ACTOR,
                        now=now,
                        comment=f"closed {how} {self.ratings.close_after_hours:g} h after the answer",
                        visible_to_resident=False,
                    )
                    done += 1
            await uow.commit()
        return done

    async def digest(self, now: datetime) -> int:
        """The daily digest to the staff chat: how many appeals are overdue in each department, with their
        numbers. Nothing is sent on a day with none."""
        async with UnitOfWork(self.sessions) as uow:
            overdue = await overdue_appeals(uow, now)
            if not overdue:
                return 0
            by_department: dict[str, list[str]] = {}
            for appeal in overdue:
                by_department.setdefault(appeal.department, []).append(appeal.number)
            lines = "\n".join(
                self.notices.texts(
                    "desk.digest_line", department=department, count=len(numbers), numbers=", ".join(numbers)
                )
                for department, numbers in sorted(by_department.items())
            )
            await self.notices.to_staff(uow, "desk.digest", now, None, count=len(overdue), lines=lines)
            await uow.commit()
        return len(overdue)

    async def chase_clarifications(self, now: datetime) -> int:
        """A clarification request unanswered for `[staff] clarify_days`: one reminder; as long again, and the
        appeal is closed as unclarified (the practice of regional portals)."""
        wait = timedelta(days=self.staff.clarify_days)
        done = 0
        async with UnitOfWork(self.sessions) as uow:
            for appeal in await uow.appeals.awaiting_clarification_since(now - wait):
                asked = appeal.clarification_asked_at
                assert asked is not None
                round_ = f"{asked:%Y%m%d%H%M%S}"
                if now - asked >= 2 * wait and await uow.reminders.claim(appeal.id, f"unclarified:{round_}", now):
                    appeal.clarification_asked_at = None
                    reason = self.notices.texts("notify.unclarified")
                    await move_appeal(
                        uow,
                        self.notices,
                        appeal.number,
                        AppealStage.REJECTED,
                        actor=SYSTEM_ACTOR,
                        now=now,
                        comment=reason,
                    )
                    done += 1
                elif await uow.reminders.claim(appeal.id, f"clarify:{round_}", now):
                    await self.notices.clarification_reminder(uow, appeal, now)
                    done += 1
            await uow.commit()
        return done

    async def alert_deadlines(self, now: datetime) -> int:
        """Warn staff once before each deadline of an open appeal, and once when it has passed."""
        done = 0
        calendar, warn = self.policy.calendar, self.staff.warn_before_hours
        async with UnitOfWork(self.sessions) as uow:
            open_stages = [stage.value for stage in OPEN_STAGES]
            alerts: list[tuple[Appeal, str, datetime]] = []
            for appeal in await uow.appeals.with_deadline_between(now, now + LOOKAHEAD, open_stages):
                alerts += [(appeal, f"{kind}_soon", due) for kind, due in _pending_deadlines(appeal)
                           if due >= now and calendar.working_hours_between(now, due) <= warn]  # fmt: skip
            # Those already alerted of both are left in the database: a backlog is read once, not on every pass.
            for appeal in await overdue_appeals(uow, now, unless_reminded=OVERDUE_ALERTS):
                alerts += [(appeal, f"{kind}_overdue", due) for kind, due in _pending_deadlines(appeal) if due < now]
            recorded = await uow.reminders.recorded([appeal.id for appeal, _, _ in alerts])
            for appeal, kind, due in alerts:
                if (appeal.id, kind) not in recorded:
                    done += await self._alert(uow, appeal, kind, due, now)
            await uow.commit()
        return done

    async def forget_old(self, now: datetime) -> int:
        """Drop what is only kept for a while: the ids of handled updates, replies long delivered, and personal
        data past the retention period (a batch a pass); returns how many appeals and residents were erased."""
        async with UnitOfWork(self.sessions) as uow:
            await uow.processed_updates.forget_before(now - KEEP_UPDATE_IDS)
            await uow.outbox.forget_replies_before(now - KEEP_REPLIES)
            erased = await expire(uow, now, self.retention)
            await uow.commit()
        return erased

    async def _alert(self, uow: UnitOfWork, appeal: Appeal, kind: str, due: datetime, now: datetime) -> int:
        if not await uow.reminders.claim(appeal.id, kind, now):
            return 0
        await self.notices.to_staff(
            uow,
            ALERT_TEXTS[kind],
            now,
            appeal,
            number=appeal.number,
            department=appeal.department,
            due=self.notices.when(due),
        )
        return 1

    async def _unrated(self, uow: UnitOfWork, appeal: Appeal) -> bool:
        return await uow.ratings.latest(appeal.id, since=appeal.answered_at) is None


def _pending_deadlines(appeal: Appeal) -> list[tuple[str, datetime]]:
    deadlines = []
    waiting_for_resident = appeal.clarification_asked_at is not None  # the first-response clock stands still
    if appeal.first_response_at is None and appeal.first_response_due_at is not None and not waiting_for_resident:
        deadlines.append(("first_response", appeal.first_response_due_at))
    if AppealStage(appeal.stage) in OPEN_STAGES and appeal.resolution_due_at is not None:
        deadlines.append(("resolution", appeal.resolution_due_at))
    return deadlines


def _round(kind: str, appeal: Appeal) -> str:
    """A reminder kind per answer: after a reopening and a new answer, the resident is reminded again."""
    answered = appeal.answered_at or datetime.min.replace(tzinfo=UTC)
    return f"{kind}:{answered:%Y%m%d%H%M%S}"


def build_scheduler(
    jobs: Jobs, notifier: Notifier, clock: Callable[[], datetime], sweep_interval: float, scan_interval: float
) -> AsyncIOScheduler:
    """An in-memory scheduler ticking the outbox sweep and the scans, and the staff's daily digest; each job runs
    one instance at a time."""
    scheduler = AsyncIOScheduler(timezone=UTC)
    digest_at = jobs.staff.digest_at
    scheduler.add_job(
        _logged("staff_digest", jobs.digest, clock, notifier),
        "cron",
        hour=digest_at.hour,
        minute=digest_at.minute,
        timezone=jobs.notices.timezone,
        id="staff_digest",
        name="staff_digest",
        max_instances=1,
        coalesce=True,
    )
    scheduler.add_job(notifier.wake, "interval", seconds=sweep_interval, id="outbox_sweep", name="outbox_sweep")
    scans: list[tuple[str, Callable[[datetime], Awaitable[int]]]] = [
        ("rating_reminders", jobs.remind_to_rate),
        ("close_answered", jobs.close_answered),
        ("deadline_alerts", jobs.alert_deadlines),
        ("clarifications", jobs.chase_clarifications),
        ("forget_old", jobs.forget_old),
    ]
    for name, scan in scans:
        scheduler.add_job(
            _logged(name, scan, clock, notifier),
            "interval",
            seconds=scan_interval,
            id=name,
            name=name,
            max_instances=1,
            coalesce=True,
            next_run_time=clock(),
        )
    return scheduler


def _logged(
    name: str, scan: Callable[[datetime], Awaitable[int]], clock: Callable[[], datetime], notifier: Notifier
) -> Callable[[], Awaitable[None]]:
    async def run() -> None:
        try:
            done = await scan(clock())
        except asyncio.CancelledError:  # the bot is stopping: its transaction is rolled back, nothing is lost
            log.info("scheduled job %s stopped by shutdown; it runs again after the next start", name)
            return
        except Exception:
            log.exception("scheduled job %s failed; it runs again at its next tick", name)
            return
        if done:
            log.info("scheduled job %s acted on %d appeal(s)", name, done)
            notifier.wake()

    run.__name__ = run.__qualname__ = name  # what APScheduler calls the job
    return run


async def run_scheduler(scheduler: AsyncIOScheduler) -> None:
    """Run the scheduler until cancelled."""
    scheduler.start()
    try:
        await asyncio.Event().wait()
    finally:
        scheduler.shutdown(wait=False)
