"""The "insta-bae" regression: predict a post's engagement rate from what its image shows.

Features are the post's labels (:class:`~trendscope.trends.engagement.Post`): detected object
labels, fine labels, the scene, colour labels (``handbag/red``) when colours are published, each
an indicator, or the tag's importance in [0, 1] when the ``tags`` table gives one. The model is
a ridge regression (its penalty chosen by leave-one-out on the training posts; or gradient
boosting) per location, fitted on a seeded random 80% of the rated posts and scored on the other
20% against the mean of the training rates (the baseline a model must beat). One small holdout
is noisy, so :func:`repeated_holdouts` also scores many seeded splits. Method and numbers: ``docs/methodology.md`` ("Engagement") and
``benchmarks/RESULTS.md``.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from datetime import date
from typing import Any, Literal

import numpy as np

from trendscope.trends.engagement import LabelKey, Post

Model = Literal["ridge", "gbr"]


def feature_name(key: LabelKey) -> str:
    """``object:cat``, ``object:cat/tabby``, ``scene:street``, ``colour:handbag/red``."""
    kind, label, fine = key
    return f"{kind}:{label}" if fine is None else f"{kind}:{label}/{fine}"


def feature_matrix(
    posts: Sequence[Post],
    importance: Mapping[str, Mapping[str, float]] | None = None,
    names: Sequence[str] | None = None,
) -> tuple[np.ndarray, list[str]]:
    """One row per post, one column per label seen (or per name in ``names``).

    Args:
        posts: The posts.
        importance: Optional ``{post key: {feature name: importance}}`` (from ``tags``); a
            label the post shows without an importance counts 1.
        names: The columns to use (the training set's, when building a test matrix).

    Returns:
        ``(X, names)``.
    """
    if names is None:
        names = sorted({feature_name(k) for p in posts for k in p.labels})
    index = {n: i for i, n in enumerate(names)}
    x = np.zeros((len(posts), len(names)))
    for row, post in enumerate(posts):
        weights = (importance or {}).get(post.key, {})
        for key in post.labels:
            name = feature_name(key)
            if name in index:
                x[row, index[name]] = weights.get(name, 1.0)
    return x, list(names)


@dataclass
class RegressionResult:
    """Holdout scores of one location's regression beside the mean baseline."""

    location: str
    model: str
    posts: int  # rated posts
    train: int
    test: int
    features: int
    r2: float
    mae: float
    baseline_r2: float  # predicting the training mean for every test post
    baseline_mae: float
    top_features: list[tuple[str, float]] = field(default_factory=list)  # largest effects

    @property
    def beats_baseline(self) -> bool:
        """Lower MAE and higher R² than the mean baseline on the held-out posts."""
        return self.mae < self.baseline_mae and self.r2 > self.baseline_r2

    def to_dict(self) -> dict[str, Any]:
        return asdict(self) | {"beats_baseline": self.beats_baseline}


def _r2(y: np.ndarray, pred: np.ndarray) -> float:
    ss_res = float(((y - pred) ** 2).sum())
    ss_tot = float(((y - y.mean()) ** 2).sum())
    return 1.0 - ss_res / ss_tot if ss_tot > 0 else float("nan")


def instabae(
    posts: Sequence[Post],
    location: str,
    *,
    model: Model = "ridge",
    test_fraction: float = 0.2,
    seed: int = 0,
    ridge_alphas: Sequence[float] = tuple(np.logspace(-1, 3, 13)),
    importance: Mapping[str, Mapping[str, float]] | None = None,
    min_posts: int = 20,
) -> RegressionResult:
    """Fit and score the engagement regression of one location on a seeded 8:2 holdout.

    Args:
        posts: Posts (of any locations; only ``location``'s rated ones are used).
        location: The location.
        model: ``ridge`` (scikit-learn ``Ridge``) or ``gbr`` (``GradientBoostingRegressor``).
        test_fraction: Share of the rated posts held out.
        seed: Seed of the split (and of the boosting).
        ridge_alphas: Ridge penalties to choose from by leave-one-out on the training posts.
        importance: Optional tag importances (see :func:`feature_matrix`).
        min_posts: Fewest rated posts to fit at all.

    Raises:
        ValueError: Fewer than ``min_posts`` rated posts, or an unknown model.
    """
    rated = [p for p in posts if p.location == location and p.rate is not None]
    if len(rated) < min_posts:
        raise ValueError(
            f"{location}: {len(rated)} posts with likes and followers, the regression needs "
            f"at least {min_posts}"
        )
    rated.sort(key=lambda p: (p.date, p.key))
    order = np.random.default_rng(seed).permutation(len(rated))
    n_test = max(1, round(test_fraction * len(rated)))
    test_idx, train_idx = order[:n_test], order[n_test:]
    train = [rated[i] for i in train_idx]
    test = [rated[i] for i in test_idx]
    x_train, names = feature_matrix(train, importance)
    x_test, _ = feature_matrix(test, importance, names)
    y_train = np.array([p.rate for p in train], dtype=float)
    y_test = np.array([p.rate for p in test], dtype=float)
    if model == "ridge":
        from sklearn.linear_model import RidgeCV

        fitted = RidgeCV(alphas=list(ridge_alphas)).fit(x_train, y_train)
        effects = fitted.coef_
    elif model == "gbr":
        from sklearn.ensemble import GradientBoostingRegressor

        fitted = GradientBoostingRegressor(
            n_estimators=200, max_depth=2, learning_rate=0.05, subsample=0.8, random_state=seed
        ).fit(x_train, y_train)
        effects = fitted.feature_importances_
    else:
        raise ValueError(f"unknown model {model!r} (ridge or gbr)")
    pred = np.clip(fitted.predict(x_test), 0.0, None)  # a rate is never negative
    base = np.full_like(y_test, y_train.mean())
    top = sorted(zip(names, (float(e) for e in effects), strict=True), key=lambda t: -abs(t[1]))
    return RegressionResult(
        location=location,
        model=model,
        posts=len(rated),
        train=len(train),
        test=len(test),
        features=len(names),
        r2=_r2(y_test, pred),
        mae=float(np.abs(y_test - pred).mean()),
        baseline_r2=_r2(y_test, base),
        baseline_mae=float(np.abs(y_test - base).mean()),
        top_features=top[:8],
    )


def read_importance(
    root: str, location: str, days: Iterable[date], posts: Sequence[Post]
) -> dict[str, dict[str, float]]:
    """``{post key: {feature name: importance}}`` from the published ``tags`` of ``days``
    (the highest over a post's images); empty when no ``tags`` partition exists."""
    from trendscope.tables import storage
    from trendscope.tables.paths import partition_path
    from trendscope.tables.schemas import CONTRACTS

    tags = CONTRACTS.get("tags")
    if tags is None:
        return {}
    post_of = {i: p.key for p in posts for i in p.image_ids}
    out: dict[str, dict[str, float]] = {}
    for day in sorted(set(days)):
        path = partition_path(root, tags.name, location, day)
        try:
            rows = storage.read_table(path, tags, ["image_id", "kind", "tag", "importance"])
        except FileNotFoundError:
            continue
        for r in rows.to_pylist():
            key = post_of.get(r["image_id"])
            if key is None:
                continue
            kind = "scene" if r["kind"] == "scene" else "object"  # fine tags are label/fine
            name = f"{kind}:{r['tag']}"
            weights = out.setdefault(key, {})
            weights[name] = max(weights.get(name, 0.0), float(r["importance"]))
    return out


def repeated_holdouts(
    posts: Sequence[Post], location: str, *, seeds: Iterable[int] = range(20), **kwargs: Any
) -> dict[str, Any]:
    """:func:`instabae` over several seeded 8:2 splits: mean scores and how often it wins.

    Returns:
        ``splits``, the mean ``r2``, ``mae``, ``baseline_r2``, ``baseline_mae``, and
        ``wins`` (the share of splits where the model beats the baseline on both).
    """
    results = [instabae(posts, location, seed=seed, **kwargs) for seed in seeds]
    mean = {
        k: float(np.mean([getattr(r, k) for r in results]))
        for k in ("r2", "mae", "baseline_r2", "baseline_mae")
    }
    wins = float(np.mean([r.beats_baseline for r in results]))
    return {"location": location, "splits": len(results), **mean, "wins": wins}
