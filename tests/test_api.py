"""The HTTP API over real HTTP: bearer tokens (none, wrong, revoked, read-only, write), list and show, move and
answer through the same rules as staff, JSON errors with the right status, the OpenAPI document."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Any

import aiohttp
import pytest
from sqlalchemy import select

from bot.api import Api
from bot.app import Application
from bot.config import WebSettings
from bot.services.api_tokens import create_token, revoke_token
from bot.services.appeals import AppealDraft, open_appeal
from bot.web import WebServer
from storage.models import OutboxMessage, utcnow
from storage.uow import UnitOfWork
from tests.conftest import appeals_opened_at, stored_resident


@pytest.fixture
async def base(app: Application) -> AsyncIterator[str]:
    web = WebServer(
        WebSettings(host="127.0.0.1", port=0),
        {},
        Api(app.sessions, app.services.appeals, app.services.notices).routes(),
    )
    await web.start()
    yield f"http://127.0.0.1:{web.port}"
    await web.stop()


async def setup(app: Application) -> tuple[str, dict[str, str]]:
    async with UnitOfWork(app.sessions) as uow:
        resident = await stored_resident(uow, "telegram", "42")
        draft = AppealDraft("Дороги", "Яма на дороге у дома 5", phone="+79123456789")
        appeal = await open_appeal(uow, app.services.appeals, resident, "telegram", draft, app.services.clock())
        keys = {
            scope: await create_token(uow, f"crm-{scope}", scope, app.services.clock()) for scope in ("read", "write")
        }
        keys["revoked"] = await create_token(uow, "old", "write", app.services.clock())
        await revoke_token(uow, "old", app.services.clock())
        await uow.commit()
        return appeal.number, keys


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


async def test_tokens_decide_who_reads_and_who_acts(app: Application, base: str) -> None:
    number, keys = await setup(app)
    async with aiohttp.ClientSession() as http:
        for headers in ({}, bearer("wrong"), bearer(keys["revoked"])):
            async with http.get(f"{base}/api/v1/appeals", headers=headers) as response:
                assert response.status == 401
                assert response.headers["WWW-Authenticate"] == "Bearer"
                assert (await response.json())["error"]["status"] == 401
        async with http.get(
            f"{base}/api/v1/appeals", headers=bearer(keys["read"]), params={"stage": "new"}
        ) as response:
            [listed] = (await response.json())["appeals"]
        assert (listed["number"], listed["category"], listed["open"]) == (number, "Дороги", True)
        async with http.get(f"{base}/api/v1/appeals/{number}", headers=bearer(keys["read"])) as response:
            shown = await response.json()
        assert shown["description"] == "Яма на дороге у дома 5"
        assert "phone" not in shown
        assert [entry["actor"] for entry in shown["history"]] == ["resident"]

        move = {"stage": "accepted"}
        async with http.post(
            f"{base}/api/v1/appeals/{number}/move", json=move, headers=bearer(keys["read"])
        ) as response:
            assert response.status == 403
        async with http.post(
            f"{base}/api/v1/appeals/{number}/move", json={"stage": "closed"}, headers=bearer(keys["write"])
        ) as response:
            assert response.status == 409  # the stage machine says no, with its reason
            assert "cannot move an appeal from 'new' to 'closed'" in (await response.json())["error"]["message"]
        async with http.post(
            f"{base}/api/v1/appeals/{number}/move", data="not json", headers=bearer(keys["write"])
        ) as response:
            assert response.status == 400
        async with http.post(
            f"{base}/api/v1/appeals/{number}/move", json=move, headers=bearer(keys["write"])
        ) as response:
            assert response.status == 200
            assert (await response.json())["history"][-1]["actor"] == "api:crm-write"
        async with http.post(
            f"{base}/api/v1/appeals/{number}/answer",
            json={"text": "Заделали 4 декабря."},
            headers=bearer(keys["write"]),
        ) as response:
            assert (await response.json())["stage"] == "answered"
        async with http.get(f"{base}/api/v1/appeals/А-2026-999999", headers=bearer(keys["read"])) as response:
            assert response.status == 404
        async with http.get(f"{base}/api/v1/stats", headers=bearer(keys["read"])) as response:
            stats = await response.json()
        assert stats["by_category"][-1]["group"] == "всего"
        total = stats["by_department"][-1]
        assert total["opened"] >= 1
        assert total["ratings"] == {"1": 0, "2": 0, "3": 0, "4": 0, "5": 0}  # nobody rated yet
        assert total["resolution_median_days"] is not None  # the appeal answered above
        async with http.get(f"{base}/api/openapi.json") as response:
            document = await response.json()
        assert document["openapi"].startswith("3.")
        assert "/api/v1/appeals/{number}/move" in document["paths"]
    async with app.sessions() as session:
        told = (await session.execute(select(OutboxMessage.text).where(OutboxMessage.chat_id == "42"))).scalars().all()
    assert told[0] == f"Обращение {number}: новый этап — «Зарегистрировано»."  # the resident is told, as always
    assert told[1].startswith(f"Ответ на обращение {number}:")


async def test_the_list_combines_its_filters_pages_with_limit_and_offset_and_says_how_many(
    app: Application, base: str
) -> None:
    _, keys = await setup(app)  # one fresh appeal about roads, not overdue
    now = utcnow()
    late_lifts = await appeals_opened_at(app, "ЖКХ", [now - timedelta(days=10, hours=hour) for hour in range(3)])
    [late_pit] = await appeals_opened_at(app, "Дороги", [now - timedelta(days=10)])

    async def listed(**params: str) -> dict[str, Any]:
        async with (
            aiohttp.ClientSession() as http,
            http.get(f"{base}/api/v1/appeals", headers=bearer(keys["read"]), params=params) as response,
        ):
            return {"status": response.status, **await response.json()}

    found = await listed(overdue="1", category="Дороги")
    assert ([a["number"] for a in found["appeals"]], found["total"]) == ([late_pit], 1)  # not the fresh one
    found = await listed(overdue="true", stage="new", limit="2", offset="1")
    assert [a["number"] for a in found["appeals"]] == [late_lifts[1], late_lifts[0]]  # oldest first, after one
    assert found["total"] == 4
    for params in ({"limit": "много"}, {"limit": "0"}, {"limit": "1001"}, {"offset": "-1"}):
        refused = await listed(**params)
        assert refused["status"] == 400, params
        assert refused["error"]["message"].startswith(f"{next(iter(params))} is a whole number from"), params
