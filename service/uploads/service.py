"""Multipart uploads: sessions, presigned part URLs, verified part reports, completion, abort.

Every call on one upload takes the session row lock (SELECT ... FOR UPDATE OF s) before it
looks at the state, so part reports, the completion, an abort and the expiry sweep never
interleave. Nothing the client says is trusted: every reported part is checked against S3.
"""

from __future__ import annotations

import logging
import re
import uuid
from datetime import datetime, timedelta, timezone
from uuid import UUID

from arq.connections import ArqRedis
from miniopy_async.error import S3Error

from service.auth.schemas import AuthUser
from service.config import Settings
from service.db import Tx
from service.errors import Conflict, Gone, Invalid, NotFound, TooLarge
from service.files.names import content_type_for, validate_name
from service.jobs import enqueue_after_commit
from service.storage import ObjectMissing, Storage, normalize_etag
from service.uploads import queries
from service.uploads.partsize import MAX_MULTIPART_BYTES, part_length, resolve_part_size
from service.uploads.schemas import (InitMultipartIn, InitMultipartOut, PartCompleteIn, PartCompleteOut,
                                     PartUrl, PartUrlsOut, Session, UploadStatusOut)

log = logging.getLogger("mybox.uploads")

FIRST_URLS = 100          # part URLs handed out by init-multipart
MAX_URLS_PER_CALL = 1000  # part-urls signs at most this many per request
SHA256_RE = re.compile(r"[0-9a-fA-F]{64}")
FINISHED_OK = ("available", "verifying", "corrupt", "restoring")


def _now() -> datetime:
    return datetime.now(timezone.utc)


def validate_init(data: InitMultipartIn, max_file_bytes: int) -> tuple[int, int]:
    """Check the request; returns (part_size, part_count). Errors name the field and the rule."""
    validate_name(data.name)  # the same rule as POST /files
    if not data.content_type:
        raise Invalid("contentType is required (e.g. application/octet-stream)", code="invalid_content_type",
                      field="contentType")
    content_type_for(data.content_type, data.name)
    if data.sha256 is not None and not SHA256_RE.fullmatch(data.sha256):
        raise Invalid("sha256 must be 64 hexadecimal characters", code="invalid_sha256", field="sha256")
    if data.size < 1:
        raise Invalid("size must be at least 1 byte", code="invalid_size", field="size")
    limit = min(max_file_bytes, MAX_MULTIPART_BYTES)
    if data.size > limit:
        raise TooLarge(f"size {data.size} is larger than the limit of {limit} bytes", code="file_too_large",
                       field="size")
    return resolve_part_size(data.size, data.part_size)


def _url_ttl(settings: Settings, expires_at: datetime) -> timedelta:
    left = (expires_at - _now()).total_seconds()
    return timedelta(seconds=max(1, min(settings.presign_ttl_seconds, int(left))))


async def _sign(storage: Storage, key: str, upload_id: str, numbers: list[int], ttl: timedelta) -> list[PartUrl]:
    return [PartUrl(part_number=n, url=await storage.presign_part(key, upload_id, n, ttl)) for n in numbers]


async def init_multipart(tx: Tx, storage: Storage, settings: Settings, user: AuthUser,
                         data: InitMultipartIn) -> InitMultipartOut:
    part_size, count = validate_init(data, settings.max_file_bytes)
    file_id = uuid.uuid4()
    key = f"objects/{file_id}"
    expires_at = _now() + timedelta(seconds=settings.upload_ttl_seconds)
    upload_id = await storage.create_multipart(key, data.content_type)
    try:
        await queries.insert_upload(
            tx.conn, file_id=file_id, user_id=user.id, name=data.name, size=data.size,
            content_type=data.content_type, object_key=key,
            declared_sha256=data.sha256.lower() if data.sha256 else None, upload_id=upload_id,
            part_size=part_size, part_count=count, expires_at=expires_at)
        ttl = _url_ttl(settings, expires_at)
        parts = await _sign(storage, key, upload_id, list(range(1, min(count, FIRST_URLS) + 1)), ttl)
    except BaseException:
        # the S3 upload exists but the session will not: abort it now (the orphan sweep is the backstop)
        try:
            await storage.abort_multipart(key, upload_id)
        except Exception:
            log.warning("could not abort S3 upload %s after a failed init", upload_id, exc_info=True)
        raise
    return InitMultipartOut(file_id=file_id, upload_id=upload_id, part_size=part_size, part_count=count,
                            parts=parts, expires_at=expires_at, urls_expire_at=_now() + ttl)


