"""Tags with importance: which cue moves a tag up, per-image normalisation, the day's rows."""

from __future__ import annotations

from datetime import date

import pytest

from trendscope.vision.tags import SCENE_WEIGHT, day_tags, image_tags


def _det(label, x1, y1, x2, y2, conf=0.9, fine=None, fine_conf=None):
    return {
        "label": label,
        "confidence": conf,
        "x1": x1,
        "y1": y1,
        "x2": x2,
        "y2": y2,
        "fine_label": fine,
        "fine_confidence": fine_conf,
    }


def _by_tag(rows):
    """Object and fine tags by name (a scene may share an object's name: ``cat``)."""
    return {r["tag"]: r for r in rows if r["kind"] != "scene"}


def test_big_central_confident_object_leads_and_has_importance_one() -> None:
    rows = image_tags(
        1000,
        800,
        [
            _det("cat", 250, 150, 750, 650, 0.9, "tabby", 0.6),  # a quarter+ of the frame, central
            _det("cup", 880, 700, 980, 790, 0.8),  # small, in a corner
        ],
        scene="cat",
        scene_confidence=0.5,
    )
    tags = _by_tag(rows)
    assert [r["rank"] for r in rows] == list(range(1, len(rows) + 1))
    assert rows[0]["tag"] == "cat" and rows[0]["kind"] == "object"
    assert tags["cat"]["importance"] == 1.0
    assert tags["cup"]["importance"] < 0.2
    assert tags["cat/tabby"]["importance"] == pytest.approx(0.6)  # its label's times fine conf
    assert tags["cat/tabby"]["kind"] == "fine"
    assert tags["cat"]["area_share"] == pytest.approx(500 * 500 / 800_000)
    assert tags["cat"]["centrality"] == pytest.approx(1.0)
    assert tags["cup"]["centrality"] < 0.2
    scene = next(r for r in rows if r["kind"] == "scene")
    assert scene["score"] == pytest.approx(SCENE_WEIGHT * 0.5)
    assert all(0.0 <= r["importance"] <= 1.0 for r in rows)


@pytest.mark.parametrize(
    ("a", "b", "why"),
    [
        (_det("dog", 0, 0, 600, 600), _det("cat", 0, 0, 300, 300), "larger area"),
        (_det("dog", 0, 0, 300, 300, 0.95), _det("cat", 0, 0, 300, 300, 0.4), "more confident"),
        (_det("dog", 350, 350, 650, 650), _det("cat", 0, 0, 300, 300), "more central"),
    ],
)
def test_each_cue_raises_importance(a, b, why) -> None:
    tags = _by_tag(image_tags(1000, 1000, [a, b]))
    assert tags["dog"]["importance"] > tags["cat"]["importance"], why


def test_more_objects_of_a_label_count_more() -> None:
    one = _det("person", 100, 100, 200, 300)
    three = [_det("person", 100 + k * 200, 100, 200 + k * 200, 300) for k in range(3)]
    cat = _det("cat", 600, 500, 800, 700)
    single = _by_tag(image_tags(1000, 1000, [one, cat]))
    crowd = _by_tag(image_tags(1000, 1000, [*three, cat]))
    assert crowd["person"]["objects"] == 3
    assert crowd["cat"]["importance"] < single["cat"]["importance"]


def test_other_and_missing_scene_are_not_tags_and_empty_image_has_none() -> None:
    rows = image_tags(640, 480, [_det("cat", 0, 0, 100, 100, fine="other")], "other", 0.9)
    assert [(r["tag"], r["kind"]) for r in rows] == [("cat", "object")]
    assert image_tags(640, 480, [], None, None) == []
    only_scene = image_tags(640, 480, [], "food", 0.7)
    assert only_scene[0]["importance"] == 1.0  # normalised per image
    with pytest.raises(ValueError, match="image size"):
        image_tags(0, 480, [])


def test_day_tags_covers_ok_images_only() -> None:
    day = date(2026, 11, 2)
    images = [
        {"image_id": "b", "location": "x", "date": day, "status": "ok", "width": 100,
         "height": 100, "scene": "food", "scene_confidence": 0.8},
        {"image_id": "a", "location": "x", "date": day, "status": "ok", "width": 100,
         "height": 100, "scene": "other", "scene_confidence": 0.1},
        {"image_id": "c", "location": "x", "date": day, "status": "duplicate", "width": 100,
         "height": 100, "scene": "food", "scene_confidence": 0.8},
    ]  # fmt: skip
    dets = [{"image_id": "a", **_det("dog", 10, 10, 90, 90)}]
    rows = day_tags(images, dets)
    assert [(r["image_id"], r["tag"], r["rank"]) for r in rows] == [
        ("a", "dog", 1),
        ("b", "food", 1),
    ]
    assert all(r["location"] == "x" and r["date"] == day for r in rows)
