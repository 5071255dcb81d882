"""Synthetic detection histories with known trends, for tests and benchmarks.

Two front ends share one table builder. :func:`synthetic_day` and :func:`synthetic_history` draw
binomial days: each ok image shows each label independently with that label's share, with one or
two objects when shown, and steps change a share from a given day on. :func:`simulate` runs a
:class:`Scenario` that breaks the binomial assumptions the way social data does. Per location and
day index (none for a missing day):

1. Posts: ``posts_per_day``, times ``weekend_volume`` on Saturdays and Sundays and any
   ``volume_factors`` of the day; with ``volume_cv`` the count is gamma-Poisson (negative
   binomial) around that mean, else the rounded mean.
2. Mean shares (:func:`true_shares`): each label's ``share``, moved linearly by ramps (a step is a
   ramp of one day), plus its weekday offset (``weekday_shares`` minus ``share``).
3. Overdispersion: with ``sd`` the day's true share is a Beta draw around that mean; its
   concentration is set by ``share`` and ``sd`` and kept on other means.
4. Authors: every post has an author from a pool ``u00000``, ``u00001``, ... with Zipf weights
   (rank ** -``author_zipf``): most post one image a day, a few several.
5. Images: ``bad_fraction`` are duplicates or quarantined; each ok image shows each label
   independently with the day's true share, whoever posted it.
6. Bursts: one author posts extra ok images that all show one label (other labels as usual);
   they come from a stream of their own, so every other image is the same as without the burst.

Every location-day draws from its own stream seeded by ``(seed, location index, day index)``, so
any subset of days, in any order, gives the same partitions. Tables follow the
``images``/``detections`` contracts; they are built column-wise with numpy (not row by row with
``to_table``) and checked with :func:`~trendscope.tables.schemas.conform`, so a year of 2,000
images a day at 20 locations stays fast.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date, timedelta

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from trendscope.tables.schemas import (
    DETECTIONS,
    IMAGES,
    OTHER,
    STATUS_DUPLICATE,
    STATUS_OK,
    STATUS_QUARANTINED,
    TableContract,
    conform,
)

DETECTOR_SHA = "d" * 64
CLASSIFIER_SHA = "c" * 64
WEEKEND = (5, 6)  # date.weekday() of Saturday and Sunday


# --- scenario ------------------------------------------------------------------------------------


def _check_share(what: str, value: float) -> None:
    if not 0.0 <= value <= 1.0:
        raise ValueError(f"{what} must be within 0..1, got {value}")


@dataclass(frozen=True)
class LabelSpec:
    """How one label behaves: its mean share of ok images, daily spread and weekly rhythm.

    Attributes:
        share: Mean share of ok images showing the label (the level ramps move from).
        sd: Standard deviation of the day's true share around its mean (a Beta draw); 0 keeps the
            binomial model. Other means (weekdays, ramps) keep the Beta concentration it sets.
        weekday_shares: Seven means, Monday to Sunday, used instead of ``share`` on those days.
    """

    share: float
    sd: float = 0.0
    weekday_shares: tuple[float, ...] | None = None

    def __post_init__(self) -> None:
        _check_share("share", self.share)
        if self.sd < 0:
            raise ValueError(f"sd must be >= 0, got {self.sd}")
        if self.sd > 0 and not self.sd**2 < self.share * (1 - self.share):
            raise ValueError(
                f"sd {self.sd} is too large for share {self.share} "
                f"(a Beta needs sd < {np.sqrt(self.share * (1 - self.share)):.4f})"
            )
        if self.weekday_shares is not None:
            if len(self.weekday_shares) != 7:
                raise ValueError(
                    f"weekday_shares needs 7 values (Mon..Sun), got {len(self.weekday_shares)}"
                )
            for value in self.weekday_shares:
                _check_share("weekday_shares", value)

    @property
    def concentration(self) -> float | None:
        """The daily Beta's ``alpha + beta`` (None: binomial, no overdispersion)."""
        if self.sd == 0:
            return None
        return self.share * (1 - self.share) / self.sd**2 - 1


