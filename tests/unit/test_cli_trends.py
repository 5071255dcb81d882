"""`trendscope trends|rollup|query|report` on a published history with a planted rise."""

from __future__ import annotations

import csv
import io
import json

from published_history import WEEK45, published_history
from trendscope.cli import main


def _first_object_row(out: str) -> list[str]:
    return out.split("Objects\n")[1].splitlines()[2].split()


def test_day_period_and_compare(config, capsys, tmp_path) -> None:
    published_history(config, trend_days=WEEK45[:1])
    data = ["--data-dir", config.data_root]
    day = ["--location", "shibuya", "--date", WEEK45[0].isoformat(), *data]

    assert main(["trends", *day]) == 0
    out = capsys.readouterr().out
    row = _first_object_row(out)
    assert row[0] == "cat" and row[-1] == "rising"
    header = out.split("Objects\n")[1].splitlines()[0].split()
    assert header == [
        *("label", "images", "authors", "top_share", "share", "baseline", "expected"),
        *("delta", "lift", "p_adj", "trend"),
    ]
    assert int(row[2]) == int(row[1])  # no authors in this history: each image its own
    tables = out.split("Objects\n")[1].splitlines()
    assert max(len(line) for line in tables) <= 120

    assert main(["trends", *day, "--period", "week"]) == 1
    err = capsys.readouterr().err
    assert "no trends_weekly for shibuya 2026-W45" in err
    assert "trendscope rollup --location shibuya --period 2026-W45" in err

    assert main(["rollup", "--location", "shibuya", "--period", "2026-W45", *data]) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["step"] == "rollup-week" and result["counts"]["rising"] >= 1
    assert main(["trends", *day, "--period", "week"]) == 0
    out = capsys.readouterr().out
    assert "Trends for shibuya in 2026-W45" in out
    row = _first_object_row(out)
    assert row[0] == "cat" and row[-1] == "rising"

    assert main(["trends", *day, "--compare"]) == 0
    out = capsys.readouterr().out
    assert "Locations compared in 2026-11-02" in out  # one day: ~47 ok images, insufficient
    assert main(["trends", *day, "--compare", "--period", "week"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[1].startswith("Locations compared in 2026-W45")
    header = next(ln.split() for ln in lines if ln.startswith("kind"))
    assert header == ["kind", "label", "brooklyn", "shibuya"]
    first = lines[lines.index(next(ln for ln in lines if ln.startswith("kind"))) + 2].split()
    assert first[:2] == ["object", "cat"] and first[-1] == "+" and first[3] == "-"


def test_query_formats_and_report(config, capsys, tmp_path) -> None:
    images, _ = published_history(config, trend_days=WEEK45[:1])
    data = ["--data-dir", config.data_root]
    sql = "SELECT location, count(*) AS n FROM images GROUP BY location ORDER BY location"
    expected = {
        r["location"]: r["image_id_count"]
        for r in images.group_by("location").aggregate([("image_id", "count")]).to_pylist()
    }

    assert main(["query", sql, *data, "--format", "csv"]) == 0
    rows = list(csv.DictReader(io.StringIO(capsys.readouterr().out)))
    assert {r["location"]: int(r["n"]) for r in rows} == expected
    assert main(["query", sql, *data, "--format", "json"]) == 0
    assert {r["location"]: r["n"] for r in json.loads(capsys.readouterr().out)} == expected
    assert main(["query", sql, *data]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0].split() == ["location", "n"] and out[-1] == "(2 rows)"
    assert main(["query", "SELECT * FROM trends_weekly", *data]) == 1
    assert "trends_weekly" in capsys.readouterr().err

    report = tmp_path / "report.html"
    day = WEEK45[0].isoformat()
    args = ["report", "--from", day, "--to", day, "--location", "shibuya", "--out", str(report)]
    assert main([*args, *data]) == 0
    assert report.is_file() and "data:image/png;base64," in report.read_text()
