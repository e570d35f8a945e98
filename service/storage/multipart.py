"""Client-driven S3 multipart uploads (presigned parts): create, list (paginated), complete, abort,
and the uploads S3 still holds. A mixin of Storage (uses self.client, self.bucket, self.storage_class)."""

from __future__ import annotations

from typing import AsyncIterator

from miniopy_async import Minio
from miniopy_async.datatypes import Part

from service.storage.types import ObjectMissing, PendingUpload, StoredPart, _translate, normalize_etag


class MultipartOps:
    client: Minio
    bucket: str
    storage_class: str

    async def create_multipart(self, key: str, content_type: str) -> str:
        headers = {"Content-Type": content_type}
        if self.storage_class:
            headers["x-amz-storage-class"] = self.storage_class
        try:
            return await self.client._create_multipart_upload(self.bucket, key, headers)
        except Exception as exc:
            raise _translate(exc) from exc

    async def list_parts(self, key: str, upload_id: str, *, page_size: int = 1000) -> list[StoredPart]:
        """All uploaded parts, following ListParts pagination past 1,000 parts (page_size is
        the max-parts of each page; smaller pages only exist to test the loop)."""
        out: list[StoredPart] = []
        marker: str | None = None
        try:
            while True:
                res = await self.client._list_parts(self.bucket, key, upload_id, max_parts=page_size,
                                                    part_number_marker=marker)
                out.extend(StoredPart(p.part_number, normalize_etag(p.etag), int(p.size or 0)) for p in res.parts)
                if not res.is_truncated or not res.next_part_number_marker:
                    return out
                marker = str(res.next_part_number_marker)
        except Exception as exc:
            raise _translate(exc) from exc

    async def get_part(self, key: str, upload_id: str, part_number: int) -> list[StoredPart]:
        """What S3 lists for one part number, in one request whatever the number: a ListParts page
        that starts right before it (part-number-marker = n - 1). Usually one entry; SeaweedFS
        keeps every upload of a part number (CompleteMultipartUpload picks the one whose ETag
        it is given), so all of them are returned. Empty when the part was never uploaded."""
        try:
            res = await self.client._list_parts(self.bucket, key, upload_id, max_parts=16,
                                                part_number_marker=str(part_number - 1) if part_number > 1 else None)
        except Exception as exc:
            raise _translate(exc) from exc
        return [StoredPart(p.part_number, normalize_etag(p.etag), int(p.size or 0))
                for p in res.parts if p.part_number == part_number]

    async def list_multipart_uploads(self, prefix: str = "") -> AsyncIterator[PendingUpload]:
        """Every unfinished multipart upload under prefix (ListMultipartUploads, paginated)."""
        key_marker: str | None = None
        id_marker: str | None = None
        while True:
            try:
                res = await self.client._list_multipart_uploads(self.bucket, prefix=prefix or None,
                                                                key_marker=key_marker, upload_id_marker=id_marker)
            except Exception as exc:
                raise _translate(exc) from exc
            for u in res.uploads:
                yield PendingUpload(u.object_name, u.upload_id or "", u.initiated_time)
            if not res.is_truncated or not (res.next_key_marker or res.next_upload_id_marker):
                return
            key_marker, id_marker = res.next_key_marker, res.next_upload_id_marker

    async def complete_multipart(self, key: str, upload_id: str, parts: list[tuple[int, str]]) -> None:
        try:
            await self.client._complete_multipart_upload(
                self.bucket, key, upload_id, [Part(n, e) for n, e in sorted(parts)])
        except Exception as exc:
            raise _translate(exc) from exc

    async def abort_multipart(self, key: str, upload_id: str) -> bool:
        """Abort an upload; False (not an error) when S3 no longer knows it."""
        try:
            await self.client._abort_multipart_upload(self.bucket, key, upload_id)
            return True
        except Exception as exc:
            err = _translate(exc)
            if isinstance(err, ObjectMissing):
                return False
            raise err from exc
