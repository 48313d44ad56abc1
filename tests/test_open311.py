"""Open311 GeoReport v2 over real HTTP: categories as services, appeals as requests (public fields only), filing
with a write token into the same stage machine; every response checked against the official schemas."""

from __future__ import annotations

import json
import re
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import jsonschema
import pytest
from sqlalchemy import select

from bot.app import Application
from bot.config import Open311Settings, WebSettings
from bot.open311 import Open311
from bot.services.api_tokens import create_token, revoke_token
from bot.web import WebServer
from storage.models import Appeal
from storage.uow import UnitOfWork
from tests.conftest import run_bot, write_config

SCHEMAS = Path(__file__).resolve().parent / "data" / "open311"  # the official schemas, copied unchanged


def schema(name: str) -> dict[str, object]:
    return json.loads((SCHEMAS / name).read_text(encoding="utf-8"))  # type: ignore[no-any-return]


def valid_list(entries: object, item_schema: str) -> list[dict[str, object]]:
    assert isinstance(entries, list)
    for entry in entries:
        jsonschema.validate(entry, schema(item_schema))
    return entries


@pytest.fixture
async def server(app: Application) -> AsyncIterator[str]:
    service = Open311(app.sessions, app.services.appeals, app.services.notices, Open311Settings(enabled=True), "Тест")
    web = WebServer(WebSettings(host="127.0.0.1", port=0), {}, service.routes())
    await web.start()
    yield f"http://127.0.0.1:{web.port}/open311/v2"
    await web.stop()


async def tokens(app: Application) -> dict[str, str]:
    async with UnitOfWork(app.sessions) as uow:
        made = {
            scope: await create_token(uow, f"site-{scope}", scope, app.services.clock()) for scope in ("read", "write")
        }
        made["revoked"] = await create_token(uow, "old-site", "write", app.services.clock())
        await revoke_token(uow, "old-site", app.services.clock())
        await uow.commit()
    return made


async def test_services_filing_and_following_a_request(app: Application, server: str) -> None:
    keys = await tokens(app)
    async with aiohttp.ClientSession() as http:
        async with http.get(f"{server}/services.json") as response:
            services = valid_list(await response.json(), "service.json")
        roads = next(service["service_code"] for service in services if service["service_name"] == "Дороги")

        form = {"service_code": roads, "description": "Яма на дороге у дома 5", "lat": "55.751244", "long": "37.618423"}
        for key, status in ((keys["read"], 403), (keys["revoked"], 403), ("wrong", 403), (None, 403)):
            async with http.post(
                f"{server}/requests.json", data={**form, **({"api_key": key} if key else {})}
            ) as response:
                assert response.status == status
                [problem] = await response.json()
                assert problem["code"] == status
        async with http.post(
            f"{server}/requests.json", data={**form, "api_key": keys["write"], "description": ""}
        ) as response:
            assert response.status == 400
        async with http.post(f"{server}/requests.json", data={**form, "api_key": keys["write"]}) as response:
            assert response.status == 200
            [created] = await response.json()
        number = created["service_request_id"]
        assert re.fullmatch(r"А-\d{4}-000001", number)

        async with http.get(f"{server}/requests/{number}.json") as response:
            [request] = valid_list(await response.json(), "request.json")
        assert (request["status"], request["service_name"], request["agency_responsible"]) == (
            "open",
            "Дороги",
            "Дорожное хозяйство",
        )
        assert request["description"] is None  # not public unless bot.toml says so
        assert (request["lat"], request["long"]) == (55.7512, 37.6184)  # rounded: a place, not a doorstep
        async with http.get(f"{server}/requests.json", params={"status": "open", "service_code": roads}) as response:
            listed = valid_list(await response.json(), "request.json")
        assert [entry["service_request_id"] for entry in listed] == [number]
        async with http.get(f"{server}/requests/А-2026-999999.json") as response:
            assert response.status == 404
        async with http.get(f"{server}/requests.json", params={"status": "lost"}) as response:
            assert response.status == 400
    async with app.sessions() as session:
        appeal = (await session.execute(select(Appeal))).scalar_one()
    assert (appeal.stage, appeal.category) == ("new", "Дороги")  # the same stage machine as any appeal


def test_tokens_are_shown_once_stored_hashed_and_revocable(tmp_path: Path) -> None:
    config = str(write_config(tmp_path, "sqlite+aiosqlite:///bot.sqlite3"))
    created = run_bot("--config", config, "api", "token", "create", "--name", "city-site", "--scope", "write")
    assert created.returncode == 0, created.stderr
    secret = created.stdout.strip()
    assert len(secret) >= 40
    listed = run_bot("--config", config, "api", "token", "list").stdout
    assert listed.split()[:2] == ["city-site", "write"]
    assert secret not in listed
    assert secret.encode() not in (tmp_path / "bot.sqlite3").read_bytes()  # only its hash is kept
    again = run_bot("--config", config, "api", "token", "create", "--name", "city-site")
    assert (again.returncode, again.stderr.strip()) == (
        1,
        "error: a token named 'city-site' exists already; revoke it or pick another name",
    )
    assert run_bot("--config", config, "api", "token", "revoke", "city-site").stdout.strip() == "city-site: revoked"
    assert "revoked" in run_bot("--config", config, "api", "token", "list").stdout
