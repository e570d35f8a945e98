"""GET /files: offset and cursor pagination, order, stability under inserts, statuses, errors."""

import uuid
from datetime import datetime, timedelta, timezone

import pytest

from service.files.queries import page_after_sql
from tests.conftest import register_user
from tests.integration.test_files import db, upload  # noqa: F401  (fixture re-exported)


async def _insert_rows(db, user_id, n, *, status="available", created_at=None, name="row"):  # noqa: F811
    """Rows straight into the table (for ties and large counts); ids returned newest first."""
    base = created_at or datetime.now(timezone.utc)
    rows = []
    for i in range(n):
        fid = uuid.uuid4()
        ts = base if created_at else base - timedelta(seconds=i)
        rows.append((fid, uuid.UUID(user_id), f"{name}-{i}", 1, "text/plain", status, f"objects/{fid}", ts))
    await db.copy_records_to_table("files", records=rows, columns=["id", "user_id", "name", "size", "content_type",
                                                                   "status", "object_key", "created_at"])
    return [r[0] for r in sorted(rows, key=lambda r: (r[7], r[0]), reverse=True)]


async def _walk_cursor(client, user, page_size, extra=""):
    ids, cursor, pages = [], None, 0
    while True:
        q = f"/files?pageSize={page_size}{extra}" + (f"&cursor={cursor}" if cursor else "")
        r = await client.get(q, headers=user.headers)
        assert r.status_code == 200, r.text
        body = r.json()
        assert set(body) == {"items", "nextCursor"}
        ids += [i["id"] for i in body["items"]]
        pages += 1
        cursor = body["nextCursor"]
        if cursor is None:
            return ids, pages
        assert len(body["items"]) == page_size


async def test_offset_and_cursor_cover_27_uploads_exactly(client):
    u = await register_user(client)
    uploaded = [(await upload(client, u, f"file {i}".encode(), f"f{i}.txt"))["id"] for i in range(27)]
    newest_first = list(reversed(uploaded))
    seen = []
    for page in (1, 2, 3):
        body = (await client.get(f"/files?page={page}&pageSize=10", headers=u.headers)).json()
        assert body["page"] == page and body["pageSize"] == 10 and body["total"] == 27
        assert (body["nextCursor"] is None) == (page == 3)
        seen += [i["id"] for i in body["items"]]
    assert seen == newest_first and len(set(seen)) == 27
    past = (await client.get("/files?page=4&pageSize=10", headers=u.headers)).json()
    assert past["items"] == [] and past["total"] == 27 and past["nextCursor"] is None
    ids, pages = await _walk_cursor(client, u, 10)
    assert ids == newest_first and pages == 3
    default = (await client.get("/files", headers=u.headers)).json()
    assert [i["id"] for i in default["items"]] == newest_first[:20] and default["nextCursor"]
    created = [i["createdAt"] for i in default["items"]]
    assert created == sorted(created, reverse=True)
    # an offset page's nextCursor continues by keyset where the page ended
    p1 = (await client.get("/files?page=1&pageSize=10", headers=u.headers)).json()
    cont = (await client.get(f"/files?pageSize=10&cursor={p1['nextCursor']}", headers=u.headers)).json()
    assert [i["id"] for i in cont["items"]] == newest_first[10:20]


async def test_cursor_is_stable_under_concurrent_inserts(client, db):  # noqa: F811
    u = await register_user(client)
    original = await _insert_rows(db, u.id, 25)
    first = (await client.get("/files?pageSize=10", headers=u.headers)).json()
    await _insert_rows(db, u.id, 5, created_at=datetime.now(timezone.utc) + timedelta(minutes=1), name="new")
    await upload(client, u, b"newer still", "late.txt")
    ids = [i["id"] for i in first["items"]]
    cursor = first["nextCursor"]
    while cursor:
        body = (await client.get(f"/files?pageSize=10&cursor={cursor}", headers=u.headers)).json()
        ids += [i["id"] for i in body["items"]]
        cursor = body["nextCursor"]
    assert ids == [str(i) for i in original]  # no duplicates, nothing skipped, newcomers not mixed in


