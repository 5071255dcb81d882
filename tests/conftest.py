"""Shared test helpers: small builders for config and table rows."""

from __future__ import annotations

from pathlib import Path

import pytest

from trendscope.config import TrendscopeConfig, load_config

REPO = Path(__file__).resolve().parents[1]
MODELS_DIR = REPO / "models"


@pytest.fixture
def config(tmp_path: Path) -> TrendscopeConfig:
    """The default config with data and drop zone under ``tmp_path`` and the shared models dir."""
    return load_config(
        environ={},
        overrides={
            "data_dir": str(tmp_path / "data"),
            "source.path": str(tmp_path / "dropzone"),
            "models_dir": str(MODELS_DIR),
        },
    )