async def _load(tx: Tx, user: AuthUser, file_id: UUID, *, lock: bool) -> Session:
    """The caller's session: 404 for no such upload (or another user's), 410 once expired."""
    s = await queries.session(tx.conn, file_id, user.id, lock=lock)
    if s is None:
        if await queries.file_status(tx.conn, file_id, user.id) == "aborted":
            raise Gone("this upload session has expired", code="upload_expired")
        raise NotFound("no such upload", code="upload_not_found")
    if s.status == "deleted":
        raise NotFound("no such upload", code="upload_not_found")
    if s.status in ("uploading", "aborted") and s.expires_at <= _now():
        raise Gone("this upload session has expired", code="upload_expired")
    return s


def _all_parts(s: Session) -> list[int]:
    return list(range(1, s.part_count + 1))


async def upload_status(tx: Tx, user: AuthUser, file_id: UUID) -> UploadStatusOut:
    s = await _load(tx, user, file_id, lock=False)
    if s.status == "uploading":
        done = await queries.part_numbers(tx.conn, file_id)
    else:
        done = [] if s.status == "aborted" else _all_parts(s)
    return UploadStatusOut(file_id=s.file_id, upload_id=s.s3_upload_id, status=s.status, part_size=s.part_size,
                           part_count=s.part_count, completed_parts=done, expires_at=s.expires_at)


def _require_uploading(s: Session) -> None:
    if s.status == "aborted":
        raise Conflict("this upload was aborted", code="upload_aborted")
    if s.status != "uploading":
        raise Conflict(f"this upload is already complete (status {s.status})", code="upload_complete")


async def part_urls(tx: Tx, storage: Storage, settings: Settings, user: AuthUser, file_id: UUID,
                    numbers: list[int]) -> PartUrlsOut:
    if not numbers:
        raise Invalid("partNumbers must name at least one part", code="invalid_part_numbers", field="partNumbers")
    wanted = sorted(set(numbers))
    if len(wanted) > MAX_URLS_PER_CALL:
        raise Invalid(f"at most {MAX_URLS_PER_CALL} part numbers per request", code="too_many_part_numbers",
                      field="partNumbers")
    s = await _load(tx, user, file_id, lock=False)
    _require_uploading(s)
    unknown = [n for n in wanted if not 1 <= n <= s.part_count]
    if unknown:
        raise Invalid(f"unknown part numbers {unknown[:10]}: this upload has parts 1..{s.part_count}",
                      code="unknown_part", field="partNumbers")
    ttl = _url_ttl(settings, s.expires_at)
    parts = await _sign(storage, s.object_key, s.s3_upload_id, wanted, ttl)
    return PartUrlsOut(parts=parts, expires_at=_now() + ttl, session_expires_at=s.expires_at)


async def part_complete(tx: Tx, storage: Storage, redis: ArqRedis | None, settings: Settings, user: AuthUser,
                        file_id: UUID, data: PartCompleteIn) -> PartCompleteOut:
    etag = normalize_etag(data.etag)
    if not etag or len(etag) > 128:
        raise Invalid("etag must be the ETag header S3 returned for the part", code="invalid_etag", field="etag")
    s = await _load(tx, user, file_id, lock=True)
    if s.status in FINISHED_OK:  # a repeated report after completion: harmless
        return PartCompleteOut(file_id=s.file_id, status=s.status, completed_parts=_all_parts(s),
                               part_count=s.part_count)
    _require_uploading(s)
    n = data.part_number
    if not 1 <= n <= s.part_count:
        raise Invalid(f"unknown part number {n}: this upload has parts 1..{s.part_count}", code="unknown_part",
                      field="partNumber")
    try:
        versions = await storage.get_part(s.object_key, s.s3_upload_id, n)
    except ObjectMissing:
        return await _recover(tx, storage, redis, settings, s)
    if not versions:
        raise Conflict(f"part {n} has not been uploaded (S3 has no such part)", code="part_missing",
                       field="partNumber")
    stored = next((v for v in versions if v.etag == etag), None)
    if stored is None:
        raise Conflict(f"etag for part {n} does not match: S3 has {', '.join(v.etag for v in versions)}, "
                       f"reported {etag}", code="etag_mismatch", field="etag")
    expected = part_length(s.size, s.part_size, n)
    if stored.size != expected:
        raise Conflict(f"part {n} has {stored.size} bytes in S3; it must have {expected}",
                       code="part_size_mismatch", field="partNumber")
    await queries.record_part(tx.conn, s.file_id, n, etag, stored.size)
    recorded = await queries.completed_parts(tx.conn, s.file_id)
    if len(recorded) == s.part_count:
        return await _complete(tx, storage, redis, settings, s, recorded)
    await queries.set_durable_commit(tx.conn, False)
    return PartCompleteOut(file_id=s.file_id, status="uploading", completed_parts=sorted(recorded),
                           part_count=s.part_count)


