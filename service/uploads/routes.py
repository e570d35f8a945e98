"""HTTP routes for large files: S3 multipart through presigned part URLs."""

from __future__ import annotations

from uuid import UUID

from litestar import Response, delete, get, post
from litestar.datastructures import State
from litestar.status_codes import HTTP_200_OK, HTTP_201_CREATED, HTTP_204_NO_CONTENT

from service.auth.schemas import AuthUser
from service.config import Settings
from service.db import Tx
from service.storage import Storage
from service.uploads import service
from service.uploads.schemas import (InitMultipartIn, InitMultipartOut, PartCompleteIn, PartCompleteOut,
                                     PartUrlsIn, PartUrlsOut, UploadStatusOut)


@post("/files/init-multipart", status_code=HTTP_201_CREATED, tags=["uploads"])
async def init_multipart(data: InitMultipartIn, tx: Tx, storage: Storage, settings: Settings,
                         user: AuthUser) -> InitMultipartOut:
    """Start a large upload: returns the part size, part count and presigned URLs for the first
    parts. PUT each part to its URL (any order, in parallel) and report its ETag."""
    return await service.init_multipart(tx, storage, settings, user, data)


@post("/files/{file_id:uuid}/part-urls", status_code=HTTP_200_OK, tags=["uploads"])
async def part_urls(file_id: UUID, data: PartUrlsIn, tx: Tx, storage: Storage, settings: Settings,
                    user: AuthUser) -> PartUrlsOut:
    """Fresh presigned URLs for any parts (the rest of a large file, or after the URLs expired)."""
    return await service.part_urls(tx, storage, settings, user, file_id, data.part_numbers)


@post("/files/{file_id:uuid}/part-complete", status_code=HTTP_200_OK, tags=["uploads"])
async def part_complete(file_id: UUID, data: PartCompleteIn, tx: Tx, storage: Storage, settings: Settings,
                        user: AuthUser, state: State) -> PartCompleteOut:
    """Report an uploaded part (its ETag as S3 sent it). The part is checked against S3; the
    report that records the last part completes the upload."""
    return await service.part_complete(tx, storage, state.redis, settings, user, file_id, data)


@get("/files/{file_id:uuid}/upload", tags=["uploads"])
async def upload_status(file_id: UUID, tx: Tx, user: AuthUser) -> UploadStatusOut:
    """Resume information: status, part size and count, the parts already recorded, expiry."""
    return await service.upload_status(tx, user, file_id)


@delete("/files/{file_id:uuid}/upload", status_code=HTTP_204_NO_CONTENT, tags=["uploads"])
async def abort_upload(file_id: UUID, tx: Tx, storage: Storage, user: AuthUser) -> Response[None]:
    """Cancel an upload: the parts are dropped from storage and the file is `aborted`."""
    await service.abort(tx, storage, user, file_id)
    return Response(None, status_code=HTTP_204_NO_CONTENT)


ROUTES = [init_multipart, part_urls, part_complete, upload_status, abort_upload]
