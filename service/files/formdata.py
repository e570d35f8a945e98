"""A streaming multipart/form-data reader over an async byte stream (python-multipart's push
parser underneath). Parts are read in order; a part's data is yielded as it arrives, so a file
part can be piped to S3 without holding it. The body size is counted as it streams."""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field
from typing import AsyncIterator
from urllib.parse import unquote

from python_multipart import MultipartParser
from python_multipart.exceptions import MultipartParseError
from python_multipart.multipart import parse_options_header

from service.errors import DomainError, Invalid, TooLarge


class UnsupportedMediaType(DomainError):
    status, code = 415, "unsupported_media_type"


class UploadInterrupted(Invalid):
    """The client stopped sending before the body was complete."""
    code = "upload_interrupted"


def boundary_of(content_type: str | None) -> bytes:
    """The boundary of a multipart/form-data Content-Type, or 415/400."""
    ctype, params = parse_options_header(content_type or "")
    if ctype != b"multipart/form-data":
        raise UnsupportedMediaType("send the file as multipart/form-data with a part named 'file'")
    boundary = params.get(b"boundary", b"")
    if not 1 <= len(boundary) <= 70:
        raise Invalid("multipart/form-data needs a boundary of 1-70 characters", code="invalid_multipart")
    return boundary


def _decode(raw: bytes, field: str | None = None) -> str:
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        what = "the file name" if field == "name" else "part headers"
        raise Invalid(f"{what} must be UTF-8", code="invalid_name" if field else "invalid_multipart",
                      field=field) from None


@dataclass
class FormPart:
    name: str
    filename: str | None
    content_type: str | None
    headers: dict[str, str] = field(default_factory=dict)


def _part_from_headers(headers: dict[str, str]) -> FormPart:
    disposition = headers.get("content-disposition")
    if disposition is None:
        raise Invalid("a multipart part lacks Content-Disposition", code="invalid_multipart")
    # header values are kept as latin-1 text (one char per byte); names are UTF-8 on the wire
    kind, params = parse_options_header(disposition)
    if kind != b"form-data" or b"name" not in params:
        raise Invalid("each part needs 'Content-Disposition: form-data; name=...'", code="invalid_multipart")
    name = _decode(params[b"name"])
    filename = _decode(params[b"filename"], "name") if b"filename" in params else None
    if filename is None:
        # RFC 7578 forbids filename*, but some clients still send it (RFC 5987 form)
        for segment in disposition.split(";"):
            key, _, value = segment.strip().partition("=")
            if key.strip().lower() == "filename*" and "''" in value:
                charset, _, encoded = value.strip().strip('"').partition("''")
                try:
                    filename = unquote(encoded, encoding=charset.split("'")[0] or "utf-8", errors="strict")
                except (LookupError, UnicodeDecodeError):
                    raise Invalid("filename* is not valid percent-encoded text", code="invalid_name",
                                  field="name") from None
    return FormPart(name=name, filename=filename, content_type=headers.get("content-type"), headers=headers)


class StreamingForm:
    """Reads parts one by one: `await next_part()`, then `iter_data()` / `read_value()` for it."""

    def __init__(self, chunks: AsyncIterator[bytes], boundary: bytes, *, max_body: int) -> None:
        self._chunks = chunks.__aiter__()
        self._max_body = max_body
        self.received = 0
        self._events: deque[tuple] = deque()
        self._header_field = bytearray()
        self._header_value = bytearray()
        self._headers: dict[str, str] = {}
        self._in_part = False  # inside a part's data that the caller has not consumed
        self._finished = False
        self._source_done = False
        self._parser = MultipartParser(boundary, {
            "on_part_begin": self._on_part_begin,
            "on_header_field": lambda d, s, e: self._header_field.extend(d[s:e]),
            "on_header_value": lambda d, s, e: self._header_value.extend(d[s:e]),
            "on_header_end": self._on_header_end,
            "on_headers_finished": lambda: self._events.append(("headers", self._headers)),
            "on_part_data": self._on_part_data,
            "on_part_end": lambda: self._events.append(("part_end",)),
            "on_end": lambda: self._events.append(("end",)),
        }, max_header_count=16, max_header_size=8192)

    # --- parser callbacks --------------------------------------------------------------
    def _on_part_begin(self) -> None:
        self._headers = {}

    def _on_header_end(self) -> None:
        key = bytes(self._header_field).decode("latin-1").strip().lower()
        self._headers[key] = bytes(self._header_value).decode("latin-1").strip()
        self._header_field.clear()
        self._header_value.clear()

    def _on_part_data(self, data: bytes, start: int, end: int) -> None:
        if end > start:
            self._events.append(("data", data if start == 0 and end == len(data) else data[start:end]))

    # --- pulling -----------------------------------------------------------------------
    async def _pump(self) -> None:
        """Feed the parser until it has produced at least one event."""
        while not self._events:
            if self._source_done:
                raise UploadInterrupted("the multipart body ended before its closing boundary",
                                        code="upload_interrupted")
            try:
                chunk = await self._chunks.__anext__()
            except StopAsyncIteration:
                self._source_done = True
                continue
            if not chunk:
                continue
            self.received += len(chunk)
            if self.received > self._max_body:
                raise TooLarge(f"request body is larger than the limit of {self._max_body} bytes",
                               code="file_too_large")
            try:
                self._parser.write(chunk)
            except MultipartParseError as exc:
                raise Invalid(f"malformed multipart body: {exc}", code="invalid_multipart") from None

    async def _next_event(self) -> tuple:
        await self._pump()
        return self._events.popleft()

    async def next_part(self) -> FormPart | None:
        """The next part's headers, or None after the closing boundary."""
        if self._in_part:
            async for _ in self.iter_data():
                pass
        while not self._finished:
            event = await self._next_event()
            if event[0] == "headers":
                self._in_part = True
                return _part_from_headers(event[1])
            if event[0] == "end":
                self._finished = True
        return None

    async def iter_data(self) -> AsyncIterator[bytes]:
        """The current part's bytes as they arrive; ends at the part's boundary."""
        while self._in_part:
            event = await self._next_event()
            if event[0] == "data":
                yield event[1]
            elif event[0] == "part_end":
                self._in_part = False

    async def read_value(self, limit: int, field: str) -> bytes:
        out = bytearray()
        async for data in self.iter_data():
            out += data
            if len(out) > limit:
                raise Invalid(f"form field '{field}' is longer than {limit} bytes", code="invalid", field=field)
        return bytes(out)
