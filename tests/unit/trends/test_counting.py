from __future__ import annotations

from row_builders import det_row, image_row
from trendscope.tables.schemas import DAILY_COUNTS, DETECTIONS, IMAGES, to_table
from trendscope.trends.counting import daily_counts


def _trends(images: list[dict], dets: list[dict]) -> dict[tuple, dict]:
    table = daily_counts(to_table(IMAGES, images), to_table(DETECTIONS, dets))
    assert table.schema.equals(DAILY_COUNTS.with_metadata(), check_metadata=False)
    return {(r["kind"], r["label"], r["fine_label"]): r for r in table.to_pylist()}


def test_counts_shares_and_ranks() -> None:
    images = [
        image_row("a", scene="cat"),
        image_row("b", scene="cat"),
        image_row("c", scene="food"),
        image_row("d"),
        image_row("a", status="duplicate", source_uri="/drop/a-copy.jpg"),
        image_row("q", status="quarantined"),
    ]
    dets = [
        det_row("a", 0, "cat", "tabby"),
        det_row("a", 1, "cat", "tabby"),
        det_row("b", 0, "cat", "other"),
        det_row("b", 1, "person"),
        det_row("c", 0, "person"),
        det_row("c", 1, "cup"),
        det_row("q", 0, "dog", "pug"),  # not an ok image: ignored
    ]
    t = _trends(images, dets)
    cat = t[("object", "cat", None)]
    assert (cat["images"], cat["objects"], cat["ok_images"]) == (2, 3, 4)
    assert cat["share"] == 0.5
    assert t[("object", "person", None)]["images"] == 2
    assert t[("object", "cup", None)]["share"] == 0.25
    assert ("object", "dog", None) not in t
    # cat and person tie on images; cat wins on objects
    assert [t[("object", lbl, None)]["rank"] for lbl in ("cat", "person", "cup")] == [1, 2, 3]
    tabby, other = t[("object", "cat", "tabby")], t[("object", "cat", "other")]
    assert (tabby["images"], tabby["objects"], tabby["rank"]) == (1, 2, 1)
    assert (other["images"], other["rank"]) == (1, 2)
    assert t[("scene", "cat", None)]["share"] == 0.5
    assert t[("scene", "food", None)]["rank"] == 2
    assert cat["detector_sha256"] == "d" * 64


def test_day_without_ok_images_has_no_rows() -> None:
    assert _trends([image_row("q", status="quarantined")], []) == {}
