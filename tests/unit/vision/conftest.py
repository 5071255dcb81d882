"""Real models and real photos for the vision tests."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from trendscope.config import TrendscopeConfig, load_config

REPO = Path(__file__).resolve().parents[3]


@pytest.fixture(scope="session")
def vision_config() -> TrendscopeConfig:
    from trendscope.models.fetch import fetch_models

    fetch_models(REPO / "models")
    return load_config(environ={}, overrides={"models_dir": str(REPO / "models")})


@pytest.fixture(scope="session")
def photos() -> dict[str, np.ndarray]:
    from trendscope.photos import sample_photo

    return {n: sample_photo(n) for n in ("chelsea", "coffee", "astronaut", "bus", "china")}
