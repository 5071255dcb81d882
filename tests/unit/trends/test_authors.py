"""Who drives a trend: posts, share of the label and label-combination entropy per author,
against hand-computed values."""

from __future__ import annotations

import math
from datetime import date

import pytest

from trendscope.trends.authors import author_rows, entropy_bits, shows, top_authors
from trendscope.trends.engagement import Post

DAY = date(2026, 11, 5)


def _post(key: str, author: str | None, *labels: str, fine: tuple[str, str] | None = None) -> Post:
    keys = {("object", label, None) for label in labels}
    if fine:
        keys.add(("object", *fine))
    keys.add(("scene", "food", None))  # scenes do not change a combination
    return Post(key, "shibuya", DAY, author, None, frozenset(keys))


POSTS = [
    # mika: {cat} twice, {cat, person}, {} -> counts 2, 1, 1 -> 1.5 bits
    _post("1", "mika", "cat", fine=("cat", "tabby")),
    _post("2", "mika", "cat"),
    _post("3", "mika", "cat", "person"),
    _post("4", "mika"),
    # ren: {cat} three times -> 0 bits, a one-topic account
    _post("5", "ren", "cat"),
    _post("6", "ren", "cat"),
    _post("7", "ren", "cat"),
    # aoi: {cup}, {person}: 1 bit, no cat
    _post("8", "aoi", "cup"),
    _post("9", "aoi", "person"),
    # no author: counted nowhere
    _post("10", None, "cat"),
]


@pytest.mark.parametrize(
    ("counts", "bits"),
    [
        ([4], 0.0),
        ([1, 1], 1.0),
        ([2, 1, 1], 1.5),
        ([1, 1, 1, 1], 2.0),
        ([3, 1], -(0.75 * math.log2(0.75) + 0.25 * math.log2(0.25))),
        ([], 0.0),
    ],
)
def test_entropy_bits(counts, bits) -> None:
    assert entropy_bits(counts) == pytest.approx(bits)


def test_authors_of_a_label_with_share_and_entropy() -> None:
    rows = author_rows(POSTS, "cat")
    assert [r["author"] for r in rows] == ["mika", "ren"]  # 3 cat posts each, mika posts more
    mika, ren = rows
    assert (mika["posts"], mika["label_posts"], mika["combinations"]) == (4, 3, 3)
    assert mika["share"] == pytest.approx(0.5)  # 3 of the 6 cat posts with a known author
    assert mika["entropy"] == pytest.approx(1.5)
    assert (ren["posts"], ren["label_posts"], ren["share"], ren["entropy"]) == (3, 3, 0.5, 0.0)


def test_without_a_label_every_author_and_post_counts() -> None:
    rows = {r["author"]: r for r in author_rows(POSTS)}
    assert set(rows) == {"mika", "ren", "aoi"}
    assert rows["aoi"]["share"] == pytest.approx(2 / 9)
    assert rows["aoi"]["entropy"] == pytest.approx(1.0)


@pytest.mark.parametrize(
    ("label", "authors"),
    [("cat/tabby", ["mika"]), ("food", ["mika", "ren", "aoi"]), ("person", ["mika", "aoi"]),
     ("dog", [])],
)  # fmt: skip
def test_fine_and_scene_labels_select_posts(label, authors) -> None:
    assert [r["author"] for r in author_rows(POSTS, label)] == authors


def test_top_authors_and_shows() -> None:
    assert [r["author"] for r in top_authors(POSTS, "cat", n=1)] == ["mika"]
    assert shows(POSTS[0], "cat/tabby") and not shows(POSTS[0], "tabby")


def test_kind_tells_the_scene_from_the_object() -> None:
    post = Post("s", "shibuya", DAY, "mika", None, frozenset({("scene", "cat", None)}))
    assert shows(post, "cat") and shows(post, "cat", "scene") and not shows(post, "cat", "object")
    assert author_rows([*POSTS, post], "cat", "scene")[0]["label_posts"] == 1
