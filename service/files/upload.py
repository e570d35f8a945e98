"""POST /files: a multipart/form-data body streamed into S3 while it is hashed.

The body is never held: the file part's bytes go from the socket through the multipart parser
into Storage.put_stream (8 MiB parts). The row is written only after the object is stored, in a
short transaction of its own (no connection is held while the client sends), and the object is
removed again when anything after that fails. The thumbnail job is enqueued after the commit."""

from __future__ import annotations

import hashlib
import logging
import re
import uuid
from typing import AsyncIterator
from uuid import UUID

import asyncpg
from arq.connections import ArqRedis

from service import jobs
from service.config import Settings
from service.db import transaction
from service.errors import Invalid, TooLarge, Unauthorized
from service.files import queries
from service.files.formdata import StreamingForm, boundary_of
from service.files.names import DEFAULT_CONTENT_TYPE, content_type_for, validate_name
from service.files.schemas import FileInfo, FileRow
from service.files.service import object_key, to_info
from service.storage import Storage

log = logging.getLogger("mybox.files.upload")

# room for the multipart framing, part headers and the sha256 field on top of the file itself
MULTIPART_OVERHEAD = 64 * 1024
_SHA256_RE = re.compile(r"[0-9a-f]{64}")


def max_body_bytes(settings: Settings) -> int:
    return settings.small_upload_max_bytes + MULTIPART_OVERHEAD


def parse_sha256(raw: bytes) -> str | None:
    """64 hex digits (any case); an empty field (a blank form input) means none was declared."""
    text = raw.decode("ascii", "replace").strip().lower()
    if not text:
        return None
    if not _SHA256_RE.fullmatch(text):
        raise Invalid("sha256 must be 64 hexadecimal digits", code="invalid_sha256", field="sha256")
    return text


def _mismatch(declared: str, actual: str) -> Invalid:
    return Invalid(f"sha256 mismatch: declared {declared}, the received bytes hash to {actual}; nothing was kept",
                   code="sha256_mismatch", field="sha256")


async def _verified(chunks: AsyncIterator[bytes], declared: str) -> AsyncIterator[bytes]:
    """Pass bytes through and fail at the end on a mismatch, so that put_stream aborts before
    anything is stored (used when the sha256 field arrives before the file)."""
    digest = hashlib.sha256()
    async for chunk in chunks:
        digest.update(chunk)
        yield chunk
    if digest.hexdigest() != declared:
        raise _mismatch(declared, digest.hexdigest())


async def _discard(storage: Storage, key: str) -> None:
    try:
        await storage.remove(key)
    except Exception:
        log.error("could not remove %s after a failed upload; it is an orphan object", key, exc_info=True)


def _part_content_type(declared: str | None, name: str) -> str:
    """The part's Content-Type; a generic application/octet-stream still gets a guess from the name."""
    if declared and declared.strip().lower() != DEFAULT_CONTENT_TYPE:
        return content_type_for(declared, name, field="file")
    return content_type_for(None, name)


async def upload_small(*, pool: asyncpg.Pool, storage: Storage, redis: ArqRedis | None, settings: Settings,
                       user_id: UUID, body: AsyncIterator[bytes], content_type: str | None,
                       content_length: int | None) -> FileInfo:
    limit = settings.small_upload_max_bytes
    if content_length is not None and content_length > max_body_bytes(settings):
        raise TooLarge(f"the body is {content_length} bytes; POST /files takes files up to {limit} bytes"
                       " (use POST /files/init-multipart for larger ones)", code="file_too_large")
    form = StreamingForm(body, boundary_of(content_type), max_body=max_body_bytes(settings))
    file_id = uuid.uuid4()
    key = object_key(file_id)
    declared: str | None = None
    stored: tuple[str, str, int, str] | None = None  # name, content type, size, sha256
    try:
        while (part := await form.next_part()) is not None:
            if part.name == "sha256":
                declared = parse_sha256(await form.read_value(256, "sha256"))
                if declared is not None and stored is not None and stored[3] != declared:
                    raise _mismatch(declared, stored[3])
            elif part.name == "file":
                if stored is not None:
                    raise Invalid("send exactly one part named 'file'", code="invalid_multipart", field="file")
                name = validate_name(part.filename, field="name")
                ctype = _part_content_type(part.content_type, name)
                data = form.iter_data() if declared is None else _verified(form.iter_data(), declared)
                size, sha256 = await storage.put_stream(key, data, content_type=ctype, max_bytes=limit)
                stored = (name, ctype, size, sha256)
            else:  # unknown fields are ignored (the body limit bounds them)
                await form.read_value(MULTIPART_OVERHEAD, part.name)
        if stored is None:
            raise Invalid("the form needs a part named 'file' carrying the file", code="missing_file", field="file")
        if declared is not None and declared != stored[3]:
            raise _mismatch(declared, stored[3])
    except BaseException:
        if stored is not None:
            await _discard(storage, key)
        raise

    name, ctype, size, sha256 = stored
    try:
        async with transaction(pool) as tx:
            row: FileRow = await queries.insert_available(
                tx.conn, file_id=file_id, user_id=user_id, name=name, size=size, content_type=ctype,
                object_key=key, sha256=sha256, declared_sha256=declared)
    except BaseException as exc:
        await _discard(storage, key)
        if isinstance(exc, asyncpg.ForeignKeyViolationError):  # the account was removed meanwhile
            raise Unauthorized("this account no longer exists", code="account_gone") from None
        raise
    await jobs.enqueue(redis, settings.job_queue, "thumbnail", str(file_id), job_id=f"thumb:{file_id}")
    return to_info(row)
