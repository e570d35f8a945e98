"""Property tests (hypothesis) for the pure parsers that take what clients send: Range headers,
listing cursors, part sizes, file names and the Content-Disposition they become, and the
streaming multipart/form-data reader. Whatever comes in, the answer is a value or a 4xx
domain error naming the problem — never any other exception (which would be a 500)."""

from __future__ import annotations

import asyncio
import base64
import uuid
from datetime import datetime, timezone

import pytest
from aiohttp.multipart import content_disposition_filename, parse_content_disposition
from hypothesis import HealthCheck, assume, example, given, settings
from hypothesis import strategies as st

from service.errors import DomainError, Invalid, RangeNotSatisfiable, TooLarge
from service.files.cursor import decode_cursor, encode_cursor
from service.files.disposition import content_disposition
from service.files.formdata import StreamingForm
from service.files.names import validate_name
from service.files.ranges import parse_range
from service.uploads.partsize import MAX_PART_SIZE, MAX_PARTS, MIN_PART_SIZE, part_count, part_length
from service.uploads.schemas import InitMultipartIn
from service.uploads.service import validate_init

sizes = st.integers(min_value=0, max_value=2**53)
positions = st.integers(min_value=0, max_value=2**64)


# --- Range ------------------------------------------------------------------------------------
def reference_range(first: int | None, last: int | None, size: int) -> tuple[int, int] | None | str:
    """RFC 9110 §14.1.2 for one byte range: (start, end), or '416'."""
    if first is None:  # suffix-length
        if last == 0 or size == 0:
            return "416"
        return max(size - last, 0), size - 1
    if last is not None and last < first:
        return "416"
    if first >= size:
        return "416"
    return first, size - 1 if last is None else min(last, size - 1)


@given(st.one_of(st.none(), positions), st.one_of(st.none(), positions), sizes, st.sampled_from(["", " "]))
def test_single_ranges_follow_rfc_9110(first, last, size, space):
    assume(first is not None or last is not None)
    header = f"bytes={space}{'' if first is None else first}-{'' if last is None else last}"
    expected = reference_range(first, last, size)
    if expected == "416":
        with pytest.raises(RangeNotSatisfiable) as err:
            parse_range(header, size)
        assert err.value.status == 416 and err.value.headers == {"Content-Range": f"bytes */{size}"}
    else:
        start, end = parse_range(header, size)
        assert (start, end) == expected and 0 <= start <= end < size


@given(st.text(max_size=60), sizes)
@example("bytes=0-0,1-1", 10)
@example("bytes=٣-٥", 10)  # non-ASCII digits must not be taken for numbers
@example("bytes=-" + "9" * 5000, 10)
def test_any_range_header_is_a_range_the_whole_file_or_416(header, size):
    try:
        result = parse_range(header, size)
    except RangeNotSatisfiable:
        return
    if result is not None:
        start, end = result
        assert 0 <= start <= end < size


# --- cursor -----------------------------------------------------------------------------------
moments = st.datetimes(min_value=datetime(1970, 1, 1), max_value=datetime(9999, 12, 31),
                       timezones=st.just(timezone.utc))


@given(moments, st.uuids())
def test_cursor_round_trips(moment, file_id):
    text = encode_cursor(moment, file_id)
    assert text.isascii() and len(text) <= 64 and not set(text) & set("+/=")
    assert decode_cursor(text) == (moment, file_id)


@given(st.one_of(st.text(max_size=80), st.binary(max_size=40).map(lambda b: base64.urlsafe_b64encode(b).decode())))
def test_any_cursor_text_decodes_or_is_400_naming_cursor(text):
    try:
        moment, file_id = decode_cursor(text)
    except Invalid as err:
        assert err.status == 400 and err.field == "cursor"
        return
    assert isinstance(file_id, uuid.UUID) and moment.tzinfo is not None
    assert encode_cursor(moment, file_id) == text.strip()  # one position has one cursor


@given(moments, st.uuids(), moments, st.uuids())
def test_cursor_order_is_the_listing_order(m1, id1, m2, id2):
    """Decoding keeps (created_at, id) exactly, so keyset comparisons see what the row had."""
    assume((m1, id1) != (m2, id2))
    a, b = decode_cursor(encode_cursor(m1, id1)), decode_cursor(encode_cursor(m2, id2))
    assert (a < b) == ((m1, id1) < (m2, id2))


