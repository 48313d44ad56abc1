"""The managers' dashboard at /dashboard, served by the bot's web server: charts of how fast and how well appeals
are answered, the list of appeals with filters, each appeal's card, exports. Staff sign in with a one-time link
(`python -m bot dashboard link`); a session cookie then, checked on every request; roles decide what is seen."""

from __future__ import annotations

import asyncio
import re
import secrets
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import jinja2
import pygal
from aiohttp import web
from pygal.style import LightStyle
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot import export
from bot.config import StaffMember
from bot.faq.improve import MIN_VOTES, item_stats, least_helpful
from bot.faq.loader import FaqItem
from bot.faq.service import FaqService
from bot.media import MediaStore
from bot.report import Period, Row, period, tables
from bot.services.api_tokens import digest
from bot.services.appeal_stages import AppealStage
from bot.services.appeals import AppealPolicy, is_note, is_overdue, overdue_at, typed_number
from bot.services.notices import STAGE_TEXTS
from bot.services.staff import Roster
from bot.texts import Texts, local_time
from storage.models import Appeal, WebSession, utcnow
from storage.repositories import AppealFilter
from storage.uow import UnitOfWork

PREFIX = "/dashboard"
COOKIE = "priemnaya_session"
SESSION_LIFETIME = timedelta(hours=12)
PRESETS = (("30 дней", 30), ("90 дней", 90), ("год", 365))  # the overview's quick periods, up to today
FAIR_RANK = 5  # appeals a department needs in the period to be ranked
MONTHS_AFTER_DAYS = 183  # a longer period is charted by months, not weeks
LIST_PAGE = 100  # appeals on a page of the list, newest first
CONSOLE_ADMIN = StaffMember(telegram_id=1, name="Администратор (консоль)", role="admin")  # no roster configured
SEES_PHONES = frozenset({"operator", "manager", "admin"})


SCRIPT = re.compile(r"<script.*?</script>", re.DOTALL)
TEMPLATES = jinja2.Environment(
    loader=jinja2.PackageLoader("bot", "templates"), autoescape=True, trim_blocks=True, lstrip_blocks=True
)


@dataclass(frozen=True, slots=True)
class Visitor:
    member: StaffMember
    csrf: str

    @property
    def departments(self) -> list[str] | None:
        """The departments whose appeals they see; None: all."""
        return list(self.member.departments) if self.member.role == "department" else None


Page = Callable[[web.Request, Visitor, UnitOfWork], Awaitable[web.StreamResponse]]


