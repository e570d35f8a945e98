"""HTTP range and conditional-request rules for downloads (RFC 9110 §13-14), as pure functions.

Only a single byte range is served; a header the server does not understand, or one asking for
several ranges, is ignored (a 200 with the whole file), which RFC 9110 allows."""

from __future__ import annotations

import re
from datetime import datetime, timezone
from email.utils import format_datetime, parsedate_to_datetime

from service.errors import RangeNotSatisfiable

_RANGE_RE = re.compile(r"\s*bytes\s*=\s*([0-9]*)\s*-\s*([0-9]*)\s*", re.IGNORECASE | re.ASCII)
_BEYOND_ANY_FILE = 10**18  # a position with more digits than this is past the end of any file


def _position(digits: str) -> int:
    """A byte position; a number too long to convert (Python refuses > 4300 digits) is simply
    beyond the end of any file."""
    return int(digits) if len(digits) <= 18 else _BEYOND_ANY_FILE


def http_date(moment: datetime) -> str:
    return format_datetime(moment.astimezone(timezone.utc), usegmt=True)


def parse_http_date(value: str | None) -> datetime | None:
    if not value:
        return None
    try:
        parsed = parsedate_to_datetime(value.strip())
    except (TypeError, ValueError, IndexError):
        return None
    if parsed is None:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=timezone.utc)


def _whole_seconds(moment: datetime) -> datetime:
    return moment.replace(microsecond=0)


def parse_range(header: str | None, size: int) -> tuple[int, int] | None:
    """(start, end) inclusive for a satisfiable single range; None to serve the whole file;
    RangeNotSatisfiable (416, Content-Range: bytes */size) when the range cannot be served."""
    if header is None:
        return None
    match = _RANGE_RE.fullmatch(header)
    if not match:
        return None  # other units, several ranges or garbage: ignore the header
    first, last = match.groups()
    unsatisfiable = RangeNotSatisfiable(f"range {header.strip()!r} is outside the file's {size} bytes",
                                        headers={"Content-Range": f"bytes */{size}"})
    if first == "" and last == "":
        return None
    if first == "":  # suffix: the last N bytes
        suffix = _position(last)
        if suffix == 0 or size == 0:
            raise unsatisfiable
        return max(size - suffix, 0), size - 1
    start = _position(first)
    end = _position(last) if last else size - 1
    if last and end < start:
        raise unsatisfiable
    if start >= size:
        raise unsatisfiable
    return start, min(end, size - 1)


def _etags(header: str) -> list[str]:
    return [tag.strip() for tag in header.split(",") if tag.strip()]


def _opaque(tag: str) -> str:
    return tag[2:] if tag.startswith("W/") else tag


def none_match(header: str | None, etag: str) -> bool:
    """If-None-Match (weak comparison): True when the client's copy is current."""
    if header is None:
        return False
    tags = _etags(header)
    return "*" in tags or any(_opaque(t) == _opaque(etag) for t in tags)


def not_modified_since(header: str | None, last_modified: datetime) -> bool:
    since = parse_http_date(header)
    return since is not None and _whole_seconds(last_modified) <= since


def if_range_allows(header: str | None, etag: str, last_modified: datetime) -> bool:
    """If-Range: the Range applies only when the validator still matches (strong comparison);
    otherwise the whole file is sent."""
    if header is None:
        return True
    value = header.strip()
    if value.startswith('"') or value.startswith("W/"):
        return not value.startswith("W/") and value == etag
    since = parse_http_date(value)
    return since is not None and _whole_seconds(last_modified) == since
