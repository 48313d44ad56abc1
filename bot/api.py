"""The HTTP API under /api/v1 for a municipality's other systems: list, filter and show appeals, move and answer
them, statistics; bearer tokens (read, write) from `python -m bot api token create`; JSON errors with the right
status; the OpenAPI document at /api/openapi.json."""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable, Mapping
from datetime import date, datetime
from typing import Any

from aiohttp import web
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.report import Period, Row, period, tables
from bot.services.api_tokens import authorised
from bot.services.appeal_stages import FINAL_STAGES, AppealStage, DomainError
from bot.services.appeals import (
    AppealNotFound,
    AppealPolicy,
    answer_appeal,
    is_overdue,
    move_appeal,
    overdue_at,
    typed_number,
)
from bot.services.notices import Notices
from storage.models import Appeal, utcnow
from storage.repositories import AppealFilter
from storage.uow import UnitOfWork

PREFIX = "/api/v1"
Handler = Callable[[web.Request, UnitOfWork, str], Awaitable[web.Response]]


class ApiError(Exception):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


def failure(status: int, message: str) -> web.Response:
    headers = {"WWW-Authenticate": "Bearer"} if status == 401 else None
    return web.json_response({"error": {"status": status, "message": message}}, status=status, headers=headers)


class Api:
    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        policy: AppealPolicy,
        notices: Notices,
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        self._sessions = sessions
        self._policy = policy
        self._notices = notices
        self._clock = clock

    def routes(self) -> list[web.RouteDef]:
        return [
            web.get("/api/openapi.json", self.openapi),
            web.get(f"{PREFIX}/appeals", self._guarded("read", self.list_appeals)),
            web.get(PREFIX + "/appeals/{number}", self._guarded("read", self.show)),
            web.post(PREFIX + "/appeals/{number}/move", self._guarded("write", self.move)),
            web.post(PREFIX + "/appeals/{number}/answer", self._guarded("write", self.answer)),
            web.get(f"{PREFIX}/stats", self._guarded("read", self.stats)),
        ]

    def _guarded(self, scope: str, handler: Handler) -> Callable[[web.Request], Awaitable[web.Response]]:
        """Checks the bearer token for `scope`, runs `handler` in a transaction, turns errors into JSON."""

        async def guarded(request: web.Request) -> web.Response:
            header = request.headers.get("Authorization", "")
            token = header.removeprefix("Bearer ").strip() if header.startswith("Bearer ") else None
            async with UnitOfWork(self._sessions) as uow:
                found = await authorised(uow, token, "read")
                if found is None:
                    return failure(401, "a valid bearer token is required (python -m bot api token create)")
                if scope == "write" and found.scope != "write":
                    return failure(403, "this token may only read")
                try:
                    return await handler(request, uow, f"api:{found.name}")
                except ApiError as exc:
                    return failure(exc.status, str(exc))
                except AppealNotFound as exc:
                    return failure(404, str(exc))
                except DomainError as exc:
                    return failure(409, str(exc))

        return guarded

    async def list_appeals(self, request: web.Request, uow: UnitOfWork, actor: str) -> web.Response:
        query = request.query
        stages = [stage for stage in query.get("stage", "").split(",") if stage]
        if any(stage not in {s.value for s in AppealStage} for stage in stages):
            raise ApiError(400, f"stage is one of {', '.join(s.value for s in AppealStage)}")
        now = self._clock()
        days = _period(query.get("from"), query.get("to"), self._policy)
        where = AppealFilter(
            stages=stages or None,
            categories=[query["category"]] if query.get("category") else None,
            department=query.get("department") or None,
            created_between=(days.start, days.end) if query.get("from") or query.get("to") else None,
            overdue=overdue_at(now) if query.get("overdue") in ("1", "true") else None,
        )
        limit = _whole(query, "limit", default=200, least=1, most=1000)
        offset = _whole(query, "offset", default=0, least=0)
        found = await uow.appeals.search(where, limit=limit, offset=offset)
        total = await uow.appeals.count(where) if offset or len(found) == limit else len(found)
        return web.json_response({"appeals": [_summary(appeal, now) for appeal in found], "total": total})

    async def show(self, request: web.Request, uow: UnitOfWork, actor: str) -> web.Response:
        appeal = await self._appeal(request, uow)
        return web.json_response(_details(appeal, self._clock()))

    async def move(self, request: web.Request, uow: UnitOfWork, actor: str) -> web.Response:
        body = await _json(request)
        number = (await self._appeal(request, uow)).number
        try:
            target = AppealStage(str(body.get("stage")))
        except ValueError:
            raise ApiError(400, f"stage is one of {', '.join(s.value for s in AppealStage)}") from None
        comment = body.get("comment")
        appeal = await move_appeal(
            uow,
            self._notices,
            number,
            target,
            actor=actor,
            now=self._clock(),
            comment=str(comment) if comment else None,
            visible_to_resident=not body.get("internal", False),
        )
        await uow.commit()
        return web.json_response(_details(appeal, self._clock()))

    async def answer(self, request: web.Request, uow: UnitOfWork, actor: str) -> web.Response:
        body = await _json(request)
        text = str(body.get("text") or "").strip()
        if not text:
            raise ApiError(400, "text is required")
        number = (await self._appeal(request, uow)).number
        appeal = await answer_appeal(uow, self._notices, number, text, actor=actor, now=self._clock())
        await uow.commit()
        return web.json_response(_details(appeal, self._clock()))

    async def stats(self, request: web.Request, uow: UnitOfWork, actor: str) -> web.Response:
        days = _period(request.query.get("from"), request.query.get("to"), self._policy)
        by_category, by_department = await tables(uow, self._policy.calendar, days, "category", "department")
        return web.json_response(
            {"from": days.start.isoformat(), "to": days.end.isoformat(), "by_category": [_row(r) for r in by_category],
             "by_department": [_row(r) for r in by_department]}
        )  # fmt: skip

    async def openapi(self, request: web.Request) -> web.Response:
        return web.json_response(OPENAPI)

    async def _appeal(self, request: web.Request, uow: UnitOfWork) -> Appeal:
        typed = request.match_info["number"]
        number = typed_number(typed, year=self._clock().year) or typed
        appeal = await uow.appeals.by_number(number)
        if appeal is None:
            raise AppealNotFound(number)
        return appeal


