"""Engagement: the rate, posts, medians, lift, the Mann-Whitney test against hand-computed
cases, the table's suite (tampered values caught), and the "insta-bae" regression on planted data."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, timedelta

import numpy as np
import pytest

from trendscope.quality.context import suite_context
from trendscope.quality.gate import validate_partition
from trendscope.tables.schemas import ENGAGEMENT, relaxed, to_table
from trendscope.trends.engagement import (
    Post,
    engagement_for_days,
    engagement_rate,
    label_engagement,
    mann_whitney,
    posts_from_tables,
)
from trendscope.trends.instabae import instabae, repeated_holdouts

DAY = date(2026, 11, 8)
CAT, DOG, FOOD = ("object", "cat", None), ("object", "dog", None), ("scene", "food", None)


@pytest.mark.parametrize(
    ("likes", "followers", "rate"),
    [
        (10, 100, 0.1),
        (150, 100, 1.5),  # a viral post: more likes than followers is a rate above 1
        (0, 50, 0.0),
        (None, 100, None),  # unknown likes
        (10, None, None),  # unknown followers
        (10, 0, None),  # no followers: undefined, left out
    ],
)
def test_engagement_rate(likes, followers, rate) -> None:
    assert engagement_rate(likes, followers) == rate


@pytest.mark.parametrize(("likes", "followers"), [(-1, 10), (5, -3)])
def test_negative_counts_are_an_error(likes, followers) -> None:
    with pytest.raises(ValueError, match="negative"):
        engagement_rate(likes, followers)


@pytest.mark.parametrize(
    ("with_", "without", "u", "p"),
    [
        # 3 > 1, 2; 5 > 1, 2, 4; 8 > all four: U = 2 + 3 + 4 = 9 of 12 pairs. Exact null: of the
        # C(7, 3) = 35 orderings, 7 give U >= 9 (U = 9: 3, 10: 2, 11: 1, 12: 1): p = 2 * 7/35
        ([3, 5, 8], [1, 2, 4, 6], 9.0, 0.4),
        ([1, 2, 4, 6], [3, 5, 8], 3.0, 0.4),  # the other side: U' = 12 - 9
        # every post with the label beats every post without: U = n1 n2, p = 2 / C(6, 3)
        ([7, 8, 9], [1, 2, 3], 9.0, 0.1),
    ],
)
def test_mann_whitney_against_hand_computed_cases(with_, without, u, p) -> None:
    got_u, got_p = mann_whitney(with_, without)
    assert got_u == u
    assert got_p == pytest.approx(p)


def test_mann_whitney_ties_count_one_half_and_all_equal_is_p_1() -> None:
    assert mann_whitney([2, 2], [2, 1])[0] == 3.0  # (0.5 + 1) + (0.5 + 1)
    assert mann_whitney([0.1] * 6, [0.1] * 6) == (18.0, 1.0)


def _post(key: str, rate: float | None, *labels, day: date = DAY, author: str = "a") -> Post:
    return Post(key, "shibuya", day, author, rate, frozenset(labels))


def test_medians_lift_shares_and_test_of_one_window() -> None:
    posts = [
        _post("1", 0.1, CAT, FOOD),
        _post("2", 0.3, CAT),
        _post("3", 0.2, CAT),
        _post("4", 0.05, FOOD),
        _post("5", 0.1),
        _post("6", None, CAT),  # shows a cat, no rate: counted in label_posts only
    ]
    rows = {(r["kind"], r["label"]): r for r in label_engagement(posts, min_posts=2)}
    cat = rows[("object", "cat")]
    assert (cat["posts"], cat["rated_posts"], cat["label_posts"]) == (6, 5, 4)
    assert (cat["rated_with"], cat["rated_without"]) == (3, 2)
    assert cat["median_with"] == pytest.approx(0.2)
    assert cat["median_without"] == pytest.approx(0.075)
    assert cat["lift"] == pytest.approx(0.2 / 0.075)
    assert cat["share"] == pytest.approx(3 / 5)
    assert cat["engagement_share"] == pytest.approx(0.6 / 0.75)
    # with {0.1, 0.3, 0.2} against {0.05, 0.1}: 1.5 + 2 + 2 = 5.5 of 6 pairs (one tie)
    assert cat["u_statistic"] == 5.5 and cat["auc"] == pytest.approx(5.5 / 6)
    assert cat["p_adjusted"] >= cat["p_value"]
    food = rows[("scene", "food")]
    assert (food["rated_with"], food["median_with"]) == (2, pytest.approx(0.075))


def test_too_few_posts_on_a_side_are_not_tested() -> None:
    posts = [_post(str(i), 0.1 * (i + 1), *([CAT] if i < 4 else [])) for i in range(20)]
    (cat,) = label_engagement(posts, min_posts=5)
    assert (cat["rated_with"], cat["rated_without"]) == (4, 16)
    assert cat["lift"] is not None  # medians are still given
    assert (cat["u_statistic"], cat["p_value"], cat["engagement"]) == (None, None, "insufficient")


def test_no_followers_and_missing_counts_leave_a_post_unrated() -> None:
    images = [
        {"image_id": "a", "location": "shibuya", "date": DAY, "status": "ok", "post_id": "p1",
         "likes": 5, "followers": 0, "author": "x"},
        {"image_id": "b", "location": "shibuya", "date": DAY, "status": "ok", "post_id": "p2",
         "likes": None, "followers": 100, "author": "x"},
        {"image_id": "c", "location": "shibuya", "date": DAY, "status": "ok", "post_id": "p3",
         "likes": 20, "followers": 100, "author": "y"},
    ]  # fmt: skip
    posts = {p.key: p for p in posts_from_tables(images, [])}
    assert (posts["p1"].rate, posts["p2"].rate, posts["p3"].rate) == (None, None, 0.2)


def test_images_of_one_post_are_one_post_and_duplicates_are_none() -> None:
    base = {"location": "shibuya", "date": DAY, "author": "mika", "scene": None}
    images = [
        base | {"image_id": "i1", "status": "ok", "post_id": "p", "likes": 30, "followers": 300},
        base | {"image_id": "i2", "status": "ok", "post_id": "p", "likes": 30, "followers": 300},
        base
        | {"image_id": "i3", "status": "duplicate", "post_id": "q", "likes": 1, "followers": 9},
        base
        | {"image_id": "i4", "status": "ok", "post_id": None, "likes": None, "followers": None},
    ]
    detections = [
        {"image_id": "i1", "label": "cat", "fine_label": "tabby"},
        {"image_id": "i2", "label": "dog", "fine_label": None, "colour": "brown"},
        {"image_id": "i3", "label": "cat", "fine_label": None},
    ]
    posts = {p.key: p for p in posts_from_tables(images, detections)}
    assert set(posts) == {"p", "i4"}  # a carousel post, and an image without a post id
    assert posts["p"].rate == pytest.approx(0.1)
    assert posts["p"].labels == {
        ("object", "cat", None),
        ("object", "cat", "tabby"),
        ("object", "dog", None),
        ("colour", "dog/brown", None),
    }
    assert posts["p"].image_ids == ("i1", "i2")


def _planted(n: int, seed: int, lift: float = 2.0, start: date = DAY) -> list[Post]:
    """``n`` posts over a week: a third show a dog, which multiplies the rate by ``lift``;
    heavy-tailed follower effects and noise."""
    rng = np.random.default_rng(seed)
    posts = []
    for i in range(n):
        labels = {("object", "person", None)} if rng.random() < 0.5 else set()
        if rng.random() < 1 / 3:
            labels.add(DOG)
        if rng.random() < 0.4:
            labels.add(FOOD)
        followers = rng.lognormal(7.5, 1.3)
        rate = 0.04 * (followers / 1000) ** -0.2 * (lift if DOG in labels else 1.0)
        rate *= rng.lognormal(0, 0.35)
        day = start - timedelta(days=int(rng.integers(7)))
        posts.append(Post(str(i), "shibuya", day, f"u{i % 30}", rate, frozenset(labels)))
    return posts


def test_planted_lift_is_recovered_and_nothing_else_is_called() -> None:
    tables = engagement_for_days(_planted(300, 1), "shibuya", [DAY], window_days=7)
    rows = {
        (r["window_days"], r["label"]): r for r in tables[DAY].to_pylist() if r["kind"] != "scene"
    }
    dog = rows[(7, "dog")]
    assert dog["posts"] == 300 and dog["window_start"] == DAY - timedelta(days=6)
    assert dog["lift"] == pytest.approx(2.0, rel=0.25)
    assert dog["p_adjusted"] < 1e-6 and dog["engagement"] == "higher"
    assert rows[(7, "person")]["engagement"] != "higher"  # nothing planted
    assert rows[(1, "dog")]["posts"] < 300  # the day alone


# --- the suite --------------------------------------------------------------------------------


def _table_rows() -> list[dict]:
    return engagement_for_days(_planted(120, 2), "shibuya", [DAY], window_days=7)[DAY].to_pylist()


def _validate(config, rows):
    ctx = suite_context(config, ENGAGEMENT.name, "shibuya", DAY.isoformat())
    return validate_partition(
        config, ENGAGEMENT, relaxed(to_table(ENGAGEMENT, rows)), ctx, area="staging"
    )


def test_a_computed_engagement_partition_passes_its_suite(config) -> None:
    rows = _table_rows()
    assert {r["engagement"] for r in rows} >= {"higher", "similar"}
    report = _validate(config, rows)
    assert report.success, report.summary()
    assert report.evaluated >= 30


def _first(rows: list[dict], **where) -> dict:
    return next(r for r in rows if all(r[k] == v for k, v in where.items()))


def _dog(rows: list[dict]) -> dict:
    return _first(rows, label="dog", window_days=7)


def _least(rows: list[dict]) -> dict:
    """The tested row with the largest p-value."""
    return max((r for r in rows if r["p_value"] is not None), key=lambda r: r["p_value"])


TAMPERS: list[tuple[str, Callable[[list[dict]], object], str]] = [
    ("lift off its medians", lambda rows: _dog(rows).update(lift=5.0), "lift_gap"),
    ("share above 1", lambda rows: _dog(rows).update(share=1.2), "share"),
    ("counts do not add up", lambda rows: _dog(rows).update(rated_with=3), "rated_gap"),
    ("auc off its U", lambda rows: _dog(rows).update(auc=0.51), "auc_gap"),
    ("p_adjusted below p_value", lambda rows: _least(rows).update(p_adjusted=0.01), "p_adjusted_excess"),
    ("significant but similar", lambda rows: _dog(rows).update(engagement="similar"), "engagement"),
    ("unknown verdict", lambda rows: _dog(rows).update(engagement="viral"), "engagement"),
    ("window start", lambda rows: _dog(rows).update(window_start=DAY), "window_gap"),
    ("negative median", lambda rows: _dog(rows).update(median_with=-0.1), "median_with"),
    ("unknown kind", lambda rows: _dog(rows).update(kind="hashtag"), "kind"),
    ("unknown label", lambda rows: _dog(rows).update(label="unicorn"), "label"),
    ("unknown colour", lambda rows: _dog(rows).update(kind="colour", label="dog/teal"), "label"),
    ("another day", lambda rows: _dog(rows).update(date=DAY - timedelta(days=1)), "date"),
    ("duplicate row", lambda rows: rows.append(dict(_dog(rows))), "window_days"),
    ("untested with a verdict", lambda rows: _dog(rows).update(p_value=None), "p_value"),
]  # fmt: skip


@pytest.mark.parametrize(("what", "tamper", "column"), TAMPERS, ids=[t[0] for t in TAMPERS])
def test_tampered_engagement_is_caught(config, what, tamper, column) -> None:
    rows = _table_rows()
    tamper(rows)
    report = _validate(config, rows)
    assert not report.success, what
    named = {f.column for f in report.failures} | {
        c for f in report.failures for c in (f.description or "", f.expectation)
    }
    assert any(column in n for n in named if n), report.summary()


# --- the regression ---------------------------------------------------------------------------


def test_regression_beats_the_mean_baseline_on_planted_data() -> None:
    posts = _planted(400, 3)
    result = instabae(posts, "shibuya")
    assert (result.train, result.test) == (320, 80)
    assert result.beats_baseline, result
    assert result.r2 > 0.15 and result.baseline_r2 <= 0.0
    assert result.top_features[0][0] == "object:dog" and result.top_features[0][1] > 0
    summary = repeated_holdouts(posts, "shibuya", seeds=range(5), model="gbr")
    assert summary["wins"] == 1.0, summary


def test_regression_finds_nothing_where_nothing_is_planted() -> None:
    summary = repeated_holdouts(_planted(400, 4, lift=1.0), "shibuya", seeds=range(5))
    assert summary["r2"] < 0.05, summary


def test_regression_needs_rated_posts() -> None:
    with pytest.raises(ValueError, match="shibuya: 3 posts with likes"):
        instabae(_planted(3, 5), "shibuya")
