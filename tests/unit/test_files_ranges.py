from datetime import datetime, timezone

import pytest

from service.errors import RangeNotSatisfiable
from service.files.ranges import http_date, if_range_allows, none_match, not_modified_since, parse_range


@pytest.mark.parametrize("header,size,expected", [
    ("bytes=0-0", 10, (0, 0)),
    ("bytes=0-9", 10, (0, 9)),
    ("bytes=2-5", 10, (2, 5)),
    ("bytes=5-", 10, (5, 9)),
    ("bytes=9-", 10, (9, 9)),
    ("bytes=-3", 10, (7, 9)),
    ("bytes=-30", 10, (0, 9)),           # suffix longer than the file: the whole file
    ("bytes=3-1000", 10, (3, 9)),        # end past the file is clamped
    ("BYTES = 1 - 2", 10, (1, 2)),
    (None, 10, None),
    ("bytes=0-1,4-5", 10, None),         # several ranges: ignored, whole file
    ("items=0-1", 10, None),             # unknown unit: ignored
    ("bytes=abc", 10, None),
    ("bytes=-", 10, None),
])
def test_parse_range(header, size, expected):
    assert parse_range(header, size) == expected


@pytest.mark.parametrize("header,size", [("bytes=10-", 10), ("bytes=10-20", 10), ("bytes=5-2", 10),
                                         ("bytes=-0", 10), ("bytes=0-", 0), ("bytes=-5", 0)])
def test_unsatisfiable_ranges_are_416_with_size(header, size):
    with pytest.raises(RangeNotSatisfiable) as err:
        parse_range(header, size)
    assert err.value.status == 416 and err.value.headers == {"Content-Range": f"bytes */{size}"}


def test_conditionals():
    etag = '"abc"'
    moment = datetime(2026, 1, 2, 3, 4, 5, 678, tzinfo=timezone.utc)
    assert none_match('"abc"', etag) and none_match('W/"abc"', etag) and none_match('"x", "abc"', etag)
    assert none_match("*", etag) and not none_match('"abd"', etag) and not none_match(None, etag)
    assert not_modified_since(http_date(moment), moment)
    assert not not_modified_since("Thu, 01 Jan 2026 00:00:00 GMT", moment)
    assert not not_modified_since("garbage", moment)
    assert if_range_allows(None, etag, moment)
    assert if_range_allows('"abc"', etag, moment) and not if_range_allows('"old"', etag, moment)
    assert not if_range_allows('W/"abc"', etag, moment)  # If-Range needs a strong match
    assert if_range_allows(http_date(moment), etag, moment)
    assert not if_range_allows("Thu, 01 Jan 2026 00:00:00 GMT", etag, moment)
    assert http_date(moment) == "Fri, 02 Jan 2026 03:04:05 GMT"
