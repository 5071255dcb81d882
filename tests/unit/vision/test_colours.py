"""Dominant colours: constructed objects of known colour, the palette, and real photos."""

from __future__ import annotations

import itertools

import cv2
import numpy as np
import pytest

from trendscope.vision.colours import (
    EXTRA_NAMES,
    FAMILIES,
    PALETTE,
    dominant_colours,
    lab_to_rgb,
    name_colour,
    rgb_to_lab,
)

RED, BLUE, GREEN, YELLOW = (200, 20, 30), (30, 60, 200), (30, 140, 50), (240, 210, 30)
BLACK, WHITE, GRAY, PINK = (15, 15, 18), (245, 245, 240), (128, 128, 128), (250, 150, 190)
BROWN, ORANGE, PURPLE = (110, 70, 35), (245, 130, 20), (120, 40, 150)


def _bag(colour: tuple[int, int, int], background: tuple[int, int, int]) -> np.ndarray:
    """A bag-shaped blob (body and handle, with a darker shaded side) on a flat background.

    The box (85, 40, 235, 190) holds the bag with background in its corners.
    """
    img = np.zeros((240, 320, 3), np.uint8)
    img[:] = background
    shade = tuple(int(c * 0.75) for c in colour)
    cv2.ellipse(img, (160, 130), (70, 55), 0, 0, 360, colour, -1)
    cv2.ellipse(img, (160, 130), (70, 55), 0, 30, 150, shade, -1)  # lower side in shadow
    cv2.ellipse(img, (160, 75), (35, 30), 0, 180, 360, shade, 6)  # handle
    return img


BOX = (85.0, 40.0, 235.0, 190.0)


@pytest.mark.parametrize(
    ("colour", "background", "family"),
    [
        (RED, BLUE, "red"),  # the case
        (BLUE, RED, "blue"),
        (GREEN, WHITE, "green"),
        (YELLOW, BLACK, "yellow"),
        (BLACK, WHITE, "black"),
        (WHITE, BLUE, "white"),
        (PINK, GREEN, "pink"),
        (BROWN, WHITE, "brown"),
        (ORANGE, BLUE, "orange"),
        (PURPLE, YELLOW, "purple"),
    ],
)
def test_constructed_bag_reads_its_colour(colour, background, family) -> None:
    colours = dominant_colours(_bag(colour, background), BOX)
    assert colours[0].family == family
    assert colours[0].fraction > 0.5  # the object, not the background, dominates
    fam_of_background = name_colour(rgb_to_lab(np.array(background, np.uint8)))[1]
    background_share = sum(c.fraction for c in colours if c.family == fam_of_background)
    assert background_share < 0.25


@pytest.mark.parametrize(("colour", "background"), [(RED, BLUE), (BLUE, WHITE), (BLACK, WHITE)])
def test_grabcut_keeps_the_background_out(colour, background) -> None:
    img = _bag(colour, background)
    colours = dominant_colours(img, BOX, method="grabcut")
    expected = dominant_colours(img, BOX)[0].family
    assert colours[0].family == expected
    bg = name_colour(rgb_to_lab(np.array(background, np.uint8)))[1]
    assert sum(c.fraction for c in colours if c.family == bg) < 0.2


def test_colours_are_ranked_fractions_summing_to_one_and_repeatable() -> None:
    img = _bag(RED, BLUE)
    first = dominant_colours(img, BOX, clusters=5)
    assert [c.rank for c in first] == list(range(1, len(first) + 1))
    assert 1 < len(first) <= 5
    assert sum(c.fraction for c in first) == pytest.approx(1.0)
    assert all(a.fraction >= b.fraction for a, b in itertools.pairwise(first))
    assert dominant_colours(img, BOX, clusters=5) == first  # same pixels, same rows
    for c in first:
        assert 0 <= c.L <= 100 and c.family in FAMILIES and c.name in PALETTE
        assert c.hex.startswith("#") and len(c.hex) == 7


