"""What the suites of a partition need beyond its rows, from the config and the published
history (and, for a detector other than the default, its model's vocabulary)."""

from __future__ import annotations

import statistics
from datetime import date, timedelta

from trendscope.config import TrendscopeConfig
from trendscope.quality.suites import SuiteContext
from trendscope.tables import storage
from trendscope.tables.paths import keyed_partition_path
from trendscope.tables.schemas import IMAGES, OTHER, STATUS_OK
from trendscope.trends.compare import TrendParams


def detector_vocabulary(config: TrendscopeConfig) -> tuple[str, ...]:
    """Class names the detector can output (COCO-80 for the default; read from the model else)."""
    if config.detector.backend == "yolox-onnx":
        from trendscope.vision.labels import COCO80

        return COCO80
    from trendscope.vision.factory import load_detector

    return tuple(load_detector(config).vocabulary)


def usual_ok_images(config: TrendscopeConfig, location: str, day: date) -> float | None:
    """Median ok images over the location's published days in the volume window (None: none)."""
    counts = []
    for k in range(1, config.quality.volume_window_days + 1):
        path = keyed_partition_path(
            config.data_root, IMAGES.name, location, day - timedelta(days=k)
        )
        if storage.exists(path):
            status = storage.read_table(path).column("status").to_pylist()
            counts.append(status.count(STATUS_OK))
    if len(counts) < config.quality.volume_min_days:
        return None
    return float(statistics.median(counts))


def suite_context(
    config: TrendscopeConfig,
    table: str,
    location: str,
    key: str,
    *,
    posts_in: int | None = None,
) -> SuiteContext:
    """The :class:`SuiteContext` of a partition from the config and the published history."""
    usual = None
    if table == IMAGES.name:
        usual = usual_ok_images(config, location, date.fromisoformat(key))
    from trendscope.models.registry import target_fine_labels, target_models

    return SuiteContext(
        location=location,
        key=key,
        vocabulary=detector_vocabulary(config),
        fine_labels=target_fine_labels(config),
        fine_models={t: (m.name, m.version, m.sha256) for t, m in target_models(config).items()},
        scene_labels=[*sorted(config.scenes.categories), OTHER],
        posts_in=posts_in,
        usual_ok_images=usual,
        volume_min_ratio=config.quality.volume_min_ratio,
        trend_rules=TrendParams.from_config(config.trends).rules,
    )
