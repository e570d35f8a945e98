import os

import pytest

from service.errors import Invalid, TooLarge
from service.files.formdata import StreamingForm, UnsupportedMediaType, UploadInterrupted, boundary_of

B = b"xYzBoUnDaRy42"


def body(*parts: tuple[bytes, bytes]) -> bytes:
    out = b""
    for headers, data in parts:
        out += b"--" + B + b"\r\n" + headers + b"\r\n\r\n" + data + b"\r\n"
    return out + b"--" + B + b"--\r\n"


async def chunked(data: bytes, size: int):
    for i in range(0, len(data), size):
        yield data[i:i + size]


async def read_all(form: StreamingForm):
    out = []
    while (part := await form.next_part()) is not None:
        out.append((part.name, part.filename, part.content_type, b"".join([c async for c in form.iter_data()])))
    return out


@pytest.mark.parametrize("chunk", [1, 7, 64, 65536])
async def test_parts_survive_any_chunking(chunk):
    blob = os.urandom(5000) + b"\r\n--" + B[:-1] + b"\r\n--" + os.urandom(100)  # near-boundaries inside the data
    raw = body((b'Content-Disposition: form-data; name="sha256"', b"ab" * 32),
               ('Content-Disposition: form-data; name="file"; filename="보고서.pdf"\r\n'
                'Content-Type: application/pdf'.encode(), blob))
    form = StreamingForm(chunked(raw, chunk), B, max_body=10**6)
    parts = await read_all(form)
    assert parts == [("sha256", None, None, b"ab" * 32), ("file", "보고서.pdf", "application/pdf", blob)]
    assert len(raw) - 2 <= form.received <= len(raw)  # the epilogue after "--" need not be read


async def test_unread_part_is_skipped():
    raw = body((b'Content-Disposition: form-data; name="a"', b"1" * 1000), (b'Content-Disposition: form-data; name="b"', b"2"))
    form = StreamingForm(chunked(raw, 100), B, max_body=10**6)
    assert (await form.next_part()).name == "a"
    assert (await form.next_part()).name == "b"
    assert await form.read_value(10, "b") == b"2"
    assert await form.next_part() is None


async def test_filename_star_is_accepted():
    raw = body((b"Content-Disposition: form-data; name=\"file\"; filename*=UTF-8''%EC%B5%9C%EC%A2%85.txt", b"x"))
    parts = await read_all(StreamingForm(chunked(raw, 9), B, max_body=10**6))
    assert parts[0][1] == "최종.txt"


async def test_truncated_body_is_an_interrupted_upload():
    raw = body((b'Content-Disposition: form-data; name="file"; filename="a"', b"x" * 1000))[:-40]
    form = StreamingForm(chunked(raw, 64), B, max_body=10**6)
    await form.next_part()
    with pytest.raises(UploadInterrupted):
        async for _ in form.iter_data():
            pass


async def test_body_limit_counts_streamed_bytes():
    raw = body((b'Content-Disposition: form-data; name="file"; filename="a"', b"x" * 10_000))
    form = StreamingForm(chunked(raw, 1000), B, max_body=5000)
    with pytest.raises(TooLarge):
        await read_all(form)


async def test_garbage_is_invalid():
    with pytest.raises(Invalid):
        await read_all(StreamingForm(chunked(b"--" + B + b"\r\nno colon here\r\n\r\n", 5), B, max_body=10**6))
    with pytest.raises(Invalid):
        await read_field_value_limit()


async def read_field_value_limit():
    raw = body((b'Content-Disposition: form-data; name="sha256"', b"a" * 500))
    form = StreamingForm(chunked(raw, 50), B, max_body=10**6)
    await form.next_part()
    await form.read_value(256, "sha256")


def test_boundary_of():
    assert boundary_of('multipart/form-data; boundary="abc"') == b"abc"
    assert boundary_of("Multipart/Form-Data; boundary=abc") == b"abc"
    for bad in (None, "application/json", "text/plain; boundary=x"):
        with pytest.raises(UnsupportedMediaType):
            boundary_of(bad)
    with pytest.raises(Invalid):
        boundary_of("multipart/form-data")
