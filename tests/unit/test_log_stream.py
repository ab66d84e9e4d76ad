"""Lines of a log object: plain text or gzip (multi-member too), read incrementally, damage reported.

ALB delivers `.log.gz` objects, one per node per 5 minutes, sometimes gigabytes raw and sometimes
made of several gzip members. A truncated or corrupt object must still give the lines decoded
before the damage, then `CorruptLogError` (never another exception type).
"""

from __future__ import annotations

import gzip
import io
import random

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from secauto_core.log_stream import CorruptLogError, iter_lines

MIB = 1024 * 1024


class RecordingSource:
    """A byte source with only `read(n)` (like botocore's StreamingBody) that records each request."""

    def __init__(self, data: bytes) -> None:
        self._data = io.BytesIO(data)
        self.size = len(data)
        self.requests: list[int | None] = []

    def read(self, size: int | None = -1, /) -> bytes:
        self.requests.append(size)
        return self._data.read(size)

    @property
    def consumed(self) -> int:
        return self._data.tell()

    @property
    def largest_request(self) -> float:
        """The largest size asked for; an unbounded `read()` / `read(-1)` counts as infinite."""
        sizes = [float("inf") if n is None or n < 0 else float(n) for n in self.requests]
        return max(sizes, default=0.0)


def make_lines(count: int, seed: int = 7) -> list[bytes]:
    """Entry-like lines with enough randomness that gzip cannot shrink them to nothing."""
    rng = random.Random(seed)
    lines = []
    for i in range(count):
        trace = rng.randbytes(12).hex()
        path = rng.randbytes(24).hex()
        client = f"{rng.randrange(1, 224)}.{rng.randrange(256)}.{rng.randrange(256)}.{rng.randrange(256)}"
        lines.append(
            f"https 2025-03-14T09:{i // 60 % 60:02d}:{i % 60:02d}.000000Z app/lb/0123456789abcdef "
            f"{client}:{rng.randrange(1024, 65536)} 10.0.0.{rng.randrange(256)}:443 0.001 0.010 0.000 200 200 "
            f'{rng.randrange(10**6)} {rng.randrange(10**6)} "GET https://example.org:443/p/{path} HTTP/1.1" '
            f'"ua/{rng.randrange(100)}" - - - "Root=1-{trace}" "-" "-" 1 - "forward" "-" "-"\n'.encode()
        )
    return lines


def read_all(data: bytes, name: str = "") -> list[bytes]:
    return list(iter_lines(RecordingSource(data), name=name))


def read_until_error(data: bytes) -> tuple[list[bytes], BaseException | None]:
    """The lines yielded, and the exception that ended the iteration (None if it ended cleanly)."""
    got: list[bytes] = []
    try:
        for line in iter_lines(RecordingSource(data)):
            got.append(line)
    except Exception as exc:
        return got, exc
    return got, None


LINES = make_lines(400)
TEXT = b"".join(LINES)
GZ = gzip.compress(TEXT, compresslevel=6, mtime=0)


# --------------------------------------------------------------------------------------------------
# Well-formed objects.


def test_plain_text_lines_keep_their_newlines() -> None:
    data = b"first line\nsecond line\r\nthird without newline"
    assert read_all(data) == [b"first line\n", b"second line\r\n", b"third without newline"]


def test_gzip_object() -> None:
    assert read_all(GZ) == LINES


def test_gzip_final_line_without_newline_is_yielded() -> None:
    data = gzip.compress(b"one\ntwo\nthree", mtime=0)
    assert read_all(data) == [b"one\n", b"two\n", b"three"]


def test_multi_member_gzip_yields_the_lines_of_every_member() -> None:
    first, second = LINES[:150], LINES[150:]
    data = gzip.compress(b"".join(first), mtime=0) + gzip.compress(b"".join(second), mtime=0)
    assert read_all(data) == LINES


def test_many_small_members_and_an_empty_one() -> None:
    members = [gzip.compress(line, mtime=0) for line in LINES[:50]] + [gzip.compress(b"", mtime=0)]
    assert read_all(b"".join(members)) == LINES[:50]


def test_a_line_split_across_two_members_is_one_line() -> None:
    """gzip members concatenate: the content is the concatenation of their contents."""
    data = gzip.compress(b"alpha\nbra", mtime=0) + gzip.compress(b"vo\ncharlie\n", mtime=0)
    assert read_all(data) == [b"alpha\n", b"bravo\n", b"charlie\n"]


@pytest.mark.parametrize("data", [b"", gzip.compress(b"", mtime=0)], ids=["empty", "empty-gzip"])
def test_empty_objects_yield_nothing(data: bytes) -> None:
    assert read_all(data) == []


