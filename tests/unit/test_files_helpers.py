import base64
import uuid
from datetime import datetime, timezone
from urllib.parse import unquote

import pytest
from aiohttp.multipart import content_disposition_filename, parse_content_disposition

from service.errors import Invalid
from service.files.cursor import decode_cursor, encode_cursor
from service.files.disposition import ascii_fallback, content_disposition
from service.files.names import content_type_for, validate_name


def test_cursor_round_trip_keeps_microseconds():
    moment = datetime(2026, 3, 4, 5, 6, 7, 123456, tzinfo=timezone.utc)
    fid = uuid.uuid4()
    text = encode_cursor(moment, fid)
    assert "=" not in text and "+" not in text and "/" not in text
    assert decode_cursor(text) == (moment, fid)


@pytest.mark.parametrize("bad", ["", "x", "!!!!", "AAAA", base64.urlsafe_b64encode(b"\x02" + b"\0" * 24).decode(),
                                 "a" * 100, encode_cursor(datetime.now(timezone.utc), uuid.uuid4()) + "AA"])
def test_garbled_cursor_is_invalid_naming_cursor(bad):
    with pytest.raises(Invalid) as err:
        decode_cursor(bad)
    assert err.value.field == "cursor" and err.value.status == 400


@pytest.mark.parametrize("name", ["report.pdf", "보고서 2026 (최종).pdf", "../../etc/passwd", "a/b\\c", "x" * 255,
                                  "emoji 🎉.png", " leading space", "ünïcödé"])
def test_names_kept_as_given(name):
    assert validate_name(name) == name


@pytest.mark.parametrize("name", ["", None, "x" * 256, "a\x00b", "a\nb", "a\rb", "tab\there", "del\x7f",
                                  "c1\x85", "c1\x9b"])
def test_bad_names_rejected_naming_field(name):
    with pytest.raises(Invalid) as err:
        validate_name(name, field="name")
    assert err.value.field == "name"


def test_content_types():
    assert content_type_for("image/png", "x.bin") == "image/png"
    assert content_type_for("text/plain; charset=latin-1", "x") == "text/plain; charset=latin-1"
    assert content_type_for(None, "photo.JPG") == "image/jpeg"
    assert content_type_for(None, "noext") == "application/octet-stream"
    for bad in ("nonsense", "a/b\x00", "é/x", "a/" + "b" * 300):
        with pytest.raises(Invalid):
            content_type_for(bad, "x")


@pytest.mark.parametrize("name", ["보고서 2026 (최종).pdf", 'quote"s and \\back.txt', "naïve café.txt", "plain.txt",
                                  "100% ; done.txt", "🎉"])
def test_content_disposition_round_trips_through_rfc6266_parser(name):
    header = content_disposition(name)
    kind, params = parse_content_disposition(header)  # an independent RFC 6266 parser (aiohttp's)
    assert kind == "attachment" and content_disposition_filename(params, "filename") == name
    fallback = header.split('filename="')[1].split('"')[0]
    assert fallback == ascii_fallback(name) and fallback.isascii() and fallback
    assert all(32 <= ord(c) < 127 and c not in '"\\' for c in fallback)
    assert unquote(header.split("filename*=UTF-8''")[1]) == name


def test_ascii_fallback_readable():
    assert ascii_fallback("naïve café.txt") == "naive cafe.txt"
    assert ascii_fallback("보고서.pdf") == "_.pdf"
    assert ascii_fallback("🎉") == "download"
