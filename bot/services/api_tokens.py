"""Bearer tokens of the HTTP API (Open311's `api_key` too): made once and shown once, stored only as a hash,
revocable; a "read" token reads, a "write" token also files and moves appeals."""

from __future__ import annotations

import hashlib
import secrets
from datetime import datetime

from bot.services.appeal_stages import DomainError
from storage.models import ApiToken
from storage.uow import UnitOfWork

SCOPES = ("read", "write")


def digest(secret: str) -> str:
    """How a secret handed out once (a token, a sign-in link, a session cookie) is kept: its SHA-256."""
    return hashlib.sha256(secret.encode()).hexdigest()


async def create_token(uow: UnitOfWork, name: str, scope: str, now: datetime) -> str:
    """A new token; the only time it is seen whole."""
    if scope not in SCOPES:
        raise DomainError(f"scope must be read or write, not '{scope}'")
    if await uow.api_tokens.by_name(name) is not None:
        raise DomainError(f"a token named '{name}' exists already; revoke it or pick another name")
    token = secrets.token_urlsafe(32)
    uow.api_tokens.add(ApiToken(name=name, scope=scope, token_hash=digest(token), created_at=now))
    return token


async def revoke_token(uow: UnitOfWork, name: str, now: datetime) -> None:
    token = await uow.api_tokens.by_name(name)
    if token is None:
        raise DomainError(f"no token named '{name}'")
    token.revoked_at = token.revoked_at or now


async def authorised(uow: UnitOfWork, token: str | None, scope: str) -> ApiToken | None:
    """The valid token, if it grants `scope` ("write" includes "read")."""
    if not token:
        return None
    found = await uow.api_tokens.valid(digest(token))
    if found is None or (scope == "write" and found.scope != "write"):
        return None
    return found