def test_raw_bytes_are_not_decoded() -> None:
    data = b"caf\xc3\xa9 \xff\xfe not utf-8\n"
    assert read_all(data) == [data]
    assert read_all(gzip.compress(data, mtime=0)) == [data]


# --------------------------------------------------------------------------------------------------
# Reading is incremental.


@pytest.mark.parametrize("compressed", [True, False], ids=["gzip", "plain"])
def test_a_large_object_is_read_in_bounded_pieces_and_no_line_is_lost(compressed: bool) -> None:
    """Given ~5 MB of log text (its last line without newline), reading asks for at most 1 MiB at a
    time, the first line comes out before the object has been read, and every line arrives."""
    lines = make_lines(20_000, seed=11)
    lines[-1] = lines[-1].rstrip(b"\n")
    text = b"".join(lines)
    assert len(text) > 5_000_000
    data = gzip.compress(text, compresslevel=1, mtime=0) if compressed else text
    assert len(data) > 1.5 * MIB, "the object is larger than any single read we allow"
    source = RecordingSource(data)

    stream = iter_lines(source)
    first = next(stream)
    consumed_after_first_line = source.consumed
    rest = list(stream)

    assert [first, *rest] == lines
    assert consumed_after_first_line < source.size / 2
    assert source.largest_request <= MIB
    assert source.consumed == source.size


# --------------------------------------------------------------------------------------------------
# Damaged objects.


def test_truncated_gzip_yields_a_prefix_then_corrupt_log_error() -> None:
    data = GZ[: len(GZ) // 2]

    got, error = read_until_error(data)

    assert isinstance(error, CorruptLogError)
    assert 0 < len(got) < len(LINES), "the lines before the cut are kept"
    assert got == LINES[: len(got)]


def test_gzip_missing_only_its_trailer_is_corrupt() -> None:
    got, error = read_until_error(GZ[:-4])
    assert isinstance(error, CorruptLogError)
    assert got == LINES[: len(got)]


def test_truncated_second_member_keeps_the_first_members_lines() -> None:
    first = gzip.compress(b"".join(LINES[:100]), mtime=0)
    second = gzip.compress(b"".join(LINES[100:]), mtime=0)

    got, error = read_until_error(first + second[: len(second) // 2])

    assert isinstance(error, CorruptLogError)
    assert len(got) >= 100
    assert got == LINES[: len(got)]


@settings(max_examples=40, deadline=None)
@given(st.integers(min_value=2, max_value=len(GZ) - 1))
def test_any_truncation_yields_whole_lines_of_a_prefix_then_corrupt_log_error(cut: int) -> None:
    got, error = read_until_error(GZ[:cut])

    assert isinstance(error, CorruptLogError), repr(error)
    assert got == LINES[: len(got)], "only complete, original lines, in order"


def test_flipped_bytes_in_the_middle_raise_corrupt_log_error() -> None:
    damaged = bytearray(GZ)
    middle = len(damaged) // 2
    for i in range(middle, middle + 16):
        damaged[i] ^= 0xFF

    _, error = read_until_error(bytes(damaged))

    assert isinstance(error, CorruptLogError), repr(error)


@settings(max_examples=60, deadline=None)
@given(st.data())
def test_any_damage_to_the_compressed_data_raises_only_corrupt_log_error(data: st.DataObject) -> None:
    """Bytes flipped anywhere in the deflate data or the trailer (not the last deflate byte, whose
    padding bits may be unused, nor the header's time and OS bytes, which gzip does not check)."""
    damaged = bytearray(GZ)
    positions = data.draw(
        st.lists(st.integers(min_value=10, max_value=len(GZ) - 10), min_size=1, max_size=4, unique=True)
        | st.lists(
            st.integers(min_value=len(GZ) - 8, max_value=len(GZ) - 1), min_size=1, max_size=2, unique=True
        )
    )
    for position in positions:
        damaged[position] ^= data.draw(st.integers(min_value=1, max_value=255))

    _, error = read_until_error(bytes(damaged))

    assert isinstance(error, CorruptLogError), repr(error)


@pytest.mark.parametrize(
    "data",
    [
        b"\x1f\x8b",
        b"\x1f\x8b\x08\x00\x00\x00\x00\x00\x00\x03",
        b"\x1f\x8b" + b"definitely not deflate data\n" * 10,
        GZ + b"trailing garbage after the member",
    ],
    ids=["magic-only", "header-only", "magic-then-text", "garbage-after-member"],
)
def test_other_broken_gzip_objects_raise_corrupt_log_error(data: bytes) -> None:
    _, error = read_until_error(data)
    assert isinstance(error, CorruptLogError), repr(error)
