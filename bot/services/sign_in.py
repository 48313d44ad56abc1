"""One-time sign-in links of the dashboard: made for a staff member, kept only as a hash, valid a quarter of an
hour and once."""

from __future__ import annotations

import secrets
from datetime import timedelta

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.services.api_tokens import digest
from storage.models import WebLogin, utcnow
from storage.uow import UnitOfWork

LINK_LIFETIME = timedelta(minutes=15)
LOGIN_PATH = "/dashboard/login"


def new_link(uow: UnitOfWork, member_id: int, base_url: str) -> str:
    """A link for the staff member, stored (by its hash) in the caller's transaction."""
    token = secrets.token_urlsafe(32)
    uow.web.add(WebLogin(token_hash=digest(token), member_id=member_id, expires_at=utcnow() + LINK_LIFETIME))
    return f"{base_url.rstrip('/')}{LOGIN_PATH}?token={token}"


async def sign_in_link(sessions: async_sessionmaker[AsyncSession], member_id: int, base_url: str) -> str:
    async with UnitOfWork(sessions) as uow:
        link = new_link(uow, member_id, base_url)
        await uow.commit()
    return link
