"""POST /files edge cases: sha256 before/after, mismatch leaves nothing, 413 (declared, streamed
without Content-Length, lying Content-Length), bad names and forms, interrupted uploads."""

import asyncio
import hashlib
import os
import uuid

import asyncpg
import httpx
import pytest
import pytest_asyncio
from litestar.testing import AsyncTestClient

from service.app import create_app
from tests.conftest import LiveServer, make_settings, register_user
from tests.integration.test_files import db, field_part, file_part, multipart, object_keys, store, upload  # noqa: F401

LIMIT = 1024 * 1024  # the small-upload limit of the apps below


async def _nothing_kept(db, store, user, keys_before):  # noqa: F811
    assert await db.fetchval("SELECT count(*) FROM files WHERE user_id = $1", uuid.UUID(user.id)) == 0
    assert await object_keys(store) == keys_before


@pytest_asyncio.fixture(loop_scope="session")
async def small_client(settings):
    """The app with a 1 MiB small-upload limit, in process."""
    async with AsyncTestClient(app=create_app(make_settings(settings, small_upload_max_bytes=LIMIT))) as c:
        yield c


@pytest.fixture(scope="module")
def small_server(settings):
    server = LiveServer(settings, MYBOX_SMALL_UPLOAD_MAX_BYTES=str(LIMIT))
    yield server
    server.stop()


@pytest.mark.parametrize("size", [100, 9 * 1024 * 1024])
@pytest.mark.parametrize("order", ["before", "after"])
async def test_declared_sha256_matching_is_kept(client, user, db, size, order):  # noqa: F811
    data = os.urandom(size)
    digest = hashlib.sha256(data).hexdigest()
    parts = [field_part("sha256", digest.upper()), file_part(data, "ok.bin")]
    body, headers = multipart(*(parts if order == "before" else parts[::-1]))
    r = await client.post("/files", headers={**user.headers, **headers}, content=body)
    assert r.status_code == 201, r.text
    assert r.json()["sha256"] == digest
    assert await db.fetchval("SELECT declared_sha256 FROM files WHERE id = $1", uuid.UUID(r.json()["id"])) == digest


@pytest.mark.parametrize("size", [100, 9 * 1024 * 1024])
@pytest.mark.parametrize("order", ["before", "after"])
async def test_sha256_mismatch_leaves_nothing(client, db, store, size, order):  # noqa: F811
    u = await register_user(client)
    keys = await object_keys(store)
    data = os.urandom(size)
    wrong = hashlib.sha256(data + b"x").hexdigest()
    parts = [field_part("sha256", wrong), file_part(data, "bad.bin")]
    body, headers = multipart(*(parts if order == "before" else parts[::-1]))
    r = await client.post("/files", headers={**u.headers, **headers}, content=body)
    assert r.status_code == 400 and r.json()["code"] == "sha256_mismatch" and r.json()["field"] == "sha256"
    assert hashlib.sha256(data).hexdigest() in r.json()["message"]
    await _nothing_kept(db, store, u, keys)


@pytest.mark.parametrize("value", ["nothex", "ab" * 31, "zz" * 32, "ab" * 33, "ab" * 31 + " ab"])
async def test_malformed_sha256_is_400(client, db, store, value):  # noqa: F811
    u = await register_user(client)
    keys = await object_keys(store)
    body, headers = multipart(file_part(b"data", "a.bin"), field_part("sha256", value))
    r = await client.post("/files", headers={**u.headers, **headers}, content=body)
    assert r.status_code == 400 and r.json()["field"] == "sha256"
    await _nothing_kept(db, store, u, keys)


@pytest.mark.parametrize("filename,why", [
    (b"nul\x00.txt", "NUL"), (b"tab\t.txt", "TAB"), (b"del\x7f.txt", "DEL"), ("c1\u0085.txt".encode(), "C1 NEL"),
    ("esc\u009b.txt".encode(), "C1 CSI"), (b"bell\x07", "BEL"), (b"", "empty"), (b"x" * 256, "too long"),
    (b"\xff\xfe.txt", "not UTF-8"),
])
async def test_bad_file_names_are_400_naming_the_field(client, db, store, filename, why):  # noqa: F811
    u = await register_user(client)
    keys = await object_keys(store)
    body, headers = multipart(file_part(b"data", filename))
    r = await client.post("/files", headers={**u.headers, **headers}, content=body)
    assert r.status_code == 400, (why, r.text)
    assert r.json()["field"] == "name", (why, r.json())
    await _nothing_kept(db, store, u, keys)