async def test_equal_timestamps_are_ordered_by_id_without_gaps(client, db):  # noqa: F811
    u = await register_user(client)
    expected = await _insert_rows(db, u.id, 31, created_at=datetime(2026, 1, 1, tzinfo=timezone.utc))
    ids, pages = await _walk_cursor(client, u, 7)
    assert ids == [str(i) for i in expected] and pages == 5


async def test_hidden_statuses_and_status_filter(client, db):  # noqa: F811
    u = await register_user(client)
    visible = {s: await _insert_rows(db, u.id, 1, status=s) for s in ("available", "verifying", "corrupt", "restoring")}
    hidden = {s: await _insert_rows(db, u.id, 1, status=s) for s in ("uploading", "aborted", "deleted")}
    listed = {i["id"] for i in (await client.get("/files?pageSize=100", headers=u.headers)).json()["items"]}
    assert listed == {str(v[0]) for v in visible.values()}
    assert (await client.get("/files?page=1", headers=u.headers)).json()["total"] == 4
    for status, ids in {**visible, **hidden}.items():
        body = (await client.get(f"/files?status={status}", headers=u.headers)).json()
        assert [i["id"] for i in body["items"]] == [str(ids[0])] and body["items"][0]["status"] == status
    both = (await client.get("/files?status=aborted,deleted&page=1", headers=u.headers)).json()
    assert both["total"] == 2
    repeated = (await client.get("/files?status=aborted&status=uploading", headers=u.headers)).json()
    assert len(repeated["items"]) == 2
    bad = await client.get("/files?status=bogus", headers=u.headers)
    assert bad.status_code == 400 and bad.json()["field"] == "status"


async def test_only_the_callers_files(client, db):  # noqa: F811
    a, b = await register_user(client), await register_user(client)
    await _insert_rows(db, a.id, 3)
    assert (await client.get("/files?page=1", headers=b.headers)).json()["total"] == 0
    assert (await client.get("/files", headers=b.headers)).json() == {"items": [], "nextCursor": None}


@pytest.mark.parametrize("query,field", [
    ("cursor=garbage", "cursor"), ("cursor=AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA", "cursor"),
    ("cursor=%00%01", "cursor"), ("pageSize=0", "pageSize"), ("pageSize=101", "pageSize"),
    ("pageSize=abc", "pageSize"), ("pageSize=1.5", "pageSize"), ("page=0", "page"), ("page=-1", "page"),
    ("page=x", "page"), ("page=99999999999999999999", "page"), ("page=1&cursor=abc", "cursor"),
])
async def test_bad_paging_parameters_are_400_naming_the_field(client, user, query, field):
    r = await client.get(f"/files?{query}", headers=user.headers)
    assert r.status_code == 400, r.text
    assert r.json()["field"] == field and r.json()["message"]


async def test_keyset_query_is_an_index_range_scan(settings, db):  # noqa: F811
    """The deep-page query walks an index from the position: no sort, no offset scan."""
    for filtered in (False, True):
        sql = page_after_sql(filtered, keyset=True)
        args = [uuid.uuid4(), 51] + ([["available"]] if filtered else []) + [datetime.now(timezone.utc), uuid.uuid4()]
        await db.execute("SET enable_seqscan = off")
        try:
            plan = "\n".join(r[0] for r in await db.fetch("EXPLAIN " + sql, *args))
        finally:
            await db.execute("RESET enable_seqscan")
        assert "Index Scan using files_user_" in plan and "Sort" not in plan, plan
        cond = next(line for line in plan.splitlines() if "Index Cond" in line)
        assert "ROW(created_at, id) <" in cond, plan  # the position is where the scan starts, not a filter
        if not filtered:
            assert "files_user_visible_idx" in plan and "Filter" not in plan, plan