class Dashboard:
    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        texts: Texts,
        policy: AppealPolicy,
        roster: Roster,
        authority: str,
        store: MediaStore | None = None,
        clock: Callable[[], datetime] = utcnow,
        base_url: str = "",
        faq: FaqService | None = None,
    ) -> None:
        self._sessions = sessions
        self._texts = texts
        self._policy = policy
        self._roster = roster
        self._authority = authority
        self._store = store
        self._clock = clock
        self._media_url = media_url(base_url)
        self._faq = faq  # for the questions of the least helpful answers; its index follows the files' reloads
        self._templates = TEMPLATES

    def routes(self) -> list[web.RouteDef]:
        return [
            web.get(f"{PREFIX}/login", self.login),
            web.post(f"{PREFIX}/logout", self._signed_in(self.logout)),
            web.get(f"{PREFIX}/", self._signed_in(self.overview)),
            web.get(f"{PREFIX}/appeals", self._signed_in(self.appeals)),
            web.get(PREFIX + "/appeals/{number}", self._signed_in(self.appeal)),
            web.get(PREFIX + "/media/{path:.+}", self._signed_in(self.media)),
            web.get(PREFIX + "/export.{kind:csv|xlsx}", self._signed_in(self.export)),
        ]

    # Signing in

    def _member(self, member_id: int) -> StaffMember | None:
        members = list(self._roster.members)
        if not members:
            return CONSOLE_ADMIN if member_id == CONSOLE_ADMIN.telegram_id else None
        return self._roster.member("telegram", str(member_id))

    async def login(self, request: web.Request) -> web.StreamResponse:
        token = request.query.get("token", "")
        async with UnitOfWork(self._sessions) as uow:
            member_id = await uow.web.use_link(digest(token), self._clock()) if token else None
            member = None if member_id is None else self._member(member_id)
            if member is None:
                await uow.commit()
                return self._page("message.html", None, status=403, heading="Ссылка не действует",
                                  text="Ссылка устарела, уже использована или неверна. Получите новую: "
                                       "python -m bot dashboard link --member ВАШ_TELEGRAM_ID")  # fmt: skip
            session, csrf = secrets.token_urlsafe(32), secrets.token_urlsafe(24)
            uow.web.add(WebSession(session_hash=digest(session), member_id=member.telegram_id, csrf=csrf,
                                   expires_at=self._clock() + SESSION_LIFETIME))  # fmt: skip
            await uow.commit()
        response = web.Response(status=303, headers={"Location": f"{PREFIX}/"})
        response.set_cookie(COOKIE, session, httponly=True, samesite="Strict", path=PREFIX,
                            max_age=int(SESSION_LIFETIME.total_seconds()), secure=request.secure)  # fmt: skip
        return response

    def _signed_in(self, page: Page) -> Callable[[web.Request], Awaitable[web.StreamResponse]]:
        """Every page checks the session; a form (POST) also its CSRF token."""

        async def checked(request: web.Request) -> web.StreamResponse:
            cookie = request.cookies.get(COOKIE, "")
            async with UnitOfWork(self._sessions) as uow:
                session = await uow.web.session(digest(cookie), self._clock()) if cookie else None
                member = None if session is None else self._member(session.member_id)
                if session is None or member is None:
                    return self._page("message.html", None, status=401, heading="Нужно войти",
                                      text="Получите ссылку для входа: python -m bot dashboard link --member "
                                           "ВАШ_TELEGRAM_ID")  # fmt: skip
                if request.method == "POST":
                    form = await request.post()
                    if not secrets.compare_digest(str(form.get("csrf", "")), session.csrf):
                        return self._page("message.html", None, status=403, heading="Форма устарела",
                                          text="Обновите страницу и попробуйте ещё раз.")  # fmt: skip
                return await page(request, Visitor(member, session.csrf), uow)

        return checked

    async def logout(self, request: web.Request, visitor: Visitor, uow: UnitOfWork) -> web.StreamResponse:
        await uow.web.end(digest(request.cookies.get(COOKIE, "")))
        await uow.commit()
        response = self._page("message.html", None, heading="Вы вышли", text="Сессия завершена.")
        response.del_cookie(COOKIE, path=PREFIX)
        return response

    # Pages

    async def overview(self, request: web.Request, visitor: Visitor, uow: UnitOfWork) -> web.StreamResponse:
        faq = self._faq.index.items if self._faq is not None else ()
        values = await overview_values(uow, self._policy, self._period(request), visitor.departments, faq)
        today = self._clock().astimezone(self._policy.calendar.timezone).date()
        presets = [(label, (today - timedelta(days=days - 1)).isoformat()) for label, days in PRESETS]
        return self._page("overview.html", visitor, presets=presets, **values)

    async def appeals(self, request: web.Request, visitor: Visitor, uow: UnitOfWork) -> web.StreamResponse:
        query = request.query
        now = self._clock()
        stage = query.get("stage") if query.get("stage") in {s.value for s in AppealStage} else None
        days = self._period(request) if query.get("from") or query.get("to") else None
        where = AppealFilter(
            stages=[stage] if stage else None,
            categories=[query["category"]] if query.get("category") else None,
            department=query.get("department") or None,
            departments=visitor.departments,
            created_between=(days.start, days.end) if days else None,
            text=query.get("q", "").strip() or None,
            overdue=overdue_at(now) if query.get("overdue") else None,
        )
        total = await uow.appeals.count(where)
        pages = max(1, -(-total // LIST_PAGE))
        page = _page_number(query.get("page", ""), pages)
        found = await uow.appeals.search(where, limit=LIST_PAGE, offset=(page - 1) * LIST_PAGE, newest_first=True)
        zone = self._policy.calendar.timezone
        rows = [
            {
                "number": a.number,
                "stage": self._texts(STAGE_TEXTS[AppealStage(a.stage)]),
                "category": a.category,
                "department": a.department,
                "created": f"{a.created_at.astimezone(zone):%d.%m.%Y %H:%M}",
                "due": f"{a.resolution_due_at.astimezone(zone):%d.%m.%Y}" if a.resolution_due_at else "",
                "overdue": is_overdue(a, now),
            }
            for a in found
        ]
        filters = {
            "stage": stage or "",
            "category": query.get("category", ""),
            "department": query.get("department", ""),
            "overdue": bool(query.get("overdue")),
            "q": query.get("q", ""),
            "start": days.first.isoformat() if days else "",
            "end": days.last.isoformat() if days else "",
        }
        return self._page(
            "appeals.html",
            visitor,
            appeals=rows,
            total=total,
            first=(page - 1) * LIST_PAGE + 1,
            previous=str(request.rel_url.update_query(page=page - 1)) if page > 1 else None,
            next=str(request.rel_url.update_query(page=page + 1)) if page < pages else None,
            filters=filters,
            stages=[(s.value, self._texts(STAGE_TEXTS[s])) for s in AppealStage],
            categories=list(self._policy.categories),
            departments=visitor.departments or list(self._policy.departments),
        )

    async def appeal(self, request: web.Request, visitor: Visitor, uow: UnitOfWork) -> web.StreamResponse:
        appeal = await self._visible(request.match_info["number"], visitor, uow)
        if appeal is None:
            return self._page("message.html", visitor, status=404, heading="Нет такого обращения",
                              text="Обращения с таким номером нет, или оно не вашего отдела.")  # fmt: skip
        zone = self._policy.calendar.timezone

        history = []
        for event in appeal.events:
            if is_note(event):
                what = f"{'сообщение жителю' if event.visible_to_resident else 'заметка'}: {event.comment}"
            elif event.department:
                what = f"передано: {event.department}" + (f" ({event.comment})" if event.comment else "")
            else:
                what = self._texts(STAGE_TEXTS[AppealStage(event.to_stage)]) + (
                    f": {event.comment}" if event.comment else ""
                )
            history.append({"at": local_time(event.created_at, zone), "actor": event.actor, "what": what})
        ratings = await uow.ratings.all_of(appeal.id)
        card = {
            "number": appeal.number,
            "stage": self._texts(STAGE_TEXTS[AppealStage(appeal.stage)]),
            "category": appeal.category,
            "department": appeal.department,
            "description": appeal.description,
            "address": appeal.address,
            "map": f"https://yandex.ru/maps/?pt={appeal.longitude},{appeal.latitude}&z=17&l=map"
            if appeal.latitude is not None and appeal.longitude is not None
            else None,
            "phone": appeal.phone if visitor.member.role in SEES_PHONES else None,
            "created": local_time(appeal.created_at, zone),
            "first_due": local_time(appeal.first_response_due_at, zone),
            "resolution_due": local_time(appeal.resolution_due_at, zone),
            "photos": [photo.media_path for photo in appeal.attachments if photo.media_path],
            "answer": appeal.answer_text,
            "ratings": [f"{r.score}" + (f" — {r.comment}" if r.comment else "") for r in ratings],
            "history": history,
        }
        return self._page("appeal_card.html", visitor, a=card)

    async def media(self, request: web.Request, visitor: Visitor, uow: UnitOfWork) -> web.StreamResponse:
        relative = request.match_info["path"]
        allowed = await uow.appeals.media_visible(relative, visitor.departments)
        file = self._store.path(relative) if self._store is not None and allowed else None
        if file is None:
            return self._page("message.html", visitor, status=404, heading="Нет такого фото", text="")
        return web.FileResponse(file, headers={"Cache-Control": "private, max-age=3600"})

    async def export(self, request: web.Request, visitor: Visitor, uow: UnitOfWork) -> web.StreamResponse:
        days = self._period(request)
        table = await export.table(
            uow, self._texts, start=days.start, end=days.end, zone=self._policy.calendar.timezone, now=self._clock(),
            media_url=self._media_url, departments=visitor.departments,
        )  # fmt: skip
        kind = request.match_info["kind"]
        # Written in a thread: the bot goes on answering residents meanwhile (a year's file takes a second or two).
        if kind == "csv":
            body = await asyncio.to_thread(export.csv_bytes, table)
        else:
            body = await asyncio.to_thread(export.xlsx_bytes, table, self._texts("export.sheet"))
        name = f"appeals-{days.first:%Y%m%d}-{days.last:%Y%m%d}.{kind}"
        content_type = (
            "text/csv" if kind == "csv" else "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
        )
        return web.Response(body=body, content_type=content_type,
                            headers={"Content-Disposition": f'attachment; filename="{name}"'})  # fmt: skip

    # Helpers

    async def _visible(self, typed: str, visitor: Visitor, uow: UnitOfWork) -> Appeal | None:
        number = typed_number(typed, year=self._clock().year) or typed
        appeal = await uow.appeals.by_number(number)
        if appeal is None or (visitor.departments is not None and appeal.department not in visitor.departments):
            return None
        return appeal

    def _period(self, request: web.Request) -> Period:
        """The days of `from` and `to` in the query; the last 90 days for those missing or mistyped."""
        try:
            first, last = (
                date.fromisoformat(text) if text else None for text in map(request.query.get, ("from", "to"))
            )
        except ValueError:
            first = last = None
        if first is not None and last is not None and first > last:
            first, last = last, first  # the dates given the wrong way round
        return period(first, last, self._policy.calendar.timezone, 90)

    def _page(self, template: str, visitor: Visitor | None, status: int = 200, **values: Any) -> web.Response:
        html = self._templates.get_template(template).render(
            authority=self._authority,
            member=visitor.member if visitor else None,
            csrf=visitor.csrf if visitor else "",
            **values,
        )
        return web.Response(text=html, content_type="text/html", status=status,
                            headers={"X-Frame-Options": "DENY", "Content-Security-Policy": "default-src 'self'; "
                                     "style-src 'self' 'unsafe-inline'; img-src 'self' data:"})  # fmt: skip


async def overview_values(
    uow: UnitOfWork, policy: AppealPolicy, days: Period, departments: list[str] | None, faq: Sequence[FaqItem]
) -> dict[str, Any]:
    """What the overview shows for a period (and departments; None: all); `faq`: the items in service now."""
    start, first, last = days.start, days.first, days.last
    [by_department] = await tables(uow, policy.calendar, days, "department", departments=departments, total=False)
    ranked = ranking([row for row in by_department if row.opened >= FAIR_RANK])
    spans = Spans.of(days, policy.calendar.timezone)
    per_span = await uow.appeals.opened_per_category(spans.bounds, departments)
    misses = await uow.unmatched.most_frequent(since=start, limit=10)
    unhelpful = least_helpful(item_stats(faq, await uow.faq_uses.per_item(start)))
    return {
        "period": f"{first:%d.%m.%Y}–{last:%d.%m.%Y}",
        "start": first.isoformat(),
        "end": last.isoformat(),
        "total": sum(row.opened for row in by_department),
        "first_hours": f"{policy.first_response_hours:g}",
        "resolution_days": policy.resolution_days,
        "charts": charts(spans, per_span, by_department, policy),
        "minimum": FAIR_RANK,
        "ranking": ranked,
        "misses": misses,
        "unhelpful": unhelpful,
        "min_votes": MIN_VOTES,
    }


@dataclass(frozen=True, slots=True)
class Spans:
    """A period cut into weeks (Monday to Sunday), or into months when it is longer than half a year: the spans'
    bounds as moments (the first and last cut to the period), and their labels."""

    unit: str  # "неделям" or "месяцам", as in "по темам и неделям"
    bounds: list[datetime]  # one more than the labels: the last is the period's end
    labels: list[str]

    @classmethod
    def of(cls, days: Period, zone: ZoneInfo) -> Spans:
        if (days.last - days.first).days < MONTHS_AFTER_DAYS:
            unit, step, label = "неделям", _next_week, "%d.%m"
            first = days.first - timedelta(days=days.first.weekday())
        else:
            unit, step, label = "месяцам", _next_month, "%m.%Y"
            first = days.first.replace(day=1)
        bounds, labels = [days.start], [f"{first:{label}}"]
        while (first := step(first)) <= days.last:
            bounds.append(datetime.combine(first, time.min, zone))
            labels.append(f"{first:{label}}")
        return cls(unit, [*bounds, days.end], labels)


def _page_number(asked: str, pages: int) -> int:
    """The page of the list asked for, within 1..pages; the first for anything else."""
    return min(max(int(asked), 1), pages) if asked.isascii() and asked.isdigit() and len(asked) < 7 else 1


def _next_week(day: date) -> date:
    return day + timedelta(days=7)


def _next_month(day: date) -> date:
    return date(day.year + day.month // 12, day.month % 12 + 1, 1)


def media_url(base_url: str) -> str:
    """Where the dashboard serves the media store's photos, at the dashboard's public address `base_url`."""
    return f"{base_url.rstrip('/')}{PREFIX}/media"


def report_page(authority: str, values: dict[str, Any]) -> str:
    """The overview as one self-contained page (styles and charts inside), to send by mail."""
    template = TEMPLATES.get_template("overview.html")
    return template.render(authority=authority, member=None, csrf="", standalone=True, **values)


def ranking(rows: list[Row]) -> list[dict[str, str]]:
    """The departments' places by promptness (the share first answered in time, then the share answered in time)
    and by quality (the residents' average rating, then the fewer ratings of 1-2; only with `FAIR_RANK` ratings),
    in the order of the first. Equal figures share a place (1, 2, 2, 4)."""

    def places(ranked: list[Row], key: Callable[[Row], tuple[float, ...]]) -> dict[str, int]:
        ordered = sorted(ranked, key=key)
        place: dict[str, int] = {}
        for index, row in enumerate(ordered):
            tied = index > 0 and key(row) == key(ordered[index - 1])
            place[row.group] = place[ordered[index - 1].group] if tied else index + 1
        return place

    def share(value: float | None) -> str:
        return "—" if value is None else f"{value:.0%}"

    promptness = places(rows, lambda row: (-(row.first_response_in_time or 0), -(row.answered_in_time or 0)))
    rated = [row for row in rows if sum(row.scores.values()) >= FAIR_RANK]
    quality = places(rated, lambda row: (-(row.average_rating or 0), row.poor_ratings or 0))
    return [
        {
            "promptness": str(promptness[row.group]),
            "quality": str(quality[row.group]) if row.group in quality else "—",
            "group": row.group,
            "opened": str(row.opened),
            "first": share(row.first_response_in_time),
            "answered": share(row.answered_in_time),
            "rating": "—" if row.average_rating is None else f"{row.average_rating:.1f}",
        }
        for row in sorted(rows, key=lambda row: (promptness[row.group], row.group))
    ]


def charts(
    spans: Spans, per_span: dict[tuple[str, int], int], departments: list[Row], policy: AppealPolicy
) -> list[str]:
    """The overview's charts as SVG drawn on the server (pygal; no script, nothing from the internet): appeals
    opened `per_span` by (category, index of the span), and the departments' rows."""
    # 520 units wide with text of 14 to 17: two to a row on a desktop that is about life size, and shrunk to a
    # phone's width (about 366 px) the smallest text is still about 10 px.
    style = LightStyle(title_font_size=17, label_font_size=14, major_label_font_size=14, legend_font_size=14,
                       no_data_font_size=28)  # fmt: skip
    config = {"style": style, "js": [], "disable_xml_declaration": True, "width": 520, "height": 400,
              "legend_at_bottom": True, "truncate_legend": 30, "truncate_label": 24, "margin_right": 24,
              "no_data_text": "Нет данных"}  # fmt: skip
    opened = pygal.StackedBar(title=f"Обращения по темам и {spans.unit}", x_label_rotation=40, **config)
    opened.x_labels = spans.labels
    for category in sorted({category for category, _ in per_span}):
        opened.add(category, [per_span.get((category, index), 0) for index in range(len(spans.labels))])

    # The departments down the side, their names written across; pygal draws the first at the bottom. Six values
    # at most along the bottom, so that their figures do not run into each other.
    config = {**config, "max_scale": 6}
    rows = departments[::-1]
    names = [row.group for row in rows]
    first = pygal.HorizontalBar(
        title=f"Первый ответ, медиана рабочих часов (обещание — {policy.first_response_hours:g} ч)", **config
    )
    first.x_labels = names
    first.add("медиана, ч", [row.first_response_median or 0 for row in rows])
    first.add("обещание, ч", [policy.first_response_hours for _ in rows])

    resolved = pygal.HorizontalBar(title=f"Рассмотрение, медиана дней (срок — {policy.resolution_days})", **config)
    resolved.x_labels = names
    resolved.add("медиана, дней", [round(row.resolution_median_days or 0, 1) for row in rows])
    resolved.add("срок, дней", [policy.resolution_days for _ in rows])

    in_time = pygal.HorizontalBar(title=f"Рассмотрено в срок ({policy.resolution_days} дней), %", range=(0, 100),
                                  value_formatter=lambda share: f"{share:.0f} %", show_legend=False,
                                  **config)  # fmt: skip
    in_time.x_labels = names
    in_time.add("в срок, %", [round((row.answered_in_time or 0) * 100) for row in rows])

    ratings = pygal.HorizontalStackedBar(title="Оценки жителей по отделам", **config)
    ratings.x_labels = names
    for score in range(1, 6):
        ratings.add(str(score), [row.scores.get(score, 0) for row in rows])
    # pygal still embeds a script with its tooltips' settings: without its JavaScript (none is loaded) it is dead
    # weight, and the pages allow no script.
    return [SCRIPT.sub("", chart.render(is_unicode=True)) for chart in (opened, first, resolved, in_time, ratings)]
