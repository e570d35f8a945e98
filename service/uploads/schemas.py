"""Request and response bodies of the multipart upload routes (camelCase on the wire)."""

from __future__ import annotations

from datetime import datetime
from uuid import UUID

import msgspec


class InitMultipartIn(msgspec.Struct, rename="camel"):
    name: str
    size: int
    content_type: str = "application/octet-stream"
    sha256: str | None = None
    part_size: int | None = None


class PartUrl(msgspec.Struct, rename="camel"):
    part_number: int
    url: str


class InitMultipartOut(msgspec.Struct, rename="camel"):
    file_id: UUID
    upload_id: str
    part_size: int
    part_count: int
    parts: list[PartUrl]
    expires_at: datetime        # the session's expiry
    urls_expire_at: datetime    # when these part URLs stop working (refresh with part-urls)


class PartUrlsIn(msgspec.Struct, rename="camel"):
    part_numbers: list[int]


class PartUrlsOut(msgspec.Struct, rename="camel"):
    parts: list[PartUrl]
    expires_at: datetime        # when these URLs stop working
    session_expires_at: datetime


class PartCompleteIn(msgspec.Struct, rename="camel"):
    part_number: int
    etag: str


class PartCompleteOut(msgspec.Struct, rename="camel"):
    file_id: UUID
    status: str
    completed_parts: list[int]
    part_count: int


class UploadStatusOut(msgspec.Struct, rename="camel"):
    file_id: UUID
    upload_id: str
    status: str
    part_size: int
    part_count: int
    completed_parts: list[int]
    expires_at: datetime


class Session(msgspec.Struct):
    """One upload session joined with its file row (what every route loads first)."""
    file_id: UUID
    user_id: UUID
    object_key: str
    size: int
    status: str
    declared_sha256: str | None
    s3_upload_id: str
    part_size: int
    part_count: int
    expires_at: datetime
    finished_at: datetime | None


class ExpiredSession(msgspec.Struct):
    file_id: UUID
    object_key: str
    s3_upload_id: str