# --- part sizes and init-multipart validation ---------------------------------------------------
@given(st.integers(min_value=-10, max_value=2**63), st.one_of(st.none(), st.integers(min_value=-10, max_value=2**63)),
       st.integers(min_value=1, max_value=2**63))
def test_init_validation_accepts_or_names_the_field(size, part_size, max_file_bytes):
    data = InitMultipartIn(name="a.bin", size=size, part_size=part_size)
    try:
        ps, count = validate_init(data, max_file_bytes)
    except (Invalid, TooLarge) as err:
        assert err.field in ("size", "partSize"), err
        return
    assert 1 <= size <= max_file_bytes
    assert MIN_PART_SIZE <= ps <= MAX_PART_SIZE and 1 <= count <= MAX_PARTS == 10_000
    assert count == part_count(size, ps) and (count - 1) * ps < size <= count * ps
    assert part_length(size, ps, count) == size - (count - 1) * ps


# --- names and Content-Disposition --------------------------------------------------------------
@given(st.text(max_size=300))
@example("../../etc/passwd")
@example("a\x00b")
@example("\u202egnp.exe")  # right-to-left override: shown reversed, kept as given
@example("x" * 10_000)
def test_names_are_kept_or_refused_and_never_break_the_header(name):
    try:
        kept = validate_name(name)
    except Invalid as err:
        assert err.field == "name" and err.status == 400
        return
    assert kept == name
    header = content_disposition(name)
    header.encode("ascii")  # nothing a client or proxy could read as a new header or parameter
    assert "\r" not in header and "\n" not in header
    kind, params = parse_content_disposition(header)
    assert kind == "attachment" and content_disposition_filename(params, "filename") == name


# --- the streaming multipart/form-data reader -------------------------------------------------
async def _read_all(chunks: list[bytes], boundary: bytes, max_body: int) -> list[tuple[str, bytes]]:
    async def source():
        for c in chunks:
            yield c

    form = StreamingForm(source(), boundary, max_body=max_body)
    parts = []
    while (part := await form.next_part()) is not None:
        parts.append((part.name, b"".join([d async for d in form.iter_data()])))
    return parts


def _frame(boundary: bytes, fields: list[tuple[str, bytes]]) -> bytes:
    out = b""
    for name, value in fields:
        out += b"--" + boundary + b"\r\nContent-Disposition: form-data; name=\"" + name.encode() + b"\"\r\n\r\n"
        out += value + b"\r\n"
    return out + b"--" + boundary + b"--\r\n"


def _split(data: bytes, cuts: list[int]) -> list[bytes]:
    points = sorted({0, len(data), *(c % (len(data) + 1) for c in cuts)})
    return [data[a:b] for a, b in zip(points, points[1:])]


field_names = st.text(alphabet="abcdefghijklmnopqrstuvwxyz_", min_size=1, max_size=8)


@settings(max_examples=150, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.tuples(field_names, st.binary(max_size=300)), max_size=4), st.lists(st.integers(0, 4000), max_size=8))
def test_form_reader_returns_exactly_the_fields_however_the_body_is_chunked(fields, cuts):
    boundary = b"b0uNdArY"
    assume(all(boundary not in v for _, v in fields))
    body = _frame(boundary, fields)
    assert asyncio.run(_read_all(_split(body, cuts), boundary, len(body))) == fields


@settings(max_examples=200, suppress_health_check=[HealthCheck.too_slow])
@given(st.binary(max_size=600), st.lists(st.integers(0, 600), max_size=6), st.integers(0, 700))
@example(b"--b0uNdArY\r\nContent-Disposition: form-data; name=\"file\"; filename=\"\xff\"\r\n\r\nx", [], 700)
def test_form_reader_turns_any_garbage_into_a_4xx(body, cuts, max_body):
    try:
        asyncio.run(_read_all(_split(body, cuts), b"b0uNdArY", max_body))
    except DomainError as err:
        assert 400 <= err.status < 500, err
