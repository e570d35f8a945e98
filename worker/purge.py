"""The `purge_file(file_id)` job: remove the object and thumbnails of a deleted, aborted or
corrupt file (and abort its S3 multipart upload if one is left), then set purged_at.

Never touches a live file; removing what is already gone is not an error, so it may run any
number of times. Reconciliation re-enqueues it for rows still lacking purged_at.
"""

from __future__ import annotations

import logging

from service.storage import Storage
from worker import imaging, queries
from worker.common import TRANSIENT, parse_file_id, retry_later, thumb_key

log = logging.getLogger("mybox.worker.purge")


async def purge_file(ctx: dict, file_id: str) -> str:
    fid = parse_file_id(file_id)
    if fid is None:
        return "skipped: malformed id"
    try:
        row = await queries.file_row(ctx["pool"], fid)
        if row is None:
            return "skipped: no such file"
        if row.status not in queries.PURGEABLE:
            return f"skipped: file is {row.status}"
        if row.purged_at is not None:
            return "already purged"
        await remove_objects(ctx, row)
        await queries.mark_purged(ctx["pool"], fid)
    except TRANSIENT as exc:
        raise retry_later(ctx, exc) from exc
    log.info("purged %s (%s)", fid, row.status)
    return "purged"


async def remove_objects(ctx: dict, row: queries.FileRow) -> None:
    """Everything stored for this file, in whichever bucket it may be (a tier move may have been
    interrupted between copy and delete)."""
    hot: Storage = ctx["storage"]
    cold: Storage = ctx["cold_storage"]
    if row.s3_upload_id:
        await hot.abort_multipart(row.object_key, row.s3_upload_id)
    keys = {thumb_key(row.id, size) for size in imaging.SIZES}
    if row.thumbnail_key:
        keys.add(row.thumbnail_key)
    for key in sorted(keys):
        await hot.remove(key)
    await hot.remove(row.object_key)
    if cold.bucket != hot.bucket or cold.endpoint != hot.endpoint:
        await cold.remove(row.object_key)