async def test_cr_lf_in_names_are_400(client, user):
    for encoded in ("a%0Ab.txt", "a%0Db.txt", "a%00b"):  # RFC 5987 form decodes to CR / LF / NUL
        body, headers = multipart((b"Content-Disposition: form-data; name=\"file\"; filename*=UTF-8''"
                                   + encoded.encode(), b"x"))
        r = await client.post("/files", headers={**user.headers, **headers}, content=body)
        assert r.status_code == 400 and r.json()["field"] == "name", r.text
    body, headers = multipart((b'Content-Disposition: form-data; name="file"; filename="a\r\nb.txt"', b"x"))
    r = await client.post("/files", headers={**user.headers, **headers}, content=body)
    assert r.status_code == 400  # a raw CR LF breaks the part's headers: malformed, never stored


async def test_255_characters_is_fine(client, user):
    name = "가" * 251 + ".txt"
    assert (await upload(client, user, b"x", name))["name"] == name


@pytest.mark.parametrize("case", ["no file part", "two file parts", "field named file", "not multipart",
                                  "no boundary", "garbage body", "truncated"])
async def test_malformed_forms_are_4xx_json(client, db, store, case):  # noqa: F811
    u = await register_user(client)
    keys = await object_keys(store)
    headers = {"Content-Type": "multipart/form-data; boundary=mYbOxTeStBoUnDaRy"}
    if case == "no file part":
        body, headers = multipart(field_part("other", "x"))
    elif case == "two file parts":
        body, headers = multipart(file_part(b"a", "a.txt"), file_part(b"b", "b.txt"))
    elif case == "field named file":
        body, headers = multipart(field_part("file", "not a file"))
    elif case == "not multipart":
        body, headers = b'{"file": "x"}', {"Content-Type": "application/json"}
    elif case == "no boundary":
        body, headers = b"x", {"Content-Type": "multipart/form-data"}
    elif case == "garbage body":
        body = b"this is not multipart at all"
    else:
        body, headers = multipart(file_part(os.urandom(5000), "t.bin"))
        body = body[:-50]
    r = await client.post("/files", headers={**u.headers, **headers}, content=body)
    assert r.status_code in (400, 415), (case, r.status_code, r.text)
    assert r.json()["message"] and r.json()["status"] == r.status_code
    if case == "not multipart":
        assert r.status_code == 415
    if case in ("no file part", "field named file"):
        assert r.json()["field"] in ("file", "name")
    await _nothing_kept(db, store, u, keys)


async def test_blank_sha256_field_means_none_declared(client, user):
    body, headers = multipart(field_part("sha256", ""), file_part(b"content", "b.txt"))
    r = await client.post("/files", headers={**user.headers, **headers}, content=body)
    assert r.status_code == 201 and r.json()["sha256"] == hashlib.sha256(b"content").hexdigest()


async def test_unknown_fields_are_ignored(client, user):
    body, headers = multipart(field_part("note", "hello"), file_part(b"content", "n.txt"), field_part("x", "y"))
    r = await client.post("/files", headers={**user.headers, **headers}, content=body)
    assert r.status_code == 201 and r.json()["size"] == 7


# --- size limits --------------------------------------------------------------------------------
async def test_file_at_the_limit_is_accepted_one_more_byte_is_413(small_client, client, db, store):  # noqa: F811
    u = await register_user(client)
    ok = await small_client.post("/files", headers=u.headers, files={"file": ("max.bin", os.urandom(LIMIT))})
    assert ok.status_code == 201 and ok.json()["size"] == LIMIT
    v = await register_user(client)
    keys = await object_keys(store)
    r = await small_client.post("/files", headers=v.headers, files={"file": ("over.bin", os.urandom(LIMIT + 1))})
    assert r.status_code == 413 and r.json()["code"] == "file_too_large"
    await _nothing_kept(db, store, v, keys)


async def test_lying_content_length_is_caught_by_counting(small_client, client, db, store):  # noqa: F811
    """The header says 1 KiB; the body is 3 MiB. The app counts what arrives."""
    u = await register_user(client)
    keys = await object_keys(store)
    body, headers = multipart(file_part(os.urandom(3 * LIMIT), "liar.bin"))
    r = await small_client.post("/files", headers={**u.headers, **headers, "Content-Length": "1024"}, content=body)
    assert r.status_code == 413
    await _nothing_kept(db, store, u, keys)


