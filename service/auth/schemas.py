from __future__ import annotations

from datetime import datetime
from uuid import UUID

import msgspec


class Credentials(msgspec.Struct, rename="camel"):
    username: str
    password: str


class UserOut(msgspec.Struct, rename="camel"):
    id: UUID
    username: str


class TokenOut(msgspec.Struct, rename="camel"):
    token: str
    expires_at: datetime


class SessionOut(msgspec.Struct, rename="camel"):
    username: str
    expires_at: datetime
    csrf_token: str


class TierUsage(msgspec.Struct, rename="camel"):
    hot: int = 0
    cold: int = 0


class MeOut(msgspec.Struct, rename="camel"):
    id: UUID
    username: str
    used_bytes: int
    file_count: int
    used_bytes_by_tier: TierUsage


class AuthUser(msgspec.Struct):
    """The authenticated caller, as the middleware puts it on request.user."""
    id: UUID
    username: str
    token_id: UUID
    via_cookie: bool = False