def test_flat_object_is_one_cluster() -> None:
    img = np.full((50, 60, 3), RED, np.uint8)
    (only,) = dominant_colours(img, (0, 0, 60, 50))
    assert only.family == "red" and only.fraction == pytest.approx(1.0)
    assert only.hex == "#c8141e"


def test_box_outside_or_tiny_is_clipped_not_empty() -> None:
    img = np.full((40, 40, 3), BLUE, np.uint8)
    assert dominant_colours(img, (38.5, 38.5, 45, 45))[0].family == "blue"
    with pytest.raises(ValueError, match="unknown colour method"):
        dominant_colours(img, (0, 0, 10, 10), method="mask")  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("rgb", "lab"),
    [
        ((255, 255, 255), (100.0, 0.0, 0.0)),
        ((0, 0, 0), (0.0, 0.0, 0.0)),
        ((255, 0, 0), (53.24, 80.09, 67.20)),  # CIE reference values of sRGB primaries
        ((0, 255, 0), (87.73, -86.18, 83.18)),
        ((0, 0, 255), (32.30, 79.19, -107.86)),
    ],
)
def test_cielab_conversion_matches_reference(rgb, lab) -> None:
    got = rgb_to_lab(np.array(rgb, np.uint8))
    assert got == pytest.approx(lab, abs=0.02)
    assert lab_to_rgb(got) * 255 == pytest.approx(rgb, abs=0.5)


def test_palette_is_css4_plus_named_extras() -> None:
    from matplotlib.colors import CSS4_COLORS

    for name, (hex_, family) in PALETTE.items():
        assert family in FAMILIES
        if name not in EXTRA_NAMES:
            assert CSS4_COLORS[name].upper() == hex_.upper(), name
    assert set(FAMILIES) == {f for _, f in PALETTE.values()}  # every family can be named


@pytest.mark.parametrize(
    ("rgb", "family"),
    [
        ((178, 34, 34), "red"),
        ((80, 10, 15), "red"),  # dark red stays red
        ((60, 40, 25), "brown"),  # dark brown is not gray
        ((35, 35, 35), "black"),
        ((128, 128, 128), "gray"),
        ((250, 250, 250), "white"),
        ((225, 205, 170), "beige"),
        ((20, 30, 90), "blue"),  # navy
        ((255, 105, 180), "pink"),
    ],
)
def test_names_group_into_families(rgb, family) -> None:
    assert name_colour(rgb_to_lab(np.array(rgb, np.uint8)))[1] == family


def test_real_photos_read_plausible_colours(vision_config) -> None:
    """The analyzer colours its cropped targets (a tabby reads brown) and only them; boxes of
    objects whose colour we know read it: black suits, a white bow tie, an orange space suit."""
    from trendscope.photos import sample_photo
    from trendscope.pipeline.analyze import Analyzer

    analyzer = Analyzer(vision_config)
    photos = {n: sample_photo(n) for n in ("chelsea", "zidane", "grace_hopper", "astronaut")}
    _, rows = analyzer.analyze(list(photos.values()))
    by_photo = dict(zip(photos, rows, strict=True))
    (cat,) = [r for r in by_photo["chelsea"] if r["label"] == "cat"]
    assert cat["colours"][0].family == "brown"
    assert all("colours" not in r for rs in rows for r in rs if r["label"] == "person")

    def first_family(photo: str, label: str) -> list[str]:
        boxes = [r for r in by_photo[photo] if r["label"] == label]
        assert boxes, f"no {label} detected in {photo}"
        return [
            dominant_colours(photos[photo], (r["x1"], r["y1"], r["x2"], r["y2"]))[0].family
            for r in boxes
        ]

    assert first_family("zidane", "person") == ["black", "black"]
    assert first_family("grace_hopper", "tie") == ["white"]
    # an orange suit in shade: orange, or brown (brown is dark orange), never gray or blue
    assert first_family("astronaut", "person")[0] in {"orange", "brown"}
