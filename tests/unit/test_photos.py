"""The packaged real photos load offline, as files and as RGB arrays."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from trendscope.photos import SAMPLE_PHOTOS, sample_photo, sample_photo_path


@pytest.mark.parametrize(
    ("name", "shape"),
    [
        ("chelsea", (300, 451, 3)),
        ("coffee", (400, 600, 3)),
        ("astronaut", (512, 512, 3)),
        ("rocket", (427, 640, 3)),
        ("motorcycle", (500, 741, 3)),
        ("china", (427, 640, 3)),
        ("flower", (427, 640, 3)),
        ("grace_hopper", (600, 512, 3)),
        ("bus", (1080, 810, 3)),
        ("zidane", (720, 1280, 3)),
    ],
)
def test_sample_photo_is_rgb_uint8(name: str, shape: tuple[int, int, int]) -> None:
    image = sample_photo(name)
    assert image.shape == shape and image.dtype == np.uint8
    assert image.std() > 20  # a real photo, not a blank frame
    path = sample_photo_path(name)
    assert path.suffix in {".png", ".jpg"}
    with Image.open(path) as im:
        assert im.size == (shape[1], shape[0])


def test_every_listed_photo_is_covered() -> None:
    assert len(SAMPLE_PHOTOS) == 10 and len(set(SAMPLE_PHOTOS)) == 10


def test_sample_photo_returns_a_fresh_copy() -> None:
    first = sample_photo("chelsea")
    first[:] = 0
    assert sample_photo("chelsea").max() > 0


@pytest.mark.parametrize("name", ["lena", "", "Chelsea"])
def test_unknown_name_is_a_key_error(name: str) -> None:
    with pytest.raises(KeyError, match="unknown sample photo"):
        sample_photo_path(name)
