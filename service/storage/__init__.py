"""The only module that talks S3 (MinIO in production, SeaweedFS locally).

Keeps to the S3 API both servers share: buckets, CORS, streamed multipart PUT, ranged GET,
presigned GET/PUT (signed for the public host), ListParts, complete/abort, copy, delete.
"""

from service.storage.client import STREAM_PARALLEL, STREAM_PART_SIZE, Storage, cold_storage, hot_storage
from service.storage.types import (ListedObject, ObjectMissing, ObjectStat, PendingUpload, StorageUnavailable,
                                   StoredPart, normalize_etag)

__all__ = ["STREAM_PARALLEL", "STREAM_PART_SIZE", "ListedObject", "ObjectMissing", "ObjectStat", "PendingUpload",
           "Storage", "StorageUnavailable", "StoredPart", "cold_storage", "hot_storage", "normalize_etag"]
