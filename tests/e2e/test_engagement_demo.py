"""The demo week through the daily steps (real photos, real models): the trends step publishes the
``engagement`` table, which recovers the planted effect (posts with a cat earn about twice the
likes per follower), the regression beats the mean baseline, and ``authors`` and ``query`` see it.

One location (``shibuya``, the manifest location with likes and followers), seven days of 12
posts, each day run with ``trendscope run`` in this process.
"""

from __future__ import annotations

from datetime import date, timedelta
from pathlib import Path

import pytest
import yaml

from trendscope.config import DEFAULT_CONFIG_PATH, load_config

pytestmark = pytest.mark.e2e

LOCATION = "shibuya"
START = date(2026, 11, 2)
DAYS = [START + timedelta(days=k) for k in range(7)]


@pytest.fixture(scope="module")
def demo_week(tmp_path_factory, models_dir) -> Path:
    """The one-location demo week, run day by day; returns the config file."""
    from trendscope.cli import main
    from trendscope.demo import build_demo

    root = tmp_path_factory.mktemp("engagement")
    raw = yaml.safe_load(Path(DEFAULT_CONFIG_PATH).read_text())
    raw["locations"] = [loc for loc in raw["locations"] if loc["slug"] == LOCATION]
    raw |= {"data_dir": str(root / "data"), "models_dir": str(models_dir)}
    raw["source"]["path"] = str(root / "dropzone")
    (root / "trendscope.yaml").write_text(yaml.safe_dump(raw))
    config = load_config(root / "trendscope.yaml", environ={})
    build_demo(
        root / "dropzone",
        start=START,
        days=len(DAYS),
        posts_per_day=12,
        locations={loc.slug: loc.timezone for loc in config.locations},
    )
    for day in DAYS:
        args = ["-q", "run", "--config", str(root / "trendscope.yaml"), "--location", LOCATION]
        assert main([*args, "--date", day.isoformat()]) == 0
    return root / "trendscope.yaml"


def _rows(config_path: Path, day: date, window: int) -> dict[tuple, dict]:
    from trendscope.tables.paths import partition_path
    from trendscope.tables.schemas import ENGAGEMENT
    from trendscope.tables.storage import read_table

    config = load_config(config_path, environ={})
    table = read_table(partition_path(config.data_root, "engagement", LOCATION, day), ENGAGEMENT)
    return {
        (r["kind"], r["label"], r["fine_label"]): r
        for r in table.to_pylist()
        if r["window_days"] == window
    }


def test_the_daily_run_publishes_engagement_and_recovers_the_cat_lift(demo_week) -> None:
    week = _rows(demo_week, DAYS[-1], 7)
    cat = week[("object", "cat", None)]
    assert cat["window_start"] == DAYS[0]
    assert cat["rated_posts"] == cat["posts"] == 84  # every manifest post has likes, followers
    assert cat["rated_with"] >= 25  # about 10% of the first three days, 55% of the last four
    assert 1.5 <= cat["lift"] <= 2.7, cat  # planted: twice the likes per follower
    assert cat["p_adjusted"] < 0.01 and cat["engagement"] == "higher", cat
    assert cat["auc"] > 0.75
    assert cat["engagement_share"] > cat["share"]  # its posts earn more than their share
    # a label with nothing planted is not called higher
    assert week[("object", "cup", None)]["engagement"] in ("similar", "insufficient", "lower")
    # the day alone is there too, usually too few posts to test
    day = _rows(demo_week, DAYS[-1], 1)
    assert day[("object", "cat", None)]["posts"] == 12


def test_regression_authors_and_query_see_the_demo(demo_week, capsys) -> None:
    from trendscope.cli import main
    from trendscope.trends.engagement import read_posts
    from trendscope.trends.instabae import instabae, repeated_holdouts

    config = load_config(demo_week, environ={})
    posts = read_posts(config.data_root, LOCATION, DAYS)
    result = instabae(posts, LOCATION)
    assert (result.train, result.test) == (67, 17)
    assert result.beats_baseline, result
    best, effect = max(result.top_features, key=lambda t: t[1])
    assert "cat" in best and effect > 0, result.top_features  # the planted effect
    # 17 held-out posts are few: over 20 splits it must still win most of the time
    summary = repeated_holdouts(posts, LOCATION)
    assert summary["wins"] >= 0.7 and summary["r2"] > summary["baseline_r2"], summary
    assert summary["mae"] < summary["baseline_mae"], summary

    common = ["--config", str(demo_week), "--location", LOCATION]
    span = ["--from", DAYS[0].isoformat(), "--to", DAYS[-1].isoformat()]
    assert main(["authors", *common, *span, "--label", "cat"]) == 0
    out = capsys.readouterr().out
    assert "mika.photo" in out and "entropy" in out
    sql = "SELECT label, lift FROM engagement WHERE window_days = 7 AND label = 'cat'"
    assert main(["query", "--config", str(demo_week), sql, "--format", "json"]) == 0
    assert '"cat"' in capsys.readouterr().out


def test_summary_and_report_show_engagement_and_authors(demo_week, capsys, tmp_path) -> None:
    from trendscope.cli.insights import print_colour_trends, print_engagement_summary
    from trendscope.report import build_report

    config = load_config(demo_week, environ={})
    print_engagement_summary(config, DAYS[-1])
    print_colour_trends(config, DAYS[-1])
    out = capsys.readouterr().out
    assert "Engagement, 7 days to 2026-11-08" in out
    cat_line = next(line for line in out.splitlines() if line.startswith("cat "))
    assert cat_line.split()[-1] == "higher", out
    assert "Colours of the target labels on 2026-11-08" in out
    page = build_report(config, DAYS[0], DAYS[-1], None, tmp_path / "report.html").read_text()
    assert "Engagement lift per label, 7 days to 2026-11-08" in page
    assert "higher" in page
    # 12 posts a day are too few for a rising flag (min_images): name a day's cat posters directly
    from trendscope.report.engagement import rising_authors

    rows = [{"location": LOCATION, "date": DAYS[-1], "label": "cat", "fine_label": None}]
    (names,) = rising_authors(config, rows).values()
    counts = [int(part.rsplit("(", 1)[1].rstrip(")")) for part in names.split(", ")]
    assert 1 <= len(counts) <= 3 and counts == sorted(counts, reverse=True), names
