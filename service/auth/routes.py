"""HTTP routes: /auth/register, /auth/token, /auth/session (web UI cookie), /me."""

from __future__ import annotations

import secrets
from typing import Any

from litestar import Request, Response, delete, get, post
from litestar.datastructures import Cookie, State
from litestar.status_codes import HTTP_200_OK, HTTP_201_CREATED, HTTP_204_NO_CONTENT

from service.auth import service
from service.auth.middleware import CSRF_COOKIE, SESSION_COOKIE
from service.auth.schemas import AuthUser, Credentials, MeOut, SessionOut, TokenOut, UserOut
from service.auth.throttle import LoginThrottle
from service.config import Settings
from service.db import Tx


def _throttle(state: State, settings: Settings) -> LoginThrottle:
    return LoginThrottle(state.redis, per_user=settings.login_fail_limit_user,
                         per_addr=settings.login_fail_limit_addr, window=settings.login_fail_window_seconds)


def _addr(request: Request[Any, Any, Any]) -> str:
    return request.client.host if request.client else "unknown"


@post("/auth/register", status_code=HTTP_201_CREATED, tags=["auth"])
async def register(data: Credentials, tx: Tx, settings: Settings) -> UserOut:
    """Create an account (403 when sign-up is off, 409 when the name is taken)."""
    return await service.register(tx, data.username, data.password, allow_signup=settings.allow_signup)


@post("/auth/token", status_code=HTTP_200_OK, tags=["auth"])
async def token(data: Credentials, tx: Tx, settings: Settings, state: State,
                request: Request[Any, Any, Any]) -> TokenOut:
    """Exchange a username and password for a bearer token."""
    out, _ = await service.login(tx, data.username, data.password, addr=_addr(request),
                                 throttle=_throttle(state, settings), ttl_seconds=settings.token_ttl_seconds)
    return out


@post("/auth/session", status_code=HTTP_200_OK, tags=["auth"])
async def open_session(data: Credentials, tx: Tx, settings: Settings, state: State,
                       request: Request[Any, Any, Any]) -> Response[SessionOut]:
    """Sign the web UI in: an HttpOnly SameSite=Strict session cookie plus a CSRF cookie."""
    out, user = await service.login(tx, data.username, data.password, addr=_addr(request),
                                    throttle=_throttle(state, settings), ttl_seconds=settings.token_ttl_seconds)
    csrf = secrets.token_urlsafe(24)
    secure = request.url.scheme == "https"
    max_age = settings.token_ttl_seconds
    return Response(
        SessionOut(username=user.username, expires_at=out.expires_at, csrf_token=csrf),
        cookies=[
            Cookie(key=SESSION_COOKIE, value=out.token, httponly=True, samesite="strict", secure=secure,
                   max_age=max_age, path="/"),
            Cookie(key=CSRF_COOKIE, value=csrf, httponly=False, samesite="strict", secure=secure,
                   max_age=max_age, path="/"),
        ],
    )


@delete("/auth/session", status_code=HTTP_204_NO_CONTENT, tags=["auth"])
async def close_session(tx: Tx, request: Request[Any, Any, Any]) -> Response[None]:
    """Sign the web UI out: the session token is revoked and the cookies cleared."""
    token = request.cookies.get(SESSION_COOKIE)
    if token:
        await service.revoke(tx, token)
    return Response(None, status_code=HTTP_204_NO_CONTENT, cookies=[
        Cookie(key=SESSION_COOKIE, value="", max_age=0, path="/", httponly=True, samesite="strict"),
        Cookie(key=CSRF_COOKIE, value="", max_age=0, path="/", samesite="strict"),
    ])


@get("/me", tags=["auth"])
async def me(tx: Tx, user: AuthUser) -> MeOut:
    """The caller, with bytes used (total and per tier) and file count."""
    return await service.me(tx, user)


ROUTES = [register, token, open_session, close_session, me]
