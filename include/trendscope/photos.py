"""Real photos shipped inside installed packages, for the demo drop zone and for tests.

Every photo is a file inside scikit-image, scikit-learn, matplotlib or ultralytics; it is found by
path without importing the package, so no download happens and no package side effect runs
(importing ultralytics writes a settings file, for example). Only when a file is missing but the
package exposes the picture as an array is a PNG written to a cache directory.
"""

from __future__ import annotations

import importlib.util
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import numpy as np
from PIL import Image


@dataclass(frozen=True)
class _Photo:
    package: str
    relpath: tuple[str, ...]
    description: str
    loader: Callable[[], np.ndarray] | None = None


def _skimage(name: str) -> Callable[[], np.ndarray]:
    def load() -> np.ndarray:
        import skimage.data

        image = getattr(skimage.data, name)()
        return image[0] if isinstance(image, tuple) else image

    return load


def _sklearn(name: str) -> Callable[[], np.ndarray]:
    def load() -> np.ndarray:
        from sklearn.datasets import load_sample_image

        return load_sample_image(name)

    return load


_PHOTOS: dict[str, _Photo] = {
    "chelsea": _Photo(
        "skimage", ("data", "chelsea.png"), "close-up of a tabby cat", _skimage("chelsea")
    ),
    "coffee": _Photo(
        "skimage", ("data", "coffee.png"), "espresso cup on a saucer", _skimage("coffee")
    ),
    "astronaut": _Photo(
        "skimage", ("data", "astronaut.png"), "portrait of Eileen Collins", _skimage("astronaut")
    ),
    "rocket": _Photo("skimage", ("data", "rocket.jpg"), "rocket launch", _skimage("rocket")),
    "motorcycle": _Photo(
        "skimage",
        ("data", "motorcycle_left.png"),
        "motorcycle in a workshop",
        _skimage("stereo_motorcycle"),
    ),
    "china": _Photo(
        "sklearn", ("datasets", "images", "china.jpg"), "Summer Palace", _sklearn("china.jpg")
    ),
    "flower": _Photo(
        "sklearn", ("datasets", "images", "flower.jpg"), "flower close-up", _sklearn("flower.jpg")
    ),
    "grace_hopper": _Photo(
        "matplotlib",
        ("mpl-data", "sample_data", "grace_hopper.jpg"),
        "portrait of Grace Hopper",
    ),
    "bus": _Photo("ultralytics", ("assets", "bus.jpg"), "city bus with people in front"),
    "zidane": _Photo("ultralytics", ("assets", "zidane.jpg"), "two men in suits"),
}

SAMPLE_PHOTOS: tuple[str, ...] = tuple(_PHOTOS)
"""Names accepted by :func:`sample_photo` and :func:`sample_photo_path`."""

CACHE_DIR = Path(tempfile.gettempdir()) / "trendscope-sample-photos"


def _package_dir(package: str) -> Path | None:
    spec = importlib.util.find_spec(package)  # a top-level spec does not import the package
    if spec is None or not spec.submodule_search_locations:
        return None
    return Path(next(iter(spec.submodule_search_locations)))


def _spec(name: str) -> _Photo:
    try:
        return _PHOTOS[name]
    except KeyError:
        known = ", ".join(SAMPLE_PHOTOS)
        raise KeyError(f"unknown sample photo {name!r} (known: {known})") from None


def sample_photo_path(name: str) -> Path:
    """The file of the packaged photo ``name`` (JPEG or PNG).

    Raises:
        KeyError: ``name`` is not one of :data:`SAMPLE_PHOTOS`.
        FileNotFoundError: the package that ships it is not installed.
    """
    spec = _spec(name)
    root = _package_dir(spec.package)
    if root is not None:
        path = root.joinpath(*spec.relpath)
        if path.is_file():
            return path
    if spec.loader is None or root is None:
        raise FileNotFoundError(
            f"sample photo {name!r} needs the package {spec.package!r} "
            f"({'/'.join(spec.relpath)} not found)"
        )
    cached = CACHE_DIR / f"{name}.png"
    if not cached.is_file():
        CACHE_DIR.mkdir(parents=True, exist_ok=True)
        tmp = cached.with_suffix(".tmp.png")
        Image.fromarray(_rgb(np.asarray(spec.loader()))).save(tmp)
        tmp.replace(cached)
    return cached


def _rgb(image: np.ndarray) -> np.ndarray:
    if image.ndim == 2:
        image = np.stack([image] * 3, axis=-1)
    return np.ascontiguousarray(image[..., :3]).astype(np.uint8, copy=False)


@cache
def _load(name: str) -> np.ndarray:
    with Image.open(sample_photo_path(name)) as im:
        array = np.asarray(im.convert("RGB"))
    array.setflags(write=False)
    return array


def sample_photo(name: str) -> np.ndarray:
    """The packaged photo ``name`` as an RGB ``uint8`` ``(H, W, 3)`` array (a fresh copy)."""
    return _load(name).copy()