@dataclass(frozen=True)
class Ramp:
    """A label's mean share at one location moves linearly to ``to_share`` and stays there.

    The level is the label's ``share`` before day ``start`` and ``to_share`` from day
    ``start + days - 1`` on, in equal steps in between (``days=1`` is a step at ``start``).
    """

    location: str
    label: str
    start: int
    days: int
    to_share: float

    def __post_init__(self) -> None:
        if self.days < 1:
            raise ValueError(f"a ramp lasts at least 1 day, got days={self.days}")
        _check_share("to_share", self.to_share)


@dataclass(frozen=True)
class Burst:
    """On day index ``day`` one author posts ``images`` extra ok images that all show ``label``."""

    location: str
    label: str
    day: int
    images: int
    author: str = "burst_author"

    def __post_init__(self) -> None:
        if self.images < 0:
            raise ValueError(f"burst images must be >= 0, got {self.images}")


@dataclass(frozen=True)
class Scenario:
    """A synthetic social-media history; see the module docstring for the generative model.

    Attributes:
        days: Number of day indexes, from ``start`` (a Monday by default).
        locations: Location slugs; all share the label behaviour, ramps and bursts pick one.
        labels: Each detector label's behaviour.
        posts_per_day: Mean images per location-day (before weekend and volume factors).
        weekend_volume: Volume factor on Saturdays and Sundays (1.3: weekends have 30% more).
        volume_cv: Coefficient of variation of the day's mean volume (gamma-Poisson); 0 posts
            exactly the mean.
        volume_factors: ``{day index: factor}`` for low (or high) volume days.
        missing_days: Day indexes with no images at all (no rows).
        authors: Size of the author pool; 0 leaves the ``author`` column null.
        author_zipf: Skew of author activity (weight of rank ``r`` is ``r ** -author_zipf``). The
            top author's share grows with it: at 0.7 and 2,000 authors they post about 3% of the
            images (9 of 300 a day) while most posting authors post one.
        ramps: Linear changes (and steps) of a label's mean share at one location.
        bursts: Single-author bursts.
        start: Date of day index 0.
        fine_labels: See :func:`synthetic_day`.
        scene_shares: See :func:`synthetic_day`.
        bad_fraction: Share of organic images that are duplicates or quarantined.
        extra_object_p: Probability that a shown label has two objects instead of one.
    """

    days: int
    locations: tuple[str, ...]
    labels: Mapping[str, LabelSpec]
    posts_per_day: float = 300
    weekend_volume: float = 1.0
    volume_cv: float = 0.0
    volume_factors: Mapping[int, float] = field(default_factory=dict)
    missing_days: frozenset[int] = frozenset()
    authors: int = 2000
    author_zipf: float = 0.7
    ramps: tuple[Ramp, ...] = ()
    bursts: tuple[Burst, ...] = ()
    start: date = date(2026, 1, 5)
    fine_labels: Mapping[str, Mapping[str, float]] | None = None
    scene_shares: Mapping[str, float] | None = None
    bad_fraction: float = 0.05
    extra_object_p: float = 0.3

    def __post_init__(self) -> None:
        object.__setattr__(self, "locations", tuple(self.locations))
        object.__setattr__(self, "missing_days", frozenset(self.missing_days))
        object.__setattr__(self, "ramps", tuple(self.ramps))
        object.__setattr__(self, "bursts", tuple(self.bursts))
        for name in (
            "days",
            "posts_per_day",
            "weekend_volume",
            "volume_cv",
            "authors",
            "author_zipf",
        ):
            if getattr(self, name) < 0:
                raise ValueError(f"{name} must be >= 0, got {getattr(self, name)}")
        if any(f < 0 for f in self.volume_factors.values()):
            raise ValueError(f"volume_factors must be >= 0, got {dict(self.volume_factors)}")
        _check_share("bad_fraction", self.bad_fraction)
        for spec in self.labels.values():
            if not isinstance(spec, LabelSpec):
                raise TypeError(f"labels must map to LabelSpec, got {spec!r}")
        for change in (*self.ramps, *self.bursts):
            if change.location not in self.locations:
                raise ValueError(f"{change}: unknown location {change.location!r}")
        for ramp in self.ramps:
            if ramp.label not in self.labels:
                raise ValueError(f"{ramp}: unknown label {ramp.label!r}")
        for burst in self.bursts:
            if not 0 <= burst.day < self.days or burst.day in self.missing_days:
                raise ValueError(f"{burst}: day {burst.day} is outside the days or missing")


