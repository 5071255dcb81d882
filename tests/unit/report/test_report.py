"""The HTML report: self-contained, with the planted rising label, and a page for no data."""

from __future__ import annotations

import re
from datetime import date

from published_history import WEEK45, published_history
from trendscope.report import build_report
from trendscope.report.html import _table, binomial_band


def test_report_is_self_contained_and_shows_the_rise(config, tmp_path) -> None:
    published_history(config, trend_days=WEEK45[:3])
    out = build_report(config, WEEK45[0], WEEK45[2], None, tmp_path / "r" / "report.html")
    text = out.read_text(encoding="utf-8")
    assert not re.search(r"""(src|href)\s*=\s*["']?\s*(https?:)?//""", text, re.I)
    assert "http://" not in text and "https://" not in text
    assert text.count("data:image/png;base64,") == 2  # share over time + locations
    rising = re.findall(r'<tr class="rising">(.*?)</tr>', text)
    cells = [re.findall(r"<td[^>]*>(.*?)</td>", r) for r in rising]
    # date, location, kind, label, fine_label, ...: cats at shibuya on each of the 3 days
    cat_days = {c[0] for c in cells if c[1] == "shibuya" and c[3] == "cat" and c[4] == "-"}
    assert cat_days == {d.isoformat() for d in WEEK45[:3]}
    assert not any(c[1] == "brooklyn" and c[3] == "cat" for c in cells)
    assert re.search(r'<tr class="higher"><td>shibuya</td><td>cat</td><td>-</td>', text)


def test_report_for_one_location(config, tmp_path) -> None:
    published_history(config, trend_days=WEEK45[:1])
    text = build_report(config, WEEK45[0], WEEK45[0], "shibuya", tmp_path / "r.html").read_text()
    assert "Trendscope report: shibuya, 2026-11-02 to 2026-11-02" in text
    assert "data:image/png;base64," in text and "<td>cat</td>" in text


def test_empty_range_gives_a_message_page(config, tmp_path) -> None:
    published_history(config)
    out = build_report(config, date(2025, 1, 1), date(2025, 1, 31), None, tmp_path / "e.html")
    text = out.read_text(encoding="utf-8")
    assert "No published data for all locations between 2025-01-01 and 2025-01-31" in text
    assert "<img" not in text


def test_text_is_escaped_and_band_is_binomial() -> None:
    html = _table([{"label": "<script>x</script>", "share": 0.5}], ["label", "share"])
    assert "<script>" not in html and "&lt;script&gt;" in html
    low, high = binomial_band(0.1, 100)
    assert round(low, 4) == round(0.1 - 1.959964 * 0.03, 4) and round(high, 4) == 0.1588
    assert binomial_band(None, 10) is None and binomial_band(0.2, 0) is None