async def _json(request: web.Request) -> dict[str, Any]:
    try:
        body = await request.json()
    except (json.JSONDecodeError, UnicodeDecodeError):
        raise ApiError(400, "the body must be a JSON object") from None
    if not isinstance(body, dict):
        raise ApiError(400, "the body must be a JSON object")
    return body


def _period(start: str | None, end: str | None, policy: AppealPolicy) -> Period:
    try:
        first, last = (date.fromisoformat(text) if text else None for text in (start, end))
    except ValueError:
        raise ApiError(400, "from and to are dates, YYYY-MM-DD") from None
    return period(first, last, policy.calendar.timezone, 30)


def _whole(query: Mapping[str, str], name: str, *, default: int, least: int, most: int | None = None) -> int:
    """A whole-number parameter of the query, within its bounds; a clear 400 for anything else."""
    text = query.get(name) or str(default)
    if not (text.isascii() and text.isdigit()) or int(text) < least or (most is not None and int(text) > most):
        bounds = f"from {least} to {most}" if most is not None else f"from {least}"
        raise ApiError(400, f"{name} is a whole number {bounds}")
    return int(text)


def _iso(moment: datetime | None) -> str | None:
    return moment.isoformat(timespec="seconds") if moment is not None else None


def _summary(appeal: Appeal, now: datetime) -> dict[str, Any]:
    return {
        "number": appeal.number,
        "stage": appeal.stage,
        "category": appeal.category,
        "department": appeal.department,
        "created_at": _iso(appeal.created_at),
        "first_response_due_at": _iso(appeal.first_response_due_at),
        "resolution_due_at": _iso(appeal.resolution_due_at),
        "overdue": is_overdue(appeal, now),
        "open": AppealStage(appeal.stage) not in FINAL_STAGES,
    }