async def _raw_request(port: int, head: bytes, body: bytes = b"", read_timeout: float = 10) -> bytes:
    """Send raw bytes; return the response's head and body (by its Content-Length)."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        writer.write(head + body)
        await writer.drain()
        answer = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), read_timeout)
        length = next((int(line.split(b":")[1]) for line in answer.split(b"\r\n")
                       if line.lower().startswith(b"content-length:")), 0)
        return answer + await asyncio.wait_for(reader.readexactly(length), read_timeout)
    finally:
        writer.close()


async def test_declared_oversize_is_413_before_the_body_is_sent(small_server, client, db, store):  # noqa: F811
    """Content-Length of 10 GiB and only a few bytes sent: the answer comes at once."""
    u = await register_user(client)
    keys = await object_keys(store)
    head = (f"POST /files HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {u.token}\r\n"
            "Content-Type: multipart/form-data; boundary=abc\r\nContent-Length: 10737418240\r\n\r\n").encode()
    answer = await _raw_request(small_server.port, head, b"--abc\r\n", read_timeout=5)
    assert answer.startswith(b"HTTP/1.1 413"), answer[:200]
    assert b'"code":"file_too_large"' in answer
    await _nothing_kept(db, store, u, keys)


async def test_expect_100_continue_gets_413_instead_of_continue(small_server, client):
    """curl and other clients send Expect: 100-continue for big bodies: they get the 413 and
    never send the body at all."""
    u = await register_user(client)
    head = (f"POST /files HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {u.token}\r\nExpect: 100-continue\r\n"
            "Content-Type: multipart/form-data; boundary=abc\r\nContent-Length: 10737418240\r\n\r\n").encode()
    answer = await _raw_request(small_server.port, head, read_timeout=5)
    assert answer.startswith(b"HTTP/1.1 413"), answer[:200]


async def test_oversized_stream_without_content_length_is_413(small_server, client, db, store):  # noqa: F811
    """A generator body (chunked, no Content-Length) of 8 MiB against a 1 MiB limit."""
    u = await register_user(client)
    keys = await object_keys(store)
    sent = 0

    async def body():
        nonlocal sent
        yield (b"--abc\r\nContent-Disposition: form-data; name=\"file\"; filename=\"big.bin\"\r\n\r\n")
        for _ in range(128):
            chunk = os.urandom(64 * 1024)
            sent += len(chunk)
            yield chunk
        yield b"\r\n--abc--\r\n"

    async with httpx.AsyncClient(base_url=small_server.url, timeout=30) as c:
        r = await c.post("/files", content=body(),
                         headers={**u.headers, "Content-Type": "multipart/form-data; boundary=abc"})
    assert r.status_code == 413 and r.json()["code"] == "file_too_large"
    await _nothing_kept(db, store, u, keys)


async def test_interrupted_upload_leaves_nothing(small_server, client, db, store):  # noqa: F811
    u = await register_user(client)
    keys = await object_keys(store)
    head = (f"POST /files HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {u.token}\r\n"
            "Content-Type: multipart/form-data; boundary=abc\r\nContent-Length: 500000\r\n\r\n").encode()
    reader, writer = await asyncio.open_connection("127.0.0.1", small_server.port)
    writer.write(head + b"--abc\r\nContent-Disposition: form-data; name=\"file\"; filename=\"cut.bin\"\r\n\r\n"
                 + os.urandom(200_000))
    await writer.drain()
    writer.close()
    await asyncio.sleep(1.0)
    await _nothing_kept(db, store, u, keys)
    # the server is fine afterwards
    async with httpx.AsyncClient(base_url=small_server.url) as c:
        assert (await c.post("/files", headers=u.headers, files={"file": ("ok.txt", b"ok")})).status_code == 201


@pytest.mark.parametrize("errcode,status", [("P0001", 500), ("foreign_key_violation", 401)])
async def test_row_insert_failure_removes_the_object(client, settings, store, errcode, status):  # noqa: F811
    """The bytes are stored, then the row cannot be written: the object is removed again.
    A trigger in this session's own database makes the insert fail for one file name."""
    u = await register_user(client)
    keys = await object_keys(store)
    name = f"fail-insert-{uuid.uuid4().hex}"
    conn = await asyncpg.connect(settings.database_url)
    await conn.execute(f"""
        CREATE FUNCTION {name.replace('-', '_')}() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            IF NEW.name = '{name}' THEN RAISE EXCEPTION 'refused by test' USING ERRCODE = '{errcode}'; END IF;
            RETURN NEW;
        END $$;
        CREATE TRIGGER {name.replace('-', '_')} BEFORE INSERT ON files
            FOR EACH ROW EXECUTE FUNCTION {name.replace('-', '_')}();""")
    try:
        r = await client.post("/files", headers=u.headers, files={"file": (name, os.urandom(9 * 1024 * 1024))})
    finally:
        await conn.execute(f"DROP TRIGGER {name.replace('-', '_')} ON files;"
                           f" DROP FUNCTION {name.replace('-', '_')}()")
        await conn.close()
    assert r.status_code == status and r.json()["message"], r.text
    assert await object_keys(store) == keys
    assert (await client.get("/files?page=1", headers=u.headers)).json()["total"] == 0
