"""Part-size choice and validation (pure functions), with hypothesis properties."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from service.errors import Invalid
from service.uploads.partsize import (DEFAULT_FLOOR, MAX_MULTIPART_BYTES, MAX_PART_SIZE, MAX_PARTS, MIN_PART_SIZE,
                                      GiB, MiB, choose_part_size, part_count, part_length, resolve_part_size)

sizes = st.integers(min_value=1, max_value=MAX_MULTIPART_BYTES)


@given(sizes)
def test_chosen_part_size_is_valid_and_minimal(size):
    ps = choose_part_size(size)
    assert MIN_PART_SIZE <= ps <= MAX_PART_SIZE
    assert ps >= DEFAULT_FLOOR and ps % MiB == 0
    assert part_count(size, ps) <= MAX_PARTS
    # one MiB less would either break the floor or need too many parts
    assert ps == DEFAULT_FLOOR or part_count(size, ps - MiB) > MAX_PARTS


@given(sizes, st.integers(min_value=MIN_PART_SIZE, max_value=MAX_PART_SIZE))
def test_parts_add_up_to_the_size(size, ps):
    count = part_count(size, ps)
    if count > 50:  # keep the sum cheap; the formula is the same for every middle part
        assert part_length(size, ps, 1) == ps
        last = part_length(size, ps, count)
        assert ps * (count - 1) + last == size and 1 <= last <= ps
    else:
        assert sum(part_length(size, ps, n) for n in range(1, count + 1)) == size


@given(sizes, st.one_of(st.none(), st.integers(min_value=-1, max_value=6 * GiB)))
def test_resolve_accepts_exactly_the_valid_part_sizes(size, requested):
    valid = requested is None or (MIN_PART_SIZE <= requested <= MAX_PART_SIZE
                                  and part_count(size, requested) <= MAX_PARTS)
    if valid:
        ps, count = resolve_part_size(size, requested)
        assert count == part_count(size, ps) <= MAX_PARTS
        assert requested is None or ps == requested
    else:
        with pytest.raises(Invalid) as err:
            resolve_part_size(size, requested)
        assert err.value.field == "partSize"


def test_examples():
    assert choose_part_size(1) == 16 * MiB
    assert resolve_part_size(50 * GiB, None) == (16 * MiB, 3200)
    assert choose_part_size(MAX_MULTIPART_BYTES) == MAX_PART_SIZE
    assert part_length(10, 16 * MiB, 1) == 10
    with pytest.raises(Invalid, match="10000 parts"):
        resolve_part_size(50 * GiB, 5 * MiB)
    with pytest.raises(ValueError):
        part_length(10, 5 * MiB, 2)
