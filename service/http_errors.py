"""Maps every exception to the JSON error shape (Litestar side of service.errors)."""

from __future__ import annotations

import logging
import re

import asyncpg
from litestar import Request, Response
from litestar.exceptions import HTTPException, ValidationException
from litestar.status_codes import HTTP_500_INTERNAL_SERVER_ERROR

from service.db import CONNECTION_GONE
from service.errors import DomainError, error_body
from service.storage import StorageUnavailable

log = logging.getLogger("mybox.http")

_CODES = {400: "bad_request", 401: "unauthorized", 403: "forbidden", 404: "not_found",
          405: "method_not_allowed", 409: "conflict", 413: "too_large", 415: "unsupported_media_type",
          429: "rate_limited", 503: "unavailable"}


def _validation_field(exc: ValidationException) -> tuple[str, str | None]:
    """The first problem, as 'field: what is wrong', and the field's name."""
    extra = exc.extra if isinstance(exc.extra, list) else []
    for item in extra:
        if not isinstance(item, dict):
            continue
        msg = str(item.get("message", exc.detail))
        m = re.search(r"required field `([^`]+)`", msg) or re.search(r"at `\$\.?([^`\[]*)", msg)
        field = m.group(1) if m else item.get("key")
        if field in (None, "data", ""):
            field = None
        return (f"{field}: {msg}" if field else msg), field
    return str(exc.detail), None


def exception_handler(request: Request, exc: Exception) -> Response:
    headers: dict[str, str] = {}
    if isinstance(exc, DomainError):
        status, code, message, field = exc.status, exc.code, exc.message, exc.field
        headers = exc.headers
    elif isinstance(exc, ValidationException):
        message, field = _validation_field(exc)
        status, code = 400, "invalid"
    elif isinstance(exc, HTTPException):
        status = exc.status_code
        code = _CODES.get(status, "error")
        message, field = str(exc.detail), None
        headers = dict(exc.headers or {})
    elif isinstance(exc, StorageUnavailable):
        status, code, message, field = 503, "storage_unavailable", str(exc), None
        headers = {"Retry-After": "5"}
    elif isinstance(exc, (*CONNECTION_GONE, asyncpg.TooManyConnectionsError, ConnectionError, TimeoutError)):
        log.warning("dependency unavailable: %r", exc)
        status, code, message, field = 503, "unavailable", "a backing service is unavailable; retry shortly", None
        headers = {"Retry-After": "5"}
    else:
        log.exception("unhandled error on %s %s", request.method, request.url.path)
        status, code, message, field = HTTP_500_INTERNAL_SERVER_ERROR, "internal", "internal server error", None
    return Response(content=error_body(status, code, message, field), status_code=status,
                    headers=headers, media_type="application/json")
