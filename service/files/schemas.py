"""Request and response shapes for /files (camelCase on the wire)."""

from __future__ import annotations

from datetime import datetime
from uuid import UUID

import msgspec


class FileRow(msgspec.Struct):
    """One files row as the files room reads it."""
    id: UUID
    user_id: UUID
    name: str
    size: int
    content_type: str
    status: str
    tier: str
    object_key: str
    sha256: str | None
    thumbnail_key: str | None
    created_at: datetime
    uploaded_at: datetime | None
    last_accessed_at: datetime | None


class FileInfo(msgspec.Struct, rename="camel"):
    id: UUID
    name: str
    size: int
    content_type: str
    status: str
    tier: str
    sha256: str | None
    thumbnail_url: str | None
    created_at: datetime
    uploaded_at: datetime | None


class FilePage(msgspec.Struct, rename="camel"):
    """Offset mode (`page` given): page, pageSize and total, plus a cursor to continue by keyset."""
    items: list[FileInfo]
    page: int
    page_size: int
    total: int
    next_cursor: str | None


class FileCursorPage(msgspec.Struct, rename="camel"):
    """Cursor mode (no `page`): `nextCursor` is null at the end."""
    items: list[FileInfo]
    next_cursor: str | None


class DownloadUrl(msgspec.Struct, rename="camel"):
    url: str
    expires_at: datetime
