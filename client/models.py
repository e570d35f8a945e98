"""The service's JSON shapes (DESIGN.md), decoded with msgspec."""

from __future__ import annotations

from datetime import datetime

import msgspec


class FileInfo(msgspec.Struct, rename="camel"):
    id: str
    name: str
    size: int
    content_type: str
    status: str
    tier: str = "hot"
    sha256: str | None = None
    thumbnail_url: str | None = None
    created_at: datetime | None = None
    uploaded_at: datetime | None = None


class FilePage(msgspec.Struct, rename="camel"):
    items: list[FileInfo]
    page: int | None = None
    page_size: int | None = None
    total: int | None = None
    next_cursor: str | None = None


class Me(msgspec.Struct, rename="camel"):
    id: str
    username: str
    used_bytes: int = 0
    file_count: int = 0


class Token(msgspec.Struct, rename="camel"):
    token: str
    expires_at: datetime


class PartUrl(msgspec.Struct, rename="camel"):
    part_number: int
    url: str


class MultipartInit(msgspec.Struct, rename="camel"):
    file_id: str
    upload_id: str
    part_size: int
    part_count: int
    parts: list[PartUrl]
    expires_at: datetime                  # the upload session's expiry
    urls_expire_at: datetime | None = None  # when `parts` stop working, if the server says


class PartUrls(msgspec.Struct, rename="camel"):
    parts: list[PartUrl]
    expires_at: datetime


class PartComplete(msgspec.Struct, rename="camel"):
    file_id: str
    status: str
    completed_parts: list[int]
    part_count: int


class UploadState(msgspec.Struct, rename="camel"):
    file_id: str
    status: str
    part_size: int
    part_count: int
    completed_parts: list[int]
    upload_id: str | None = None
    expires_at: datetime | None = None


class DownloadUrl(msgspec.Struct, rename="camel"):
    url: str
    expires_at: datetime
