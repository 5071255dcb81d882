"""Who drives a trend: the authors behind a label, and how varied each author's posts are.

For a location and a range of days, each author's posts, how many show the label, their share of
the label's posts, and the Shannon entropy (bits) of the author's *label combinations*: the set
of object labels detected in each post (``{cat}``, ``{cup, person}``, ``{}`` for nothing
detected). An account posting the same kind of photo every time has entropy 0; one whose posts
spread evenly over 2^k combinations has k bits. This tells a broad movement (many varied posters)
from a few one-topic accounts (``docs/methodology.md``, "Who drives a trend").
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Sequence
from typing import Any

from trendscope.trends.engagement import Post


def shows(post: Post, label: str, kind: str | None = None) -> bool:
    """Whether ``post`` shows ``label``: an object or scene label (``cat``, ``food``), a fine
    label (``cat/tabby``) or a colour label (``handbag/red``); of ``kind`` only when given
    (``object``, ``scene``, ``colour``: the scene ``cat`` is not the object ``cat``)."""
    for own_kind, name, fine in post.labels:
        if kind is not None and own_kind != kind:
            continue
        if (fine is None and name == label) or (fine is not None and f"{name}/{fine}" == label):
            return True
    return False


def combination(post: Post) -> frozenset[str]:
    """The set of object labels detected in ``post`` (fine labels, scenes, colours left out)."""
    return frozenset(name for kind, name, fine in post.labels if kind == "object" and fine is None)


def entropy_bits(counts: Sequence[int]) -> float:
    """Shannon entropy (bits) of a distribution given by counts; 0 for one outcome."""
    total = sum(counts)
    if total == 0:
        return 0.0
    return max(0.0, -sum(c / total * math.log2(c / total) for c in counts if c > 0))


def author_rows(
    posts: Sequence[Post], label: str | None = None, kind: str | None = None
) -> list[dict[str, Any]]:
    """One row per known author of ``posts``: who posts (and who posts ``label``).

    Args:
        posts: One location's posts over the range asked for.
        label: Optional label; without it every post counts as "the label's".
        kind: Optional kind of ``label`` (see :func:`shows`).

    Returns:
        Rows with ``author``, ``posts``, ``label_posts``, ``share`` (of the label's posts by
        known authors), ``combinations`` (distinct label combinations) and ``entropy`` (bits),
        sorted by ``label_posts`` then ``posts``, most first. Authors without a post showing
        ``label`` are left out; posts without an author are not attributed to anyone.
    """
    by_author: dict[str, list[Post]] = {}
    for p in posts:
        if p.author is not None:
            by_author.setdefault(p.author, []).append(p)

    def counts(p: Post) -> bool:
        return label is None or shows(p, label, kind)

    total = sum(1 for p in posts if p.author is not None and counts(p))
    rows = []
    for author, own in by_author.items():
        hits = sum(1 for p in own if counts(p))
        if hits == 0:
            continue
        combos = Counter(combination(p) for p in own)
        rows.append(
            {
                "author": author,
                "posts": len(own),
                "label_posts": hits,
                "share": hits / total if total else None,
                "combinations": len(combos),
                "entropy": entropy_bits(list(combos.values())),
            }
        )
    rows.sort(key=lambda r: (-r["label_posts"], -r["posts"], r["author"]))
    return rows


def top_authors(
    posts: Sequence[Post], label: str, n: int = 3, kind: str | None = None
) -> list[dict[str, Any]]:
    """The ``n`` authors with the most posts showing ``label`` (see :func:`author_rows`)."""
    return author_rows(posts, label, kind)[:n]
