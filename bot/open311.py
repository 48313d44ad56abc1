"""Open311 GeoReport v2 under /open311/v2/: a city website or a regional system lists the categories, files
appeals (with an `api_key`, a write token) into the same stage machine and staff flow, and follows them. Only
public fields go out: no names or phones; the description and the address only where bot.toml allows."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

from aiohttp import web
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.config import Open311Settings
from bot.services.api_tokens import authorised
from bot.services.appeal_stages import FINAL_STAGES, AppealStage, DomainError
from bot.services.appeals import AppealDraft, AppealPolicy, open_appeal, typed_number
from bot.services.notices import Notices
from storage.models import Appeal, utcnow
from storage.repositories import AppealFilter, ResidentProfile
from storage.uow import UnitOfWork

PREFIX = "/open311/v2"
SPECIFICATION = "http://wiki.open311.org/GeoReport_v2"
DEFAULT_DAYS, MAX_REQUESTS = 90, 1000  # the spec's defaults for requests.json


def error(status: int, description: str) -> web.Response:
    """An error as the spec has it: a list of {code, description}."""
    return web.json_response([{"code": status, "description": description}], status=status)


class Open311:
    """The GeoReport v2 endpoints, as aiohttp routes of the bot's web server."""

    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        policy: AppealPolicy,
        notices: Notices,
        settings: Open311Settings,
        authority: str,
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        self._sessions = sessions
        self._policy = policy
        self._notices = notices
        self._settings = settings
        self._authority = authority
        self._clock = clock
        self._codes = {str(number): name for number, name in enumerate(policy.categories, start=1)}

    def routes(self) -> list[web.RouteDef]:
        return [
            web.get(f"{PREFIX}/discovery.json", self.discovery),
            web.get(f"{PREFIX}/services.json", self.services),
            web.get(f"{PREFIX}/requests.json", self.requests),
            web.post(f"{PREFIX}/requests.json", self.file),
            web.get(PREFIX + "/requests/{id}.json", self.one),
        ]

    async def discovery(self, request: web.Request) -> web.Response:
        base = f"{request.scheme}://{request.host}{PREFIX}"
        return web.json_response(
            {
                "changeset": "2026-12-03T00:00:00Z",
                "contact": self._authority,
                "key_service": "python -m bot api token create --name NAME --scope write",
                "endpoints": [
                    {
                        "specification": SPECIFICATION,
                        "url": base,
                        "changeset": "2026-12-03T00:00:00Z",
                        "type": "production",
                        "formats": ["application/json"],
                    }
                ],
            }
        )

    async def services(self, request: web.Request) -> web.Response:
        return web.json_response(
            [
                {
                    "service_code": code,
                    "service_name": name,
                    "description": None,
                    "metadata": False,
                    "type": "realtime",
                    "keywords": None,
                    "group": self._policy.categories[name],
                }
                for code, name in self._codes.items()
            ]
        )

    async def requests(self, request: web.Request) -> web.Response:
        query = request.query
        async with UnitOfWork(self._sessions) as uow:
            if query.get("service_request_id"):
                numbers = [typed_number(part) or part.strip() for part in query["service_request_id"].split(",")]
                found = [appeal for number in numbers if (appeal := await uow.appeals.by_number(number))]
                return web.json_response([self._public(appeal) for appeal in found])
            try:
                end = _moment(query.get("end_date")) or self._clock()
                start = _moment(query.get("start_date")) or end - timedelta(days=DEFAULT_DAYS)
            except ValueError:
                return error(400, "start_date and end_date are W3C dates, e.g. 2026-12-01T00:00:00Z")
            codes = [code for code in query.get("service_code", "").split(",") if code]
            if any(code not in self._codes for code in codes):
                return error(400, f"unknown service_code; known: {', '.join(self._codes)}")
            statuses = {status for status in query.get("status", "").split(",") if status}
            if statuses - {"open", "closed"}:
                return error(400, "status is open or closed")
            # The spec's two statuses, as stages: filtered before the limit, so none is cut off unseen.
            stages = [stage.value for stage in AppealStage if _status(stage) in statuses]
            where = AppealFilter(categories=[self._codes[code] for code in codes] or None,
                                 created_between=(start, end), stages=stages or None)  # fmt: skip
            shown = [self._public(appeal) for appeal in await uow.appeals.search(where, limit=MAX_REQUESTS)]
        return web.json_response(shown)

    async def one(self, request: web.Request) -> web.Response:
        number = typed_number(request.match_info["id"]) or request.match_info["id"]
        async with UnitOfWork(self._sessions) as uow:
            appeal = await uow.appeals.by_number(number)
            if appeal is None:
                return error(404, f"no service request {number}")
            return web.json_response([self._public(appeal)])

    async def file(self, request: web.Request) -> web.Response:
        form = await request.post()
        fields = {key: value for key, value in form.items() if isinstance(value, str)}
        async with UnitOfWork(self._sessions) as uow:
            token = await authorised(uow, fields.get("api_key"), "write")
            if token is None:
                return error(403, "api_key is missing, unknown, revoked or only for reading")
            code = fields.get("service_code", "")
            if code not in self._codes:
                return error(400, f"service_code is required; known: {', '.join(self._codes)}")
            description = fields.get("description", "").strip()
            if not description:
                return error(400, "description is required")
            try:
                latitude = float(fields["lat"]) if fields.get("lat") else None
                longitude = float(fields["long"]) if fields.get("long") else None
            except ValueError:
                return error(400, "lat and long are numbers (WGS84)")
            address = fields.get("address_string") or None
            if (latitude is None or longitude is None) and not address:
                return error(400, "a place is required: lat and long, or address_string")
            now = self._clock()
            resident_id = await self._filer(uow, token.name, now)
            draft = AppealDraft(
                category=self._codes[code],
                description=description[:4000],
                address=address,
                latitude=latitude,
                longitude=longitude,
                phone=fields.get("phone") or None,
            )
            try:
                appeal = await open_appeal(uow, self._policy, resident_id, "open311", draft, now)
            except DomainError as exc:
                return error(400, str(exc))
            await uow.commit()  # the staff desk opens its topic, as for any new appeal
            return web.json_response([{"service_request_id": appeal.number, "service_notice": None}])

    async def _filer(self, uow: UnitOfWork, name: str, now: datetime) -> int:
        """The system filing through a token acts as a resident of the platform "open311" (it asked the
        residents for their consent itself, and follows the appeals through requests.json: nobody is messaged)."""
        conversation = await uow.residents.conversation("open311", name, now=now)
        if conversation.profile.id is not None:
            return conversation.profile.id
        return await uow.residents.add("open311", name, ResidentProfile(None, name, now, now))

    def _public(self, appeal: Appeal) -> dict[str, Any]:
        stage = AppealStage(appeal.stage)
        settings = self._settings
        return {
            "service_request_id": appeal.number,
            "status": _status(stage),
            "status_notes": self._notices.stage_name(appeal.stage),
            "service_name": appeal.category,
            "service_code": next((c for c, name in self._codes.items() if name == appeal.category), "0"),
            "description": appeal.description if settings.public_descriptions else None,
            "agency_responsible": appeal.department,
            "service_notice": None,
            "requested_datetime": _iso(appeal.created_at),
            "updated_datetime": _iso(appeal.updated_at),
            "expected_datetime": _iso(appeal.resolution_due_at),
            "address": appeal.address if settings.public_addresses else None,
            "address_id": None,
            "zipcode": None,
            "lat": round(appeal.latitude, 4) if appeal.latitude is not None else None,
            "long": round(appeal.longitude, 4) if appeal.longitude is not None else None,
            "media_url": None,
        }


def _status(stage: AppealStage) -> str:
    """The spec's status of an appeal at `stage`: closed once it can move no further."""
    return "closed" if stage in FINAL_STAGES else "open"


def _iso(moment: datetime | None) -> str | None:
    return moment.isoformat(timespec="seconds") if moment is not None else None


def _moment(text: str | None) -> datetime | None:
    return datetime.fromisoformat(text.replace("Z", "+00:00")) if text else None
