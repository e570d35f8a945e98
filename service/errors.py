"""Domain errors and the one place that maps every error to the JSON error shape:
{"status": 404, "code": "not_found", "message": "...", "field": "..." (optional)}."""

from __future__ import annotations

import logging
from typing import Any

log = logging.getLogger("mybox.errors")


class DomainError(Exception):
    status = 400
    code = "bad_request"

    def __init__(self, message: str, *, code: str | None = None, field: str | None = None,
                 headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.message = message
        if code:
            self.code = code
        self.field = field
        self.headers = headers or {}


class Invalid(DomainError):
    status, code = 400, "invalid"


class Unauthorized(DomainError):
    status, code = 401, "unauthorized"


class Forbidden(DomainError):
    status, code = 403, "forbidden"


class NotFound(DomainError):
    status, code = 404, "not_found"


class Conflict(DomainError):
    status, code = 409, "conflict"


class Gone(DomainError):
    status, code = 410, "gone"


class TooLarge(DomainError):
    status, code = 413, "too_large"


class RangeNotSatisfiable(DomainError):
    status, code = 416, "range_not_satisfiable"


class RateLimited(DomainError):
    status, code = 429, "rate_limited"


class Unavailable(DomainError):
    """A dependency (S3, Postgres, Redis) is down: the client may retry."""
    status, code = 503, "unavailable"


def error_body(status: int, code: str, message: str, field: str | None = None) -> dict[str, Any]:
    body: dict[str, Any] = {"status": status, "code": code, "message": message}
    if field:
        body["field"] = field
    return body
