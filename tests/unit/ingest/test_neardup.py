"""The near-duplicate index gives exactly the pairwise scan's matches, tie-breaking included."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta

import numpy as np
import pytest

from trendscope.config import DedupConfig
from trendscope.ingest.inspect import hamming
from trendscope.ingest.neardup import NearDuplicateIndex, hash_value
from trendscope.pipeline.ingest import mark_near_duplicates

R = DedupConfig().max_distance  # 6 by default
T0 = datetime(2026, 11, 2, 9, tzinfo=UTC)


def _hex(value: int) -> str:
    return f"{value:016x}"


def _flip(value: int, bits: int, rng: random.Random) -> int:
    for b in rng.sample(range(64), bits):
        value ^= 1 << b
    return value


def _far_apart(n: int, min_distance: int, rng: random.Random) -> list[int]:
    """``n`` random 64-bit values pairwise more than ``min_distance`` bits apart."""
    out: list[int] = []
    while len(out) < n:
        v = rng.getrandbits(64)
        if all((v ^ u).bit_count() > min_distance for u in out):
            out.append(v)
    return out


def _row(name: str, phash: str | None, minute: int | None, status: str = "ok") -> dict:
    taken = None if minute is None else T0 + timedelta(minutes=minute)
    return {
        "image_id": name,
        "source_uri": f"/drop/{name}.jpg",
        "taken_at": taken,
        "phash": phash,
        "status": status,
        "reason": None,
    }


def _brute_force(rows: list[dict], earlier: list[tuple[str, str]], max_distance: int) -> None:
    """The former pairwise scan of ``pipeline.ingest`` (before the index), kept as the oracle."""
    seen = list(earlier)
    key = lambda r: (r["taken_at"] is None, r["taken_at"] or 0, r["source_uri"])  # noqa: E731
    for row in sorted(rows, key=key):
        if row["status"] != "ok" or not row.get("phash"):
            continue
        match = next(
            ((d, i) for h, i in seen if (d := hamming(h, row["phash"])) <= max_distance), None
        )
        if match:
            row["status"] = "duplicate"
            row["duplicate_of"] = match[1]
            row["reason"] = (
                f"near-duplicate (perceptual hash distance {match[0]}) of an earlier post"
            )
        else:
            seen.append((row["phash"], row["image_id"]))


def test_planted_copies_at_every_distance_match_exactly() -> None:
    """Originals in the window and in the day, a copy of each at distance 0..R+2 later that day."""
    rng = random.Random(16)
    distances = list(range(R + 3))
    originals = _far_apart(2 * len(distances), 2 * (R + 2) + 2, rng)
    earlier = [(_hex(v), f"w{k}") for k, v in enumerate(originals[: len(distances)])]
    rows = [_row(f"d{k}", _hex(v), k) for k, v in enumerate(originals[len(distances) :])]
    for d in distances:  # copy of window original d, then of day original d, both at distance d
        rows.append(_row(f"copy-w{d}", _hex(_flip(originals[d], d, rng)), 100 + d))
        rows.append(_row(f"copy-d{d}", _hex(_flip(originals[len(distances) + d], d, rng)), 200 + d))
    mark_near_duplicates(rows, earlier, R)
    got = {r["image_id"]: (r["status"], r.get("duplicate_of"), r["reason"]) for r in rows}
    for d in distances:
        for copy, original in ((f"copy-w{d}", f"w{d}"), (f"copy-d{d}", f"d{d}")):
            reason = f"near-duplicate (perceptual hash distance {d}) of an earlier post"
            expected = ("duplicate", original, reason) if d <= R else ("ok", None, None)
            assert got[copy] == expected, (copy, d)
    assert all(got[f"d{k}"] == ("ok", None, None) for k in distances)


# (window, day rows, expected {image_id: duplicate_of or None}); hashes as distances from 0
TIES = {
    "the earliest copy within the distance wins, not the closest": (
        [("000000000000003f", "far-but-first"), ("0000000000000000", "exact")],
        [_row("q", "0000000000000000", 0)],
        {"q": "far-but-first"},
    ),
    "window days come before the day's own rows": (
        [("000000000000003f", "window")],
        [_row("a", "0000000000000000", 0), _row("b", "0000000000000001", 1)],
        {"a": "window", "b": "window"},
    ),
    "a duplicate is not a copy later rows can match": (
        [],
        [
            _row("a", "0000000000000000", 0),
            _row("b", "000000000000003f", 1),  # 6 from a: a duplicate of a
            _row("c", "0000000000000fff", 2),  # 6 from b, 12 from a: not a duplicate
        ],
        {"a": None, "b": "a", "c": None},
    ),
    "the day's order is taken_at, then uri, not list order; no time goes last": (
        [],
        [
            _row("late", "0000000000000001", 5),
            _row("untimed", "0000000000000003", None),
            _row("early-b", "0000000000000002", 1),
            _row("early-a", "0000000000000000", 1),
        ],
        {"early-a": None, "early-b": "early-a", "late": "early-a", "untimed": "early-a"},
    ),
    "quarantined rows and rows without a hash are skipped": (
        [],
        [
            _row("bad", "0000000000000000", 0, status="quarantined"),
            _row("nohash", None, 1),
            _row("a", "0000000000000001", 2),
        ],
        {"bad": None, "nohash": None, "a": None},
    ),
}


@pytest.mark.parametrize(("earlier", "rows", "expected"), TIES.values(), ids=TIES.keys())
def test_tie_breaking_is_the_pairwise_scans(earlier, rows, expected) -> None:
    mark_near_duplicates(rows, earlier, R)
    assert {r["image_id"]: r.get("duplicate_of") for r in rows} == expected


@pytest.mark.parametrize("max_distance", [0, 1, 6, 10, 40, 64])
@pytest.mark.parametrize("seed", range(4))
def test_random_days_match_the_brute_force_scan(seed: int, max_distance: int) -> None:
    """Clustered hashes (so copies at all distances occur), ties in time, untimed and bad rows."""
    rng = random.Random(seed * 100 + max_distance)
    centres = [rng.getrandbits(64) for _ in range(25)]

    def draw() -> str:
        return _hex(_flip(rng.choice(centres), rng.randint(0, max_distance + 4) % 65, rng))

    earlier = [(draw(), f"w{k}") for k in range(300)]
    rows = [
        _row(
            f"r{k}",
            draw() if rng.random() > 0.05 else None,
            rng.choice([None, *range(40)]),
            status="quarantined" if rng.random() < 0.05 else "ok",
        )
        for k in range(300)
    ]
    expected = [dict(r) for r in rows]
    _brute_force(expected, earlier, max_distance)
    mark_near_duplicates(rows, earlier, max_distance)
    assert rows == expected
    assert sum(r["status"] == "duplicate" for r in rows) > 0


def test_matches_across_scan_blocks() -> None:
    """A window larger than one scan block: the first match may lie in any block."""
    rng = np.random.default_rng(3)
    values = rng.integers(0, 2**64, size=100_000, dtype=np.uint64, endpoint=False)
    query = 0x0123456789ABCDEF
    values[values == query] ^= np.uint64(0xFFFF)
    hexes = [f"{int(v):016x}" for v in values]
    far = (values ^ np.uint64(query)).astype(np.uint64)
    assert np.bitwise_count(far).min() > 2  # random hashes: none within 2 of the query
    cases = {(): None, (70_001,): (70_001, 1), (40_000, 99_999): (40_000, 1), (5, 70_001): (5, 1)}
    for planted, expected in cases.items():
        window = list(hexes)
        for pos in planted:
            window[pos] = f"{query ^ 1 << 7:016x}"
        index = NearDuplicateIndex(2, window)
        assert index.first_within(f"{query:016x}") == expected, planted


def test_added_hashes_are_found_after_the_initial_ones() -> None:
    index = NearDuplicateIndex(3, ["ffffffffffffffff"] * 1500)  # grows past its first capacity
    assert index.first_within("0000000000000000") is None
    assert index.add("0000000000000007") == 1500
    assert index.first_within("0000000000000000") == (1500, 3)
    assert index.first_within("ffffffffffffff00") is None and len(index) == 1501


@pytest.mark.parametrize(
    ("phash", "message"),
    [
        ("not-hex", "not a 64-bit hex string"),
        ("", "not a 64-bit hex string"),
        ("1" + "0" * 16, "not a 64-bit hex string"),
        ("-1", "not a 64-bit hex string"),
        ("0x1f", "not a 64-bit hex string"),
    ],
)
def test_a_bad_hash_is_named(phash: str, message: str) -> None:
    with pytest.raises(ValueError, match=message) as err:
        hash_value(phash)
    assert repr(phash) in str(err.value)


@pytest.mark.parametrize("max_distance", [-1, 65])
def test_max_distance_out_of_range(max_distance: int) -> None:
    with pytest.raises(ValueError, match="max_distance"):
        NearDuplicateIndex(max_distance)
