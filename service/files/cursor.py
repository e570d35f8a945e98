"""The opaque listing cursor: a position (created_at, id) in newest-first order, as base64url.

Layout: version byte, created_at as int64 microseconds since the Unix epoch, 16-byte UUID.
A cursor only moves its holder within their own listing, so it is not signed."""

from __future__ import annotations

import base64
import binascii
import struct
from datetime import datetime, timedelta, timezone
from uuid import UUID

from service.errors import Invalid

_VERSION = 1
_LAYOUT = struct.Struct(">Bq16s")
_EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)
_MICRO = timedelta(microseconds=1)


def encode_cursor(created_at: datetime, file_id: UUID) -> str:
    micros = (created_at - _EPOCH) // _MICRO
    raw = _LAYOUT.pack(_VERSION, micros, file_id.bytes)
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")


def decode_cursor(cursor: str) -> tuple[datetime, UUID]:
    garbled = Invalid("cursor is not one this server issued; start again without a cursor",
                      code="invalid_cursor", field="cursor")
    text = cursor.strip()
    if not text or len(text) > 64:
        raise garbled
    try:
        raw = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
        if len(raw) != _LAYOUT.size or base64.urlsafe_b64encode(raw).rstrip(b"=").decode() != text:
            raise garbled
        version, micros, id_bytes = _LAYOUT.unpack(raw)
        if version != _VERSION:
            raise garbled
        return _EPOCH + micros * _MICRO, UUID(bytes=id_bytes)
    except (binascii.Error, ValueError, OverflowError, struct.error) as exc:
        raise garbled from exc