def _mean_shares(scenario: Scenario, location: str) -> np.ndarray:
    """``(days, labels)`` mean shares at ``location``: base level, ramps, then weekday offset."""
    d = np.arange(scenario.days)
    weekday = (scenario.start.weekday() + d) % 7
    means = np.empty((scenario.days, len(scenario.labels)))
    for j, (label, spec) in enumerate(scenario.labels.items()):
        level = np.full(scenario.days, float(spec.share))
        ramps = [r for r in scenario.ramps if r.location == location and r.label == label]
        for ramp in sorted(ramps, key=lambda r: r.start):
            progress = np.clip((d - ramp.start + 1) / ramp.days, 0.0, 1.0)
            level = (1 - progress) * level + progress * ramp.to_share
        if spec.weekday_shares is not None:
            level = level + (np.asarray(spec.weekday_shares)[weekday] - spec.share)
        means[:, j] = np.clip(level, 0.0, 1.0)
    return means


def true_shares(scenario: Scenario, location: str, label: str) -> np.ndarray:
    """The mean share of ``label`` at ``location`` per day index (after weekdays and ramps).

    It is the centre of the day's Beta draw (the expected share), also for missing days.
    """
    if location not in scenario.locations:
        raise ValueError(f"unknown location {location!r}")
    if label not in scenario.labels:
        raise ValueError(f"unknown label {label!r}")
    return _mean_shares(scenario, location)[:, list(scenario.labels).index(label)]


# --- tables --------------------------------------------------------------------------------------


def _hex_ids(rng: np.random.Generator, n: int) -> pa.Array:
    """``n`` random 64-character hex ids (they stand in for sha256 digests)."""
    data = rng.integers(0, 256, size=(n, 32), dtype=np.uint8).tobytes().hex().encode()
    offsets = np.arange(0, 64 * (n + 1), 64, dtype=np.int32)
    return pa.Array.from_buffers(pa.string(), n, [None, pa.py_buffer(offsets), pa.py_buffer(data)])


def _table(contract: TableContract, n: int, columns: Mapping[str, object]) -> pa.Table:
    arrays = []
    for field_ in contract.schema:
        value = columns.get(field_.name)
        if value is None:
            arrays.append(pa.nulls(n, field_.type))
        elif isinstance(value, pa.Array):
            arrays.append(value.cast(field_.type))
        elif isinstance(value, np.ndarray):
            arrays.append(pa.array(value, field_.type))
        else:
            arrays.append(pa.repeat(pa.scalar(value, field_.type), n))
    return conform(contract, pa.Table.from_arrays(arrays, names=contract.columns))


def _choose(rng: np.random.Generator, n: int, shares: Mapping[str, float]) -> np.ndarray:
    """``n`` indexes into ``shares`` drawn with its values; index ``len(shares)`` is the rest."""
    p = np.array([*shares.values(), max(0.0, 1.0 - sum(shares.values()))])
    return rng.choice(p.size, size=n, p=p / p.sum())


def _names(names: list[str | None], codes: np.ndarray) -> pa.Array:
    """``names[code]`` for each code, null for a negative code or a None name."""
    return pa.array(names, pa.string()).take(pa.array(codes, pa.int64(), mask=codes < 0))


