"""Registration, login (tokens), token lookup, usage."""

from __future__ import annotations

import hashlib
import re
import secrets
import uuid
from datetime import datetime, timedelta, timezone

from service.auth import queries
from service.auth.passwords import hash_password_async, verify_password_async
from service.auth.schemas import AuthUser, MeOut, TierUsage, TokenOut, UserOut
from service.auth.throttle import LoginThrottle
from service.db import Tx
from service.errors import Conflict, Forbidden, Invalid, Unauthorized

USERNAME_RE = re.compile(r"[A-Za-z0-9_\-][A-Za-z0-9._\-]{2,63}")
USERNAME_RULE = "username must be 3-64 characters of A-Z a-z 0-9 . _ - and must not start with '.'"
PASSWORD_RULE = "password must be 8-1024 characters"


def token_digest(token: str) -> bytes:
    return hashlib.sha256(token.encode()).digest()


def validate_username(username: str) -> None:
    if not USERNAME_RE.fullmatch(username):
        raise Invalid(USERNAME_RULE, code="invalid_username", field="username")


def validate_password(password: str) -> None:
    if not 8 <= len(password) <= 1024:
        raise Invalid(PASSWORD_RULE, code="invalid_password", field="password")


async def register(tx: Tx, username: str, password: str, *, allow_signup: bool) -> UserOut:
    if not allow_signup:
        raise Forbidden("sign-up is disabled on this server", code="signup_disabled")
    validate_username(username)
    validate_password(password)
    user_id = uuid.uuid4()
    pw_hash = await hash_password_async(password)
    if not await queries.insert_user(tx.conn, user_id, username, pw_hash):
        raise Conflict(f"username '{username}' is taken", code="username_taken", field="username")
    return UserOut(id=user_id, username=username)


async def login(tx: Tx, username: str, password: str, *, addr: str, throttle: LoginThrottle,
                ttl_seconds: int) -> tuple[TokenOut, AuthUser]:
    """Check credentials (throttled on failures) and mint a new token; older tokens stay valid."""
    if len(username) > 64 or len(password) > 1024:
        raise Unauthorized("wrong username or password", code="bad_credentials")
    counted = await throttle.attempt(username, addr)  # counted before the check: bursts cannot race it
    row = await queries.user_by_name(tx.conn, username)
    ok = await verify_password_async(password, row["password_hash"] if row else None)
    if not ok or row is None:
        raise Unauthorized("wrong username or password", code="bad_credentials")
    if counted:
        await throttle.succeeded(username, addr)
    token = secrets.token_urlsafe(32)
    token_id = uuid.uuid4()
    expires_at = datetime.now(timezone.utc) + timedelta(seconds=ttl_seconds)
    await queries.insert_token(tx.conn, token_id, row["id"], token_digest(token), expires_at)
    return TokenOut(token=token, expires_at=expires_at), AuthUser(id=row["id"], username=row["username"], token_id=token_id)


async def authenticate(tx: Tx, token: str) -> AuthUser | None:
    if not token or len(token) > 256:
        return None
    row = await queries.user_by_token(tx.conn, token_digest(token))
    if row is None:
        return None
    last = row["last_used_at"]
    if last is None or datetime.now(timezone.utc) - last > timedelta(minutes=1):
        await queries.touch_token(tx.conn, row["token_id"])
    return AuthUser(id=row["id"], username=row["username"], token_id=row["token_id"])


async def revoke(tx: Tx, token: str) -> None:
    await queries.delete_token(tx.conn, token_digest(token))


async def me(tx: Tx, user: AuthUser) -> MeOut:
    tiers = TierUsage()
    count = 0
    for r in await queries.usage(tx.conn, user.id):
        setattr(tiers, r["tier"], int(r["bytes"]))
        count += int(r["files"])
    return MeOut(id=user.id, username=user.username, used_bytes=tiers.hot + tiers.cold, file_count=count,
                 used_bytes_by_tier=tiers)
