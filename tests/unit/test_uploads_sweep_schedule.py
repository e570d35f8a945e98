"""The sweep's arq cron schedule: checked with arq's own next_cron, for any interval."""

from __future__ import annotations

from datetime import datetime, timedelta

from arq.cron import next_cron
from hypothesis import given, settings
from hypothesis import strategies as st

from service.jobs import cron_schedule


def fire_times(fields: dict, start: datetime, n: int) -> list[datetime]:
    out, t = [], start
    for _ in range(n):
        t = next_cron(t, **{"second": 0, **fields}, microsecond=0)
        out.append(t)
    return out


@settings(max_examples=150, deadline=None)
@given(st.integers(min_value=1, max_value=2 * 86_400 - 1),
       st.datetimes(min_value=datetime(2020, 1, 1), max_value=datetime(2030, 1, 1)))
def test_the_sweep_runs_evenly_at_least_once_per_interval(interval, start):
    times = fire_times(cron_schedule(interval), start, 6)
    gaps = {(b - a).total_seconds() for a, b in zip(times, times[1:])}
    assert len(gaps) == 1, gaps                      # evenly spaced
    (gap,) = gaps
    if interval < 86_400:
        assert interval / 2 < gap <= interval
    else:
        assert gap == 86_400                          # longer intervals still sweep daily
    assert times[0] - start <= timedelta(seconds=max(1, gap))


def test_examples():
    assert cron_schedule(1) == {"second": set(range(60))}
    assert cron_schedule(60) == {"minute": set(range(60)), "second": {0}}
    assert cron_schedule(90) == {"minute": set(range(60)), "second": {0}}
    assert cron_schedule(3600) == {"hour": set(range(24)), "minute": {0}, "second": {0}}
