"""Abuse of the file routes: another user's ids on every endpoint of the OpenAPI document,
presigned URLs bent towards another object or part, hostile names, active content (HTML, SVG),
the web UI's Content-Security-Policy and CORS for foreign origins."""

from __future__ import annotations

import hashlib
import os
import re
from urllib.parse import parse_qsl, urlencode, urlsplit

import pytest

from service.app import create_app
from service.config import load_settings
from tests.conftest import register_user
from tests.reliability.support import assert_json_error, form_body

PART = 5 * 1024 * 1024

# every operation that takes a file id, and the body that makes the call otherwise valid; the
# test fails when the OpenAPI document gains one that is not listed here (restore is listed
# ahead of the tiering room's route)
FILE_ID_CALLS: dict[tuple[str, str], dict] = {
    ("GET", "/files/{file_id}"): {},
    ("HEAD", "/files/{file_id}"): {},
    ("DELETE", "/files/{file_id}"): {},
    ("GET", "/files/{file_id}/metadata"): {},
    ("GET", "/files/{file_id}/download-url"): {},
    ("GET", "/files/{file_id}/thumbnail"): {},
    ("POST", "/files/{file_id}/part-urls"): {"json": {"partNumbers": [1, 2]}},
    ("POST", "/files/{file_id}/part-complete"): {"json": {"partNumber": 1, "etag": "<etag of part 1>"}},
    ("GET", "/files/{file_id}/upload"): {},
    ("DELETE", "/files/{file_id}/upload"): {},
    ("POST", "/files/{file_id}/restore"): {},
}


def openapi_file_id_operations() -> set[tuple[str, str]]:
    doc = create_app(load_settings({}, dotenv=None)).openapi_schema.to_schema()
    return {(method.upper(), path) for path, item in doc["paths"].items() if "{file_id}" in path
            for method in item if method in ("get", "head", "post", "put", "patch", "delete")}


async def test_another_users_ids_are_404_on_every_endpoint(client, http, db):
    operations = openapi_file_id_operations()
    assert operations <= set(FILE_ID_CALLS), operations - set(FILE_ID_CALLS)
    owner, intruder = await register_user(client), await register_user(client)
    data = b"the owner's bytes"
    await client.post("/files", headers=owner.headers, files={"file": ("older.txt", b"older")})
    r = await client.post("/files", headers=owner.headers, files={"file": ("mine.txt", data)})
    file_id = r.json()["id"]
    r = await client.post("/files/init-multipart", headers=owner.headers,
                          json={"name": "mine.bin", "size": 2 * PART, "partSize": PART})
    upload = r.json()
    put = await http.put(upload["parts"][0]["url"], content=os.urandom(PART))
    etag = put.headers["etag"]
    r = await client.post(f"/files/{upload['fileId']}/part-complete", headers=owner.headers,
                          json={"partNumber": 1, "etag": etag})
    assert r.status_code == 200, r.text

    tried = 0
    for method, path in sorted(operations):
        kwargs = dict(FILE_ID_CALLS[(method, path)])
        if "json" in kwargs and "etag" in kwargs["json"]:
            kwargs["json"] = {**kwargs["json"], "etag": etag}
        for target in (file_id, upload["fileId"]):
            r = await client.request(method, path.format(file_id=target), headers=intruder.headers, **kwargs)
            if method == "HEAD":
                assert r.status_code == 404, (method, path)
            else:
                assert_json_error(r, 404)
            tried += 1
    assert tried == 2 * len(operations) >= 20
    # the intruder's listing shows nothing of the owner's, even with the owner's cursor
    listing = await client.get("/files?pageSize=1", headers=owner.headers)
    cursor = listing.json()["nextCursor"]
    assert cursor
    theirs = await client.get(f"/files?cursor={cursor}", headers=intruder.headers)
    assert theirs.status_code == 200 and theirs.json()["items"] == []
    # and nothing changed for the owner
    got = await client.get(f"/files/{file_id}", headers=owner.headers)
    assert got.status_code == 200 and got.content == data
    state = await client.get(f"/files/{upload['fileId']}/upload", headers=owner.headers)
    assert state.json()["status"] == "uploading" and state.json()["completedParts"] == [1]
    await client.delete(f"/files/{upload['fileId']}/upload", headers=owner.headers)