def _day_tables(
    location: str,
    day: date,
    n_images: int,
    label_shares: Mapping[str, float],
    rng: np.random.Generator,
    fine_labels: Mapping[str, Mapping[str, float]] | None,
    scene_shares: Mapping[str, float] | None,
    bad_fraction: float,
    extra_object_p: float,
    authors: pa.Array | str | None = None,
    first: int = 0,
) -> tuple[pa.Table, pa.Table]:
    """The one builder of ``images`` and ``detections`` rows; see :func:`synthetic_day`.

    ``authors`` is each image's author (or one author for all); ``first`` numbers the
    ``source_uri`` of the first image, so several batches of a day keep distinct keys.
    """
    fine_labels = fine_labels or {}
    ids = _hex_ids(rng, n_images)
    u = rng.random(n_images)
    status = np.where(u < bad_fraction / 2, 2, np.where(u < bad_fraction, 1, 0))
    ok_idx = np.flatnonzero(status == 0)
    scenes = None
    if scene_shares:
        codes = np.full(n_images, -1)
        codes[ok_idx] = _choose(rng, ok_idx.size, scene_shares)
        scenes = _names([*scene_shares, None], codes)
    images = _table(
        IMAGES,
        n_images,
        {
            "image_id": ids,
            "location": location,
            "date": day,
            "source_uri": pc.binary_join_element_wise(
                f"/drop/{location}/{day}/",
                pa.array(np.arange(first, first + n_images)).cast(pa.string()),
                ".jpg",
                "",
            ),
            "format": "jpeg",
            "width": np.full(n_images, 1080, dtype=np.int32),
            "height": np.full(n_images, 1350, dtype=np.int32),
            "status": _names([STATUS_OK, STATUS_DUPLICATE, STATUS_QUARANTINED], status),
            "scene": scenes,
            "author": authors,
            "model": "efficientnet_lite0" if scene_shares else None,
            "model_sha256": CLASSIFIER_SHA if scene_shares else None,
        },
    )

    labels = list(label_shares)
    shares = np.array(list(label_shares.values()), dtype=np.float64)
    shown = rng.random((ok_idx.size, len(labels))) < shares
    img_i, lab_i = np.nonzero(shown)  # row-major: sorted by image
    k = 1 + (rng.random(img_i.size) < extra_object_p)
    det_img, det_lab = np.repeat(ok_idx[img_i], k), np.repeat(lab_i, k)
    m = det_img.size
    detection = (np.arange(m) - np.searchsorted(det_img, det_img)).astype(np.int32)
    fine_names: list[str | None] = []
    fine = np.full(m, -1)
    for label, fine_shares in fine_labels.items():
        j = labels.index(label) if label in labels else -1
        sel = np.flatnonzero(det_lab == j)
        fine[sel] = len(fine_names) + _choose(rng, sel.size, fine_shares)
        fine_names += [*fine_shares, OTHER]
    has_fine = fine >= 0
    fine_model = np.where(has_fine, 0, -1)
    x1 = rng.random(m).astype(np.float32) * 500
    y1 = rng.random(m).astype(np.float32) * 500
    detections = _table(
        DETECTIONS,
        m,
        {
            "image_id": ids.take(pa.array(det_img, pa.int64())),
            "location": location,
            "date": day,
            "detection": detection,
            "label": _names(labels, det_lab),
            "confidence": (0.3 + 0.7 * rng.random(m)).astype(np.float32),
            "x1": x1,
            "y1": y1,
            "x2": x1 + 50,
            "y2": y1 + 50,
            "fine_label": _names(fine_names, fine),
            "fine_confidence": pa.array(np.full(m, 0.6), pa.float32(), mask=~has_fine),
            "model": "yolox_nano",
            "model_sha256": DETECTOR_SHA,
            "fine_model": _names(["efficientnet_lite0"], fine_model),
            "fine_model_sha256": _names([CLASSIFIER_SHA], fine_model),
        },
    )
    return images, detections


