"""Schemathesis against the app's own OpenAPI (/schema/openapi.json), every operation, with a
valid token and without one, valid and invalid data: never a 5xx, and every error is the JSON
error shape. The API runs as a process with a Redis of its own (the fuzzer's failed logins fill
the failed-login throttle of 127.0.0.1, which must not reach the rest of the test session)."""

from __future__ import annotations

import os
import zlib

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis import GenerationMode

from service.app import create_app
from service.config import load_settings
from tests.reliability.procs import ApiProc, OwnRedis

MAX_EXAMPLES = int(os.environ.get("MYBOX_FUZZ_EXAMPLES", "25"))


@pytest.fixture(scope="module")
def fuzz_api(settings, tmp_path_factory):
    workdir = tmp_path_factory.mktemp("fuzz")
    redis = OwnRedis(workdir).start()
    api = ApiProc(workdir, settings, MYBOX_REDIS_URL=redis.url,
                  MYBOX_SMALL_UPLOAD_MAX_BYTES=str(1024 * 1024)).start()
    try:
        yield api
    finally:
        api.stop()
        redis.kill()


class FuzzUser:
    def __init__(self, token: str, ids: list[str]) -> None:
        self.token, self.ids = token, ids


@pytest.fixture(scope="module")
def fuzz_user(fuzz_api) -> FuzzUser:
    """A user with things to find: files (a text, an SVG) and uploads in progress, whose ids
    the fuzzer's cases are also sent with."""
    name, password = "fuzzer", "fuzzing-password-1"
    with httpx.Client(base_url=fuzz_api.url) as c:
        r = c.post("/auth/register", json={"username": name, "password": password})
        assert r.status_code in (201, 409), r.text
        r = c.post("/auth/token", json={"username": name, "password": password})
        assert r.status_code == 200, r.text
        token = r.json()["token"]
        h = {"Authorization": f"Bearer {token}"}
        ids = []
        for fname, data in [("a.txt", b"hello"), ("b.svg", b"<svg xmlns='http://www.w3.org/2000/svg'/>"),
                            ("c.bin", os.urandom(70_000))]:
            r = c.post("/files", headers=h, files={"file": (fname, data)})
            assert r.status_code == 201, r.text
            ids.append(r.json()["id"])
        for size in (6 * 1024 * 1024, 10):
            r = c.post("/files/init-multipart", headers=h, json={"name": "up.bin", "size": size})
            assert r.status_code == 201, r.text
            ids.append(r.json()["fileId"])
    return FuzzUser(token, ids)


def _app_openapi() -> dict:
    """The document the app serves at /schema/openapi.json (built without connecting anywhere;
    test_the_fuzzed_schema_is_the_served_one checks that the two are the same)."""
    return create_app(load_settings({}, dotenv=None)).openapi_schema.to_schema()


# schemathesis' lazy (fixture) loader does not run under pytest 9, so the schema is loaded at
# import and every case is sent to the API process explicitly (base_url)
schema = schemathesis.openapi.from_dict(_app_openapi())
schema.config.generation.update(modes=[GenerationMode.POSITIVE, GenerationMode.NEGATIVE], max_examples=MAX_EXAMPLES)
seen: dict[str, set[int]] = {}


def _check(case, response) -> None:
    label = f"{case.method} {case.path} {response.status_code}"
    seen.setdefault(f"{case.method} {case.path}", set()).add(response.status_code)
    assert response.status_code < 500, f"{label}: {response.text[:500]}"
    if response.status_code >= 400 and case.method != "HEAD":
        assert response.headers.get("content-type", [""])[0].startswith("application/json"), label
        body = response.json()
        assert body["status"] == response.status_code and body["message"] and body["code"], (label, body)


def _call(case, base_url: str, user: FuzzUser | None) -> None:
    """With a token: the valid one replaces any credentials the generator made up, and a case
    with a file id is sent a second time with one of the user's real ids. Without: whatever
    the generator made (no credentials, or garbage) goes."""
    if user is not None:
        case.headers = {**{k: v for k, v in (case.headers or {}).items() if k.lower() != "authorization"},
                        "Authorization": f"Bearer {user.token}"}
    _check(case, case.call(base_url=base_url, timeout=30))
    if user is not None and "file_id" in (case.path_parameters or {}):
        pick = zlib.crc32(repr((case.body, case.query, case.headers)).encode()) % len(user.ids)
        case.path_parameters = {**case.path_parameters, "file_id": user.ids[pick]}
        _check(case, case.call(base_url=base_url, timeout=30))


FUZZ = settings(max_examples=MAX_EXAMPLES, deadline=None, derandomize=True, suppress_health_check=list(HealthCheck))


@schema.parametrize()
@FUZZ
def test_with_a_valid_token_no_5xx_and_json_errors(case, fuzz_api, fuzz_user):
    _call(case, fuzz_api.url, fuzz_user)


@schema.parametrize()
@FUZZ
def test_without_a_token_no_5xx_and_json_errors(case, fuzz_api):
    _call(case, fuzz_api.url, None)


def test_the_fuzzed_schema_is_the_served_one(fuzz_api):
    served = httpx.get(fuzz_api.url + "/schema/openapi.json").json()
    assert served == _app_openapi()
    operations = {(m.upper(), p) for p, item in served["paths"].items() for m in item if m != "parameters"}
    assert len(operations) >= 20 and ("POST", "/files") in operations


def test_fuzzing_reached_every_operation():
    """Runs after the fuzz tests above (file order): every operation was called, and the
    generated input was bad enough to be refused (a 4xx) somewhere and good enough to succeed."""
    if not seen:
        pytest.skip("the fuzz tests did not run in this session")
    operations = {(m.upper(), p) for p, item in _app_openapi()["paths"].items() for m in item if m != "parameters"}
    called = {tuple(k.split(" ", 1)) for k in seen}
    assert operations <= called, operations - called  # (and undocumented methods got 405s)
    statuses = set().union(*seen.values())
    assert any(400 <= s < 500 for s in statuses) and any(200 <= s < 300 for s in statuses)
    print("\nfuzzed:", {k: sorted(v) for k, v in sorted(seen.items())})