async def test_presigned_urls_cannot_be_bent_to_another_object_or_part(client, http):
    u = await register_user(client)
    ids = []
    for name in ("a.txt", "b.txt"):
        r = await client.post("/files", headers=u.headers, files={"file": (name, name.encode() * 100)})
        ids.append(r.json()["id"])
    url = (await client.get(f"/files/{ids[0]}/download-url", headers=u.headers)).json()["url"]
    ok = await http.get(url, headers={"Range": "bytes=0-4"})
    assert ok.status_code == 206 and ok.content == b"a.txt"
    parts = urlsplit(url)
    other_key = parts._replace(path=parts.path.replace(ids[0], ids[1])).geturl()
    assert (await http.get(other_key)).status_code == 403
    query = dict(parse_qsl(parts.query))
    query["response-content-disposition"] = "inline"
    assert (await http.get(parts._replace(query=urlencode(query)).geturl())).status_code == 403
    query = dict(parse_qsl(parts.query))
    query["X-Amz-Expires"] = "604800"
    assert (await http.get(parts._replace(query=urlencode(query)).geturl())).status_code == 403
    # part URLs: another part number, another upload
    a = (await client.post("/files/init-multipart", headers=u.headers,
                           json={"name": "x", "size": 2 * PART, "partSize": PART})).json()
    b = (await client.post("/files/init-multipart", headers=u.headers,
                           json={"name": "y", "size": 2 * PART, "partSize": PART})).json()
    body = os.urandom(PART)
    url1 = a["parts"][0]["url"]
    assert (await http.put(url1.replace("partNumber=1", "partNumber=2"), content=body)).status_code == 403
    assert (await http.put(url1.replace(a["uploadId"], b["uploadId"]), content=body)).status_code == 403
    bent = urlsplit(b["parts"][0]["url"])._replace(query=urlsplit(url1).query).geturl()
    assert (await http.put(bent, content=body)).status_code == 403
    for up in (a, b):
        state = (await client.get(f"/files/{up['fileId']}/upload", headers=u.headers)).json()
        assert state["completedParts"] == []
        await client.delete(f"/files/{up['fileId']}/upload", headers=u.headers)


RTL = "invoice\u202etxt.exe"  # shows as "invoiceexe.txt" in a right-to-left-aware view


@pytest.mark.parametrize("name", ["../../etc/passwd", "..", "a/b/../c", RTL, "ファイル 名.txt", "x" * 255])
async def test_odd_names_are_kept_as_text_and_never_reach_keys_or_headers(client, db, name):
    u = await register_user(client)
    body, headers = form_body(b"content", "placeholder")
    body = body.replace(b'filename="placeholder"', b'filename="' + name.encode() + b'"')
    r = await client.post("/files", headers={**u.headers, **headers}, content=body)
    assert r.status_code == 201, r.text
    info = r.json()
    assert info["name"] == name
    assert await db.fetchval("SELECT object_key FROM files WHERE id = $1::uuid", info["id"]) == f"objects/{info['id']}"
    got = await client.get(f"/files/{info['id']}", headers=u.headers)
    disposition = got.headers["content-disposition"]
    assert disposition.isascii() and disposition.startswith("attachment;") and "\n" not in disposition
    assert "/" not in disposition.split('filename="')[1].split('"')[0]
    r = await client.post("/files/init-multipart", headers=u.headers, json={"name": name, "size": 10})
    assert r.status_code == 201 and r.json()["fileId"], r.text
    meta = await client.get(f"/files/{r.json()['fileId']}/metadata", headers=u.headers)
    assert meta.json()["name"] == name


