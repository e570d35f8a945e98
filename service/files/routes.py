"""HTTP routes for /files: small upload, listing, download (GET/HEAD, ranges), metadata,
presigned download URL, thumbnail, delete. Handlers only translate HTTP to service calls."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Any, AsyncIterator

from litestar import Request, Response, delete, get, head, post
from litestar.background_tasks import BackgroundTask
from litestar.datastructures import State
from litestar.exceptions import InternalServerException
from litestar.openapi.spec import OpenAPIMediaType, OpenAPIType, Operation, RequestBody, Schema
from litestar.params import Parameter
from litestar.response import Stream
from litestar.status_codes import HTTP_201_CREATED, HTTP_204_NO_CONTENT

from service.auth.schemas import AuthUser
from service.config import Settings
from service.db import Tx
from service.errors import Invalid
from service.files import download, service, upload
from service.files.formdata import UploadInterrupted
from service.files.schemas import DownloadUrl, FileCursorPage, FileInfo, FilePage

FILE_ID = "/files/{file_id:str}"


async def _request_body(request: Request[Any, Any, Any]) -> AsyncIterator[bytes]:
    try:
        async for chunk in request.stream():
            yield chunk
    except InternalServerException as exc:  # Litestar's way of saying the client went away
        raise UploadInterrupted("the client disconnected before the upload finished") from exc


def _content_length(request: Request[Any, Any, Any]) -> int | None:
    raw = request.headers.get("content-length")
    if raw is None:
        return None
    try:
        return int(raw)
    except ValueError:
        raise Invalid("Content-Length must be a number", code="invalid_content_length") from None


@dataclass
class UploadOperation(Operation):
    """POST /files reads its body as a stream (no `data` parameter), so its form is declared here
    for the OpenAPI document: API clients and the schema fuzzer then know what to send."""

    def __post_init__(self) -> None:
        self.request_body = RequestBody(required=True, content={"multipart/form-data": OpenAPIMediaType(
            schema=Schema(type=OpenAPIType.OBJECT, required=["file"], properties={
                "file": Schema(type=OpenAPIType.STRING, format="binary", description="the file (its name is kept)"),
                "sha256": Schema(type=OpenAPIType.STRING, pattern="^[0-9a-fA-F]{64}$",
                                 description="optional: the file's SHA-256 (hex); a mismatch is 400"),
            }))})


@post("/files", status_code=HTTP_201_CREATED, tags=["files"], request_max_body_size=None,
      operation_class=UploadOperation)
async def upload_file(request: Request[Any, Any, Any], state: State, settings: Settings,
                      user: AuthUser) -> Response[FileInfo]:
    """Upload a file as multipart/form-data: part `file`, optional field `sha256` (hex, before or
    after the file). Streamed to storage; 413 above MYBOX_SMALL_UPLOAD_MAX_BYTES; 400 on a
    sha256 mismatch (nothing is kept)."""
    # the body limit is enforced by the upload itself (Content-Length first, then counted bytes),
    # from settings, so Litestar's own limit is lifted for this route only
    info = await upload.upload_small(pool=state.pool, storage=state.storage, redis=state.redis,
                                     settings=settings, user_id=user.id, body=_request_body(request),
                                     content_type=request.headers.get("content-type"),
                                     content_length=_content_length(request))
    return Response(info, status_code=HTTP_201_CREATED, headers={"Location": f"/files/{info.id}/metadata"})


@get("/files", tags=["files"])
async def list_files(
    tx: Tx, user: AuthUser,
    page: Annotated[str | None, Parameter(description="offset mode: page number from 1")] = None,
    page_size: Annotated[str | None, Parameter(query="pageSize", description="1-100, default 20")] = None,
    cursor: Annotated[str | None, Parameter(description="cursor mode: nextCursor of the previous page")] = None,
    status: Annotated[list[str] | None, Parameter(description="only these statuses (comma-separated)")] = None,
) -> FilePage | FileCursorPage:
    """The caller's files, newest first. With `page`: offset mode with `total`; without:
    keyset mode with an opaque `nextCursor` (null at the end)."""
    return await service.list_files(tx, user.id, page=page, page_size=page_size, cursor=cursor, status=status)


@get(FILE_ID + "/metadata", tags=["files"])
async def file_metadata(tx: Tx, user: AuthUser, file_id: str) -> FileInfo:
    """A file's FileInfo."""
    return await service.metadata(tx, user.id, file_id)


def _headers(request: Request[Any, Any, Any]) -> dict[str, str]:
    return {k: request.headers.get(k) for k in ("range", "if-range", "if-none-match", "if-modified-since")
            if request.headers.get(k) is not None}


async def _send(plan: download.Plan) -> Response[Any]:
    if plan.status == 304:
        return Response(None, status_code=304, headers=plan.headers)
    body, release = await download.open_body(plan)
    return Stream(body, status_code=plan.status, headers=plan.headers, media_type=plan.headers["Content-Type"],
                  background=BackgroundTask(release))


@get(FILE_ID, tags=["files"])
async def download_file(tx: Tx, user: AuthUser, file_id: str, state: State, settings: Settings,
                        request: Request[Any, Any, Any]) -> Response[Any]:
    """The file's bytes, streamed; a single Range gives 206; If-None-Match 304; If-Range;
    409 while the file is not available."""
    plan = await download.plan_download(tx, user.id, file_id, _headers(request), hot=state.storage,
                                        cold=state.cold_storage, settings=settings)
    return await _send(plan)


@head(FILE_ID, tags=["files"])
async def head_file(tx: Tx, user: AuthUser, file_id: str, state: State, settings: Settings,
                    request: Request[Any, Any, Any]) -> Response[None]:
    """GET's headers without the body."""
    plan = await download.plan_download(tx, user.id, file_id, _headers(request), hot=state.storage,
                                        cold=state.cold_storage, settings=settings, record_access=False)
    return Response(None, status_code=plan.status, headers=plan.headers)


@get(FILE_ID + "/download-url", tags=["files"])
async def file_download_url(tx: Tx, user: AuthUser, file_id: str, state: State, settings: Settings) -> DownloadUrl:
    """A presigned S3 GET URL (no token needed, Range works) and when it expires."""
    return await download.download_url(tx, user.id, file_id, hot=state.storage, cold=state.cold_storage,
                                       settings=settings)


@get(FILE_ID + "/thumbnail", tags=["files"])
async def file_thumbnail(tx: Tx, user: AuthUser, file_id: str, state: State, request: Request[Any, Any, Any],
                         size: int | None = None) -> Response[Any]:
    """The file's WebP thumbnail (`size` 256, default, or 1280); 404 while none exists."""
    plan = await download.plan_thumbnail(tx, user.id, file_id, size, _headers(request), hot=state.storage)
    return await _send(plan)


@delete(FILE_ID, status_code=HTTP_204_NO_CONTENT, tags=["files"])
async def delete_file(tx: Tx, user: AuthUser, file_id: str, state: State, settings: Settings) -> None:
    """Delete a file: gone from listings and downloads at once; its bytes are removed."""
    await service.delete_file(tx, user.id, file_id, pool=state.pool, hot=state.storage, cold=state.cold_storage,
                              redis=state.redis, queue=settings.job_queue)


ROUTES = [upload_file, list_files, file_metadata, download_file, head_file, file_download_url, file_thumbnail,
          delete_file]