def synthetic_day(
    location: str,
    day: date,
    n_images: int,
    label_shares: Mapping[str, float],
    rng: np.random.Generator,
    fine_labels: Mapping[str, Mapping[str, float]] | None = None,
    scene_shares: Mapping[str, float] | None = None,
    bad_fraction: float = 0.05,
    extra_object_p: float = 0.3,
) -> tuple[pa.Table, pa.Table]:
    """One location-day of ``images`` and ``detections`` rows (no authors).

    Args:
        location: Location slug.
        day: The day.
        n_images: Images seen (``bad_fraction`` of them are duplicates or quarantined).
        label_shares: Probability that an ok image shows each label.
        rng: Random generator.
        fine_labels: Per target label, the fine-label probabilities of each object (the rest is
            ``other``).
        scene_shares: Probability of each scene per ok image (the rest has no scene).
        bad_fraction: Share of images that are not ok.
        extra_object_p: Probability that a shown label has two objects instead of one.
    """
    return _day_tables(
        location,
        day,
        n_images,
        label_shares,
        rng,
        fine_labels,
        scene_shares,
        bad_fraction,
        extra_object_p,
    )


# --- histories -----------------------------------------------------------------------------------


def _author_pool(scenario: Scenario) -> tuple[pa.Array, np.ndarray]:
    """The pool's author names and the cumulative Zipf weights of their activity ranks."""
    names = pa.array([f"u{i:05d}" for i in range(scenario.authors)], pa.string())
    cdf = np.cumsum(np.arange(1, scenario.authors + 1, dtype=np.float64) ** -scenario.author_zipf)
    if cdf.size:
        cdf /= cdf[-1]
        cdf[-1] = 1.0  # so a uniform draw in [0, 1) always lands in the pool
    return names, cdf


def _simulate_day(
    scenario: Scenario,
    seed: int,
    li: int,
    di: int,
    means: np.ndarray,
    pool: tuple[pa.Array, np.ndarray],
) -> list[tuple[pa.Table, pa.Table]]:
    """The organic images of one location-day, then its bursts (each from its own stream)."""
    location, day = scenario.locations[li], scenario.start + timedelta(days=di)
    rng = np.random.default_rng([seed, li, di])
    volume = scenario.posts_per_day * scenario.volume_factors.get(di, 1.0)
    if day.weekday() in WEEKEND:
        volume *= scenario.weekend_volume
    if scenario.volume_cv > 0 and volume > 0:
        shape = scenario.volume_cv**-2
        n = int(rng.poisson(rng.gamma(shape, volume / shape)))
    else:
        n = round(volume)
    shares = means.copy()
    kappa = np.array([s.concentration or 0.0 for s in scenario.labels.values()])
    noisy = np.flatnonzero(kappa)
    if noisy.size:
        m, k = shares[noisy], kappa[noisy]
        draw = rng.beta(np.maximum(m * k, 1e-12), np.maximum((1 - m) * k, 1e-12))
        shares[noisy] = np.where((m > 0) & (m < 1), draw, m)
    authors = None
    if scenario.authors:
        names, cdf = pool
        authors = names.take(pa.array(np.searchsorted(cdf, rng.random(n), side="right")))
    day_shares = dict(zip(scenario.labels, shares.tolist(), strict=True))
    extra = (scenario.fine_labels, scenario.scene_shares)
    parts = [
        _day_tables(
            location,
            day,
            n,
            day_shares,
            rng,
            *extra,
            scenario.bad_fraction,
            scenario.extra_object_p,
            authors,
        )
    ]
    first = n
    for bi, burst in enumerate(scenario.bursts):
        if burst.location != location or burst.day != di or not burst.images:
            continue
        parts.append(
            _day_tables(
                location,
                day,
                burst.images,
                {**day_shares, burst.label: 1.0},
                np.random.default_rng([seed, li, di, 1 + bi]),
                *extra,
                0.0,
                scenario.extra_object_p,
                burst.author,
                first,
            )
        )
        first += burst.images
    return parts


