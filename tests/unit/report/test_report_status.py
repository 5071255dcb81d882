"""The report's pipeline status section: the same grid as `trendscope status`."""

from __future__ import annotations

import re

from pipeline_days import DAY1, DAY2, drop_photos, fail_publish
from trendscope.pipeline.run import run_day
from trendscope.pipeline.status import status_grid
from trendscope.report import build_report


def _status_cells(text: str) -> dict[tuple[str, str], str]:
    table = re.search(r'<table class="status">(.*?)</table>', text, re.S).group(1)
    locations = re.findall(r"<th>(.*?)</th>", table)[1:]
    cells = {}
    for day, row in re.findall(r"<tr><td>([\d-]+)</td>(.*?)</tr>", table):
        states = re.findall(r'<td class="(\w+)" title="[^"]*">(\w+)</td>', row)
        for location, (css, state) in zip(locations, states, strict=True):
            assert css == state
            cells[(location, day)] = state
    return cells


def test_report_shows_the_status_grid_and_the_failed_step(config, tmp_path) -> None:
    for location in ("shibuya", "brooklyn"):
        drop_photos(config, location, DAY1)
    run_day(config, "shibuya", DAY1)
    fail_publish(config, "brooklyn", DAY1, run_id="manual__broken")

    text = build_report(config, DAY1, DAY2, None, tmp_path / "report.html").read_text()
    assert "<h2>Pipeline status</h2>" in text
    cells = _status_cells(text)
    assert cells == {
        ("shibuya", "2026-11-02"): "published",
        ("brooklyn", "2026-11-02"): "failed",
        ("shibuya", "2026-11-03"): "missing",
        ("brooklyn", "2026-11-03"): "missing",
    }
    grid = status_grid(config, DAY1, DAY2)
    assert cells == {(c.location, c.date.isoformat()): c.state for c in grid.cells}
    failed = re.search(r"<h3>Failed steps</h3><table>.*?</table>", text.replace("\n", ""))
    row = re.findall(r"<td[^>]*>(.*?)</td>", failed.group(0))
    assert row[:3] == ["2026-11-02", "brooklyn", "publish"] and row[4] == "manual__broken"
    assert row[5].startswith("IncompleteStagingError: analysis of brooklyn 2026-11-02")


def test_a_range_without_data_still_shows_the_grid(config, tmp_path) -> None:
    text = build_report(config, DAY2, DAY2, "brooklyn", tmp_path / "empty.html").read_text()
    assert "No published data for brooklyn" in text
    assert _status_cells(text) == {("brooklyn", "2026-11-03"): "missing"}