async def _complete(tx: Tx, storage: Storage, redis: ArqRedis | None, settings: Settings, s: Session,
                    recorded: dict[int, tuple[str, int]]) -> PartCompleteOut:
    """Every part is recorded (and we hold the session lock): compare with S3's full list, complete
    the S3 upload, check the object's size, and mark the file. Any failure before the status
    update rolls the request back, so the client retries its report; the file is never
    `available` unless the object is whole."""
    try:
        stored = await storage.list_parts(s.object_key, s.s3_upload_id)
    except ObjectMissing:
        return await _recover(tx, storage, redis, settings, s)
    listed: dict[int, set[tuple[str, int]]] = {}
    for p in stored:
        listed.setdefault(p.part_number, set()).add((p.etag, p.size))
    stale = [n for n, rec in recorded.items() if rec not in listed.get(n, ())]
    if stale:  # a part was re-uploaded after it was reported: the client must report it again
        log.warning("upload %s: parts %s changed in S3 since they were reported", s.file_id, stale[:20])
        await queries.forget_parts(tx.conn, s.file_id, stale)
        return PartCompleteOut(file_id=s.file_id, status="uploading",
                               completed_parts=sorted(set(recorded) - set(stale)), part_count=s.part_count)
    try:
        await storage.complete_multipart(s.object_key, s.s3_upload_id, [(n, e) for n, (e, _) in recorded.items()])
    except ObjectMissing:
        pass  # a previous attempt completed it in S3 and then failed; the size check below decides
    except S3Error as exc:
        raise Conflict(f"S3 refused to complete the upload ({exc.code}); report the parts again",
                       code="complete_failed") from exc
    return await _finalize(tx, storage, redis, settings, s)


async def _finalize(tx: Tx, storage: Storage, redis: ArqRedis | None, settings: Settings,
                    s: Session) -> PartCompleteOut:
    try:
        size = (await storage.stat(s.object_key)).size
    except ObjectMissing:
        raise Conflict("the upload no longer exists in storage; start a new upload", code="upload_missing") from None
    fid = str(s.file_id)
    if size != s.size:
        log.error("upload %s: object has %d bytes, declared %d; marking corrupt", s.file_id, size, s.size)
        await queries.finish(tx.conn, s.file_id, "corrupt")
        enqueue_after_commit(tx, redis, settings.job_queue, "purge_file", fid, job_id=f"purge:{fid}")
        return PartCompleteOut(file_id=s.file_id, status="corrupt", completed_parts=_all_parts(s),
                               part_count=s.part_count)
    status = "verifying" if s.declared_sha256 else "available"
    await queries.finish(tx.conn, s.file_id, status)
    log.info("upload %s completed: %d parts, %d bytes, %s", s.file_id, s.part_count, size, status)
    enqueue_after_commit(tx, redis, settings.job_queue, "verify_checksum", fid, job_id=f"verify:{fid}")
    if status == "available":
        # a `verifying` file gets its thumbnail job from verify_checksum once it is available; a
        # thumbnail job queued now would only skip it, and while that job is in flight its id
        # swallows the verification's enqueue (the thumbnail then waited for reconciliation)
        enqueue_after_commit(tx, redis, settings.job_queue, "thumbnail", fid, job_id=f"thumb:{fid}")
    return PartCompleteOut(file_id=s.file_id, status=status, completed_parts=_all_parts(s), part_count=s.part_count)


async def _recover(tx: Tx, storage: Storage, redis: ArqRedis | None, settings: Settings,
                   s: Session) -> PartCompleteOut:
    """S3 no longer knows the upload while the session is open: either an earlier completion
    reached S3 but not the database (the object is there, whole: finish it now), or the upload
    was lost (409; the sweep cleans up at expiry)."""
    log.warning("upload %s: S3 upload %s is gone; checking for a completed object", s.file_id, s.s3_upload_id)
    return await _finalize(tx, storage, redis, settings, s)


async def abort(tx: Tx, storage: Storage, user: AuthUser, file_id: UUID) -> None:
    """Abort the S3 upload and mark the file `aborted`; repeating it is harmless."""
    s = await _load(tx, user, file_id, lock=True)
    if s.status == "aborted":
        return
    if s.status != "uploading":
        raise Conflict(f"this upload is already complete (status {s.status}); delete the file instead",
                       code="upload_complete")
    if not await storage.abort_multipart(s.object_key, s.s3_upload_id):
        await storage.remove(s.object_key)  # a completion that reached S3 but not the database
    await queries.finish(tx.conn, s.file_id, "aborted", purged=True)
