"""DuckDB views over the published tables."""

from __future__ import annotations

import pyarrow as pa

from published_history import WEEK45, published_history
from trendscope.pipeline.rollup import rollup_period
from trendscope.tables.query import connect, run_query


def test_views_count_the_published_rows(config) -> None:
    images, detections = published_history(config, trend_days=WEEK45[:2])
    got = run_query(
        config.data_root,
        "SELECT location, count(*) AS n, count(DISTINCT date) AS days FROM images "
        "GROUP BY location ORDER BY location",
    ).to_pylist()
    raw = images.group_by("location").aggregate([("image_id", "count")]).to_pylist()
    assert got == [
        {"location": r["location"], "n": r["image_id_count"], "days": 42}
        for r in sorted(raw, key=lambda r: r["location"])
    ]
    n_det = run_query(config.data_root, "SELECT count(*) AS n FROM detections").column("n")
    assert n_det.to_pylist() == [detections.num_rows]
    days = run_query(
        config.data_root, "SELECT DISTINCT date, location FROM trends_daily ORDER BY 1, 2"
    )
    assert days.schema.field("date").type == pa.date32()
    assert days.to_pylist() == [
        {"date": d, "location": loc} for d in WEEK45[:2] for loc in ("brooklyn", "shibuya")
    ]


def test_only_tables_with_partitions_get_a_view(config) -> None:
    published_history(config)
    con = connect(config.data_root)
    views = {
        r[0] for r in con.sql("SELECT view_name FROM duckdb_views() WHERE NOT internal").fetchall()
    }
    con.close()
    assert views == {"images", "detections"}
    rollup_period(config, "shibuya", "2026-W45")
    rows = run_query(
        config.data_root,
        "SELECT location, period, images FROM trends_weekly "
        "WHERE label = 'cat' AND fine_label IS NULL",
    ).to_pylist()
    assert len(rows) == 1 and rows[0]["location"] == "shibuya" and rows[0]["period"] == "2026-W45"
    assert rows[0]["images"] > 0


def test_empty_data_root_has_no_views(tmp_path) -> None:
    con = connect(str(tmp_path))
    assert con.sql("SELECT count(*) FROM duckdb_views() WHERE NOT internal").fetchall() == [(0,)]
    con.close()