@pytest.mark.parametrize("name", ["a\x00b", "line\nbreak", "cr\rhere", "x" * 256, "y" * 10_000, ""])
async def test_bad_names_are_400_naming_the_name(client, name):
    u = await register_user(client)
    r = await client.post("/files/init-multipart", headers=u.headers, json={"name": name, "size": 10})
    assert assert_json_error(r, 400)["field"] == "name"
    body, headers = form_body(b"content", "placeholder")
    body = body.replace(b'filename="placeholder"', b'filename="' + name.encode() + b'"')
    r = await client.post("/files", headers={**u.headers, **headers}, content=body)
    error = assert_json_error(r, 400)
    assert error.get("field") in ("name", None) and re.search(r"name|header|multipart", error["message"]), error
    assert (await client.get("/files", headers=u.headers)).json()["items"] == []


@pytest.mark.parametrize("name,ctype,data", [
    ("page.html", "text/html", b"<html><script>alert(document.cookie)</script></html>"),
    ("image.svg", "image/svg+xml", b"<svg xmlns='http://www.w3.org/2000/svg' onload='alert(1)'/>"),
    ("sneaky.txt", "text/plain", b"<script>alert(1)</script>"),
])
async def test_active_content_is_served_as_an_attachment_with_nosniff(client, http, name, ctype, data):
    u = await register_user(client)
    r = await client.post("/files", headers=u.headers, files={"file": (name, data, ctype)})
    fid = r.json()["id"]
    got = await client.get(f"/files/{fid}", headers=u.headers)
    assert got.status_code == 200 and got.content == data
    assert got.headers["content-disposition"].startswith("attachment;")
    assert got.headers["x-content-type-options"] == "nosniff"
    assert "sandbox" in got.headers["content-security-policy"]
    assert got.headers["repr-digest"]  # and the client can check what it got
    # the presigned URL makes S3 say the same
    url = (await client.get(f"/files/{fid}/download-url", headers=u.headers)).json()["url"]
    direct = await http.get(url)
    assert direct.status_code == 200 and direct.content == data
    assert direct.headers["content-disposition"].startswith("attachment;")
    assert hashlib.sha256(direct.content).hexdigest() == r.json()["sha256"]


async def test_the_web_ui_has_a_strict_content_security_policy(client):
    for path in ("/", "/static/app.js", "/static/style.css"):
        r = await client.get(path)
        assert r.status_code == 200, path
        csp = dict(d.strip().split(" ", 1) for d in r.headers["content-security-policy"].split(";"))
        assert csp["default-src"] == "'self'" and csp["script-src"] == "'self'"  # no inline, no eval
        assert csp["object-src"] == "'none'" and csp["frame-ancestors"] == "'none'" and csp["base-uri"] == "'none'"
        assert r.headers["x-content-type-options"] == "nosniff" and r.headers["x-frame-options"] == "DENY"
    page = (await client.get("/")).text
    assert not re.search(r"<script(?![^>]*\bsrc=)[^>]*>", page)  # every script is a file: the CSP holds
    assert not re.search(r"\son[a-z]+\s*=", page)  # no inline event handlers


@pytest.mark.parametrize("path,method", [("/files", "GET"), ("/files/init-multipart", "POST"), ("/auth/token", "POST"),
                                         ("/me", "GET")])
async def test_cors_only_for_configured_origins(client, settings, path, method):
    allowed = settings.cors_origins[0]
    for origin, ok in (("http://evil.example", False), ("null", False), (allowed + ".evil.example", False),
                       (allowed, True)):
        pre = await client.options(path, headers={"Origin": origin, "Access-Control-Request-Method": method,
                                                  "Access-Control-Request-Headers": "authorization,content-type"})
        acao = pre.headers.get("access-control-allow-origin")
        if ok:
            assert acao == origin and pre.headers.get("access-control-allow-credentials") == "true"
        else:
            assert acao is None and "access-control-allow-credentials" not in pre.headers, (origin, pre.headers)
        simple = await client.get("/healthz", headers={"Origin": origin})
        assert (simple.headers.get("access-control-allow-origin") == origin) is ok