def _details(appeal: Appeal, now: datetime) -> dict[str, Any]:
    """An appeal for staff systems: what was reported and where, its history with actors; no phone, no name."""
    return {
        **_summary(appeal, now),
        "description": appeal.description,
        "address": appeal.address,
        "latitude": appeal.latitude,
        "longitude": appeal.longitude,
        "photos": [photo.media_path for photo in appeal.attachments if photo.media_path],
        "first_response_at": _iso(appeal.first_response_at),
        "answered_at": _iso(appeal.answered_at),
        "closed_at": _iso(appeal.closed_at),
        "answer": appeal.answer_text,
        "history": [
            {
                "at": _iso(event.created_at),
                "actor": event.actor,
                "kind": event.kind,
                "from_stage": event.from_stage,
                "to_stage": event.to_stage,
                "department": event.department,
                "comment": event.comment,
                "visible_to_resident": event.visible_to_resident,
            }
            for event in appeal.events
        ],
    }


def _row(row: Row) -> dict[str, Any]:
    return {
        "group": row.group,
        "opened": row.opened,
        "first_response_median_hours": row.first_response_median,
        "first_response_p90_hours": row.first_response_p90,
        "first_response_in_time": row.first_response_in_time,
        "answered_in_time": row.answered_in_time,
        "average_rating": row.average_rating,
        "poor_ratings": row.poor_ratings,
        "resolution_median_days": row.resolution_median_days,
        "ratings": {str(score): row.scores.get(score, 0) for score in range(1, 6)},  # how many of each score
    }


_ERROR = {
    "description": "an error",
    "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}},
}
_NUMBER = {"name": "number", "in": "path", "required": True, "schema": {"type": "string"}, "example": "А-2026-000123"}
OPENAPI: dict[str, Any] = {
    "openapi": "3.0.3",
    "info": {"title": "Priemnaya API", "version": "1", "description": "Appeals of residents to the authority."},
    "components": {
        "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
        "schemas": {
            "Error": {
                "type": "object",
                "properties": {"error": {"type": "object", "properties": {"status": {"type": "integer"},
                                                                           "message": {"type": "string"}}}},
            }
        },
    },
    "security": [{"bearer": []}],
    "paths": {
        f"{PREFIX}/appeals": {
            "get": {
                "summary": "List appeals, oldest first (read)",
                "parameters": [
                    {"name": name, "in": "query", "required": False, "schema": {"type": "string"}}
                    for name in ("stage", "category", "department", "overdue", "from", "to")
                ] + [
                    {"name": "limit", "in": "query", "required": False,
                     "schema": {"type": "integer", "minimum": 1, "maximum": 1000, "default": 200}},
                    {"name": "offset", "in": "query", "required": False,
                     "schema": {"type": "integer", "minimum": 0, "default": 0}},
                ],
                "responses": {"200": {"description": "{appeals: [...], total: how many the filters find}"},
                              "400": _ERROR, "401": _ERROR},
            }
        },
        PREFIX + "/appeals/{number}": {
            "get": {
                "summary": "One appeal with its history (read)",
                "parameters": [_NUMBER],
                "responses": {"200": {"description": "the appeal"}, "401": _ERROR, "404": _ERROR},
            }
        },
        PREFIX + "/appeals/{number}/move": {
            "post": {
                "summary": "Move to another stage (write); body {stage, comment?, internal?}",
                "parameters": [_NUMBER],
                "responses": {"200": {"description": "the appeal"}, "400": _ERROR, "401": _ERROR, "403": _ERROR,
                              "404": _ERROR, "409": _ERROR},
            }
        },
        PREFIX + "/appeals/{number}/answer": {
            "post": {
                "summary": "Give the official answer (write); body {text}",
                "parameters": [_NUMBER],
                "responses": {"200": {"description": "the appeal"}, "400": _ERROR, "401": _ERROR, "403": _ERROR,
                              "404": _ERROR, "409": _ERROR},
            }
        },
        f"{PREFIX}/stats": {
            "get": {
                "summary": "Response times and ratings per category and department (read)",
                "parameters": [
                    {"name": name, "in": "query", "required": False, "schema": {"type": "string", "format": "date"}}
                    for name in ("from", "to")
                ],
                "responses": {"200": {"description": "{from, to, by_category, by_department}; each row: group, "
                                      "opened, first_response_median_hours, first_response_p90_hours, "
                                      "first_response_in_time, answered_in_time, average_rating, poor_ratings, "
                                      "resolution_median_days, ratings (score: count)"}, "401": _ERROR},
            }
        },
    },
}  # fmt: skip
