"""POST /files/{fileId}/restore: bring an archived file back from the cold tier."""

from __future__ import annotations

from litestar import post
from litestar.datastructures import State
from litestar.status_codes import HTTP_202_ACCEPTED

from service.auth.schemas import AuthUser
from service.config import Settings
from service.db import Tx
from service.files.schemas import FileInfo
from service.files.service import to_info
from service.jobs import enqueue_after_commit
from service.tiering import service


@post("/files/{file_id:str}/restore", status_code=HTTP_202_ACCEPTED, tags=["files"])
async def restore_file(tx: Tx, user: AuthUser, file_id: str, state: State, settings: Settings) -> FileInfo:
    """202 and status `restoring` for a file in an archive cold tier; a job copies it back to
    the hot tier and it becomes `available`. 409 for any other file."""
    row = await service.request_restore(tx, user.id, file_id, archive=settings.cold_tier_mode == "archive")
    enqueue_after_commit(tx, state.redis, settings.job_queue, "restore_file", str(row.id), job_id=f"restore:{row.id}")
    return to_info(row)


ROUTES = [restore_file]
