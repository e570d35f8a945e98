"""Authentication for every route except the public ones: a Bearer token, or the web UI's
HttpOnly session cookie (then state-changing requests must echo the CSRF cookie in
X-CSRF-Token: double-submit, on top of SameSite=Strict)."""

from __future__ import annotations

import hmac

from litestar.connection import ASGIConnection
from litestar.exceptions import NotAuthorizedException, PermissionDeniedException
from litestar.middleware import AbstractAuthenticationMiddleware, AuthenticationResult

from service.auth import service as auth_service
from service.db import transaction

SESSION_COOKIE = "mybox_session"
CSRF_COOKIE = "mybox_csrf"
SAFE_METHODS = {"GET", "HEAD", "OPTIONS"}
PUBLIC_PATHS = [r"^/healthz$", r"^/readyz$", r"^/auth/register$", r"^/auth/token$", r"^/auth/session$",
                r"^/schema", r"^/$", r"^/static/", r"^/favicon\.ico$"]


class TokenAuthMiddleware(AbstractAuthenticationMiddleware):
    async def authenticate_request(self, connection: ASGIConnection) -> AuthenticationResult:
        header = connection.headers.get("authorization", "")
        via_cookie = False
        token = ""
        if header:
            scheme, _, value = header.partition(" ")
            if scheme.lower() != "bearer" or not value.strip():
                raise NotAuthorizedException("Authorization header must be 'Bearer <token>'")
            token = value.strip()
        elif SESSION_COOKIE in connection.cookies:
            token = connection.cookies[SESSION_COOKIE]
            via_cookie = True
        if not token:
            raise NotAuthorizedException("missing bearer token")
        async with transaction(connection.app.state.pool) as tx:
            user = await auth_service.authenticate(tx, token)
        if user is None:
            raise NotAuthorizedException("invalid or expired token")
        if via_cookie and connection.scope.get("method", "GET") not in SAFE_METHODS:
            sent = connection.headers.get("x-csrf-token", "")
            expected = connection.cookies.get(CSRF_COOKIE, "")
            if not sent or not expected or not hmac.compare_digest(sent, expected):
                raise PermissionDeniedException("missing or wrong X-CSRF-Token header")
        user.via_cookie = via_cookie
        return AuthenticationResult(user=user, auth=token)