def simulate(
    scenario: Scenario, seed: int = 0, *, days: Iterable[int] | None = None
) -> tuple[pa.Table, pa.Table]:
    """Draw a scenario's ``images`` and ``detections`` tables.

    Args:
        scenario: What to draw.
        seed: Seed; each location-day has its own stream, so partitions do not depend on order.
        days: Day indexes to draw, in this order (default: all); the rows of a day are the same
            whichever other days are drawn.

    Returns:
        ``(images, detections)`` tables with the contracts' schemas, by location then day.
    """
    wanted = range(scenario.days) if days is None else list(days)
    outside = [d for d in wanted if not 0 <= d < scenario.days]
    if outside:
        raise ValueError(f"day indexes outside 0..{scenario.days - 1}: {outside}")
    pool = _author_pool(scenario)
    parts: list[tuple[pa.Table, pa.Table]] = []
    for li, location in enumerate(scenario.locations):
        means = _mean_shares(scenario, location)
        for di in wanted:
            if di not in scenario.missing_days:
                parts += _simulate_day(scenario, seed, li, di, means[di], pool)
    if not parts:
        return _table(IMAGES, 0, {}), _table(DETECTIONS, 0, {})
    return pa.concat_tables(p[0] for p in parts), pa.concat_tables(p[1] for p in parts)


def synthetic_history(
    days: int,
    locations: Collection[str],
    images_per_day: int,
    label_shares: Mapping[str, float],
    steps: Mapping[tuple[str, str], tuple[int, float]] | None = None,
    seed: int = 0,
    *,
    start: date = date(2026, 1, 1),
    fine_labels: Mapping[str, Mapping[str, float]] | None = None,
    scene_shares: Mapping[str, float] | None = None,
    empty_days: Collection[int] = (),
    bad_fraction: float = 0.05,
) -> tuple[pa.Table, pa.Table]:
    """A multi-day, multi-location binomial history with known share steps and no authors.

    It is the :class:`Scenario` without overdispersion, weekly rhythm, volume noise or authors.

    Args:
        days: Number of days from ``start``.
        locations: Location slugs.
        images_per_day: Images per location-day.
        label_shares: Base probability that an ok image shows each label.
        steps: ``{(location, label): (day_index, new_share)}``: from that day on the label's
            share at that location is ``new_share``.
        seed: Seed; each location-day has its own stream, so partitions do not depend on order.
        start: Date of day index 0.
        fine_labels: See :func:`synthetic_day`.
        scene_shares: See :func:`synthetic_day`.
        empty_days: Day indexes with no images at all (no rows).
        bad_fraction: Share of images that are not ok.

    Returns:
        ``(images, detections)`` tables with the contracts' schemas.
    """
    scenario = Scenario(
        days=days,
        locations=tuple(locations),
        labels={label: LabelSpec(share) for label, share in label_shares.items()},
        posts_per_day=images_per_day,
        missing_days=frozenset(empty_days),
        authors=0,
        ramps=tuple(
            Ramp(location, label, step_day, 1, new_share)
            for (location, label), (step_day, new_share) in (steps or {}).items()
        ),
        start=start,
        fine_labels=fine_labels,
        scene_shares=scene_shares,
        bad_fraction=bad_fraction,
    )
    return simulate(scenario, seed)


# --- a social-media scenario shared by the trend tests and benchmarks ---------------------------

SOCIAL_MEDIA_LABELS: dict[str, LabelSpec] = {
    "cat": LabelSpec(0.09, 0.025),
    "dog": LabelSpec(0.15, 0.025),
    "car": LabelSpec(0.30, 0.025),
    "person": LabelSpec(0.50, 0.03),
    "umbrella": LabelSpec(0.06, 0.02),
    "cup": LabelSpec(0.03, 0.01),
    # 9% on weekdays, 12% at weekends: a z-test reads it rising every Saturday
    "handbag": LabelSpec(0.09, 0.02, weekday_shares=(0.09,) * 5 + (0.12, 0.12)),
}
"""Labels whose daily shares wander like real ones (sd 1 to 3 points), one with a weekly rhythm."""


def social_media_scenario(**changes: object) -> Scenario:
    """91 days at ``shibuya``, 300 posts a day, weekends +30%, volume cv 0.2, skewed authors,
    :data:`SOCIAL_MEDIA_LABELS`; ``changes`` override any :class:`Scenario` field."""
    base: dict[str, object] = {
        "days": 91,
        "locations": ("shibuya",),
        "labels": SOCIAL_MEDIA_LABELS,
        "posts_per_day": 300,
        "weekend_volume": 1.3,
        "volume_cv": 0.2,
    }
    return Scenario(**(base | changes))  # type: ignore[arg-type]
