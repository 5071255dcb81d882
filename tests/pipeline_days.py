"""Real location-days on a temporary data root, for the runs table, status and report tests.

Packaged photos are copied into a drop zone (new files, so their modification time is now) and
run through the real steps with the real models; a failed day is a real failure: publishing
a day that was ingested but never analyzed raises ``IncompleteStagingError``.
"""

from __future__ import annotations

import shutil
from datetime import date
from pathlib import Path

import pytest

from trendscope.config import TrendscopeConfig, load_config
from trendscope.photos import sample_photo_path
from trendscope.pipeline.publish import IncompleteStagingError
from trendscope.pipeline.run import run_step

REPO = Path(__file__).resolve().parents[1]
DAY1, DAY2, DAY3 = date(2026, 11, 2), date(2026, 11, 3), date(2026, 11, 4)
PHOTOS = ("chelsea", "coffee")


def make_config(root: Path) -> TrendscopeConfig:
    """The default config with its data root and drop zone under ``root``, the shared models."""
    return load_config(
        environ={},
        overrides={
            "data_dir": str(root / "data"),
            "source.path": str(root / "dropzone"),
            "models_dir": str(REPO / "models"),
        },
    )


def drop_photos(
    config: TrendscopeConfig, location: str, day: date, photos: tuple[str, ...] = PHOTOS
) -> list[Path]:
    """Copy packaged photos into the drop zone folder of a location-day."""
    folder = Path(config.source_root) / location / day.isoformat()
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for name in photos:
        src = sample_photo_path(name)
        paths.append(Path(shutil.copyfile(src, folder / f"{name}{src.suffix}")))
    return paths


def fail_publish(
    config: TrendscopeConfig, location: str, day: date, run_id: str | None = None
) -> IncompleteStagingError:
    """Ingest a day, then publish it without analyzing it: a real failed publish attempt."""
    run_step(config, "ingest", location, day, run_id=run_id)
    with pytest.raises(IncompleteStagingError) as failed:
        run_step(config, "publish", location, day, run_id=run_id)
    return failed.value
