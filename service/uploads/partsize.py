"""Part-size rules for S3 multipart uploads (pure functions, no I/O).

S3 limits: parts of 5 MiB to 5 GiB (only the last part may be smaller), at most 10,000 parts.
"""

from __future__ import annotations

from service.errors import Invalid

MiB = 1024 * 1024
GiB = 1024 * MiB
MIN_PART_SIZE = 5 * MiB
MAX_PART_SIZE = 5 * GiB
MAX_PARTS = 10_000
DEFAULT_FLOOR = 16 * MiB  # fewer round trips; still small enough to resume cheaply
MAX_MULTIPART_BYTES = MAX_PART_SIZE * MAX_PARTS


def part_count(size: int, part_size: int) -> int:
    return -(-size // part_size)


def part_length(size: int, part_size: int, part_number: int) -> int:
    """Bytes expected in part `part_number` (1-based): part_size, or the remainder for the last."""
    count = part_count(size, part_size)
    if not 1 <= part_number <= count:
        raise ValueError(f"part {part_number} outside 1..{count}")
    return part_size if part_number < count else size - part_size * (count - 1)


def choose_part_size(size: int, floor: int = DEFAULT_FLOOR) -> int:
    """The smallest whole-MiB part size >= floor that keeps `size` within 10,000 parts."""
    if size < 1:
        raise ValueError("size must be >= 1")
    if size > MAX_MULTIPART_BYTES:
        raise ValueError("size exceeds what S3 multipart can hold")
    needed = -(-size // MAX_PARTS)            # bytes per part to stay within 10,000 parts
    needed = -(-needed // MiB) * MiB           # rounded up to whole MiB
    return min(max(floor, needed), MAX_PART_SIZE)


def resolve_part_size(size: int, requested: int | None) -> tuple[int, int]:
    """(part_size, part_count) for an upload of `size` bytes; Invalid naming the rule when the
    client's partSize breaks one."""
    if requested is None:
        ps = choose_part_size(size)
        return ps, part_count(size, ps)
    if not MIN_PART_SIZE <= requested <= MAX_PART_SIZE:
        raise Invalid(f"partSize must be between {MIN_PART_SIZE} (5 MiB) and {MAX_PART_SIZE} (5 GiB) bytes",
                      code="invalid_part_size", field="partSize")
    count = part_count(size, requested)
    if count > MAX_PARTS:
        raise Invalid(f"partSize {requested} would need {count} parts; at most {MAX_PARTS} parts are allowed "
                      f"(use partSize >= {-(-size // MAX_PARTS)})", code="too_many_parts", field="partSize")
    return requested, count
