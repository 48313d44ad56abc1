"""The bot's one HTTP server (aiohttp): the platforms' webhooks share it, each on its own path."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Mapping, Sequence

from aiohttp import web

from bot.config import WebSettings

log = logging.getLogger(__name__)

Endpoint = Callable[[web.Request], Awaitable[web.StreamResponse]]


class WebServer:
    """Serves the platforms' POST endpoints by path, and other routes (Open311). `stop` stops listening and
    lets the requests in progress finish, so an update a platform posted is answered (and so acknowledged) only
    once it is handled."""

    def __init__(
        self, settings: WebSettings, endpoints: Mapping[str, Endpoint], routes: Sequence[web.RouteDef] = ()
    ) -> None:
        self.settings = settings
        self.app = web.Application()
        for path, endpoint in endpoints.items():
            self.app.router.add_post(path, endpoint)
        self.app.add_routes(routes)  # other services of the bot (Open311)
        self._runner = web.AppRunner(self.app, handle_signals=False, access_log=None)
        self.port = settings.port  # the port listened on (the one the system chose, for port 0)

    async def start(self) -> None:
        await self._runner.setup()
        site = web.TCPSite(self._runner, self.settings.host, self.settings.port)
        await site.start()
        server = site._server
        sockets = getattr(server, "sockets", None) or []
        if sockets:
            self.port = sockets[0].getsockname()[1]
        log.info("web server listening on %s:%s", self.settings.host, self.port)

    async def stop(self) -> None:
        await self._runner.cleanup()
