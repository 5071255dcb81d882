"""The report's colour swatches and top tags, from trend and tag rows."""

from __future__ import annotations

import re
from datetime import date

from trendscope.report.colours_tags import FAMILY_HEX, colour_section, top_tags

D1, D2 = date(2026, 11, 2), date(2026, 11, 3)


def _row(day, label, images, location="shibuya", kind="colour"):
    return {"kind": kind, "label": label, "images": images, "date": day, "location": location}


def test_swatch_bars_split_each_day_by_family() -> None:
    rows = [
        _row(D1, "handbag/red", 3),
        _row(D1, "handbag/black", 1),
        _row(D2, "handbag/red", 0),  # seen in the window only
        _row(D2, "handbag/blue", 2),
        _row(D1, "handbag", 4, kind="object"),
        _row(D1, "cat/brown", 5, location="brooklyn"),
    ]
    html = colour_section(rows, ["shibuya"])
    assert "handbag in shibuya" in html and "brooklyn" not in html
    day1 = html[html.index(str(D1)) : html.index(str(D2))]
    widths = dict(re.findall(r'title="(\w+): \d+" style="width:([\d.]+)%', day1))
    assert widths == {"red": "75.0", "black": "25.0"}
    assert FAMILY_HEX["red"] in day1 and "<td>red</td>" in day1
    day2 = html[html.index(str(D2)) :]
    assert 'title="blue: 2"' in day2 and 'title="red' not in day2


def test_no_colour_rows_says_so() -> None:
    assert "No colour rows" in colour_section([_row(D1, "cat", 2, kind="object")], ["shibuya"])


def test_top_tags_rank_by_summed_importance() -> None:
    tags = [
        {"tag": "person", "kind": "object", "importance": 0.2, "rank": 3},
        {"tag": "person", "kind": "object", "importance": 0.3, "rank": 2},
        {"tag": "person", "kind": "object", "importance": 0.1, "rank": 2},
        {"tag": "cat", "kind": "object", "importance": 1.0, "rank": 1},
        {"tag": "cat", "kind": "scene", "importance": 0.5, "rank": 2},
    ]
    top = top_tags(tags)
    assert [(t["tag"], t["kind"]) for t in top] == [
        ("cat", "object"),
        ("person", "object"),
        ("cat", "scene"),
    ]
    assert top[1]["images"] == 3 and abs(top[1]["mean_importance"] - 0.2) < 1e-12
    assert top[0]["top_rank_images"] == 1
