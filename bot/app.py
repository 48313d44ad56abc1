"""Assembly: from a validated config to a migrated database, the texts and a dispatcher with every handler."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncEngine

from bot.config import Config
from bot.core.dispatcher import Dispatcher
from bot.texts import Texts
from handlers import all_routers
from storage.db import connection_limit, create_engine, session_factory, upgrade
from storage.uow import UnitOfWork


@dataclass
class Application:
    config: Config
    engine: AsyncEngine
    texts: Texts
    dispatcher: Dispatcher

    @classmethod
    async def start(cls, config: Config) -> Application:
        """Load the texts, bring the database schema up to date, and wire the handlers."""
        settings = config.settings
        texts = Texts.load(config.texts_path).with_common(authority=settings.bot.authority)
        engine = create_database_engine(config)
        try:
            await upgrade(engine)
        except BaseException:
            await engine.dispose()
            raise
        sessions = session_factory(engine)
        dispatcher = Dispatcher(
            lambda: UnitOfWork(sessions), texts, all_routers(), concurrency=connection_limit(engine)
        )
        return cls(config=config, engine=engine, texts=texts, dispatcher=dispatcher)

    async def close(self) -> None:
        await self.engine.dispose()


def create_database_engine(config: Config) -> AsyncEngine:
    database = config.settings.database
    password = database.password.get_secret_value() if database.password else None
    return create_engine(config.database_url, password=password, echo=database.echo, pool_size=database.pool_size)
