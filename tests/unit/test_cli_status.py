"""`trendscope status` and the step commands' `--run-id`, on real runs of two locations."""

from __future__ import annotations

import json

import pytest

from pipeline_days import DAY1, REPO, drop_photos
from trendscope.cli import main
from trendscope.pipeline.runs import read_runs

RUN_ID = "scheduled__2026-11-02T00:00:00+00:00"


@pytest.fixture
def cli(config, monkeypatch):
    """``trendscope`` with the test's data root and drop zone; both locations have photos."""
    monkeypatch.setenv("TRENDSCOPE_MODELS_DIR", str(REPO / "models"))
    for location in ("shibuya", "brooklyn"):
        drop_photos(config, location, DAY1)
    paths = ["--data-dir", config.data_root]

    def run(*args: str) -> int:
        command, rest = args[0], list(args[1:])
        if command != "status":
            rest += ["--location", rest.pop(0), "--date", DAY1.isoformat()]
        if command in ("run", "ingest", "status"):
            rest += ["--source-dir", config.source_root]
        return main([command, *rest, *paths])

    return run


def _status(cli, capsys, *args: str) -> tuple[int, str]:
    code = cli("status", "--from", DAY1.isoformat(), "--to", DAY1.isoformat(), *args)
    return code, capsys.readouterr().out


def test_one_failed_location_and_one_published(cli, config, capsys) -> None:
    assert cli("run", "shibuya") == 0
    assert cli("ingest", "brooklyn", "--run-id", RUN_ID) == 0
    assert cli("publish", "brooklyn", "--run-id", RUN_ID) == 1  # never analyzed
    assert "error: analysis of brooklyn 2026-11-02 is missing" in capsys.readouterr().err
    rows = read_runs(config.data_root, "brooklyn", DAY1)
    assert [(r["step"], r["status"], r["run_id"]) for r in rows] == [
        ("ingest", "success", RUN_ID),
        ("publish", "failed", RUN_ID),
    ]

    code, out = _status(cli, capsys)
    assert code == 1
    lines = out.splitlines()
    header = next(ln for ln in lines if ln.startswith("date"))
    assert header.split() == ["date", "day", "shibuya", "brooklyn"]
    assert "2026-11-02  Mon  published  failed" in lines
    assert "2 location-days: published 1, failed 1 (NOT all published and fresh)" in out
    failed = next(
        i for i, ln in enumerate(lines) if ln.startswith("  brooklyn 2026-11-02  publish,")
    )
    assert f"run {RUN_ID}" in lines[failed]
    assert lines[failed + 1].strip().startswith("IncompleteStagingError: analysis of brooklyn")
    assert "trendscope run --location L --date D" in out
    legend = lines[lines.index("Legend:") + 1 :]
    assert [ln.split()[0] for ln in legend] == [
        "published",
        "failed",
        "stale",
        "staging",
        "missing",
    ]

    code, out = _status(cli, capsys, "--json")
    assert code == 1
    data = json.loads(out)
    states = {(c["location"], c["date"]): c["state"] for c in data["cells"]}
    assert states == {("shibuya", "2026-11-02"): "published", ("brooklyn", "2026-11-02"): "failed"}
    (failure,) = next(c for c in data["cells"] if c["state"] == "failed")["failures"]
    assert failure["step"] == "publish" and failure["run_id"] == RUN_ID
    assert failure["error"].startswith("IncompleteStagingError: analysis of brooklyn")

    assert _status(cli, capsys, "--location", "shibuya")[0] == 0

    # the day re-run: published after the failure, so nothing is left to do
    assert cli("run", "brooklyn") == 0
    capsys.readouterr()
    code, out = _status(cli, capsys)
    assert code == 0
    assert "2026-11-02  Mon  published  published" in out
    assert "(all published and fresh)" in out and "Failed" not in out


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--from", "2026-11-08", "--to", "2026-11-02"], "ends (2026-11-02) before it starts"),
        (["--location", "paris"], "location 'paris' is not configured"),
    ],
)
def test_usage_and_config_errors_exit_2(cli, capsys, args, message) -> None:
    assert cli("status", *args) == 2
    assert message in capsys.readouterr().err


def test_a_bad_date_exits_2(cli, capsys) -> None:
    with pytest.raises(SystemExit) as exited:
        cli("status", "--from", "yesterday")
    assert exited.value.code == 2
    assert "not a date (YYYY-MM-DD): 'yesterday'" in capsys.readouterr().err


def test_every_step_command_takes_a_run_id(cli, config, capsys) -> None:
    """The steps of one run (as pods run them) share its id: in the runs table and its lease."""
    for command in ("ingest", "analyze", "publish", "compute-trends"):
        assert cli(command, "shibuya", "--run-id", "scheduled__2026-11-02") == 0
    steps = [
        (r["step"], r["shard"], r["run_id"]) for r in read_runs(config.data_root, "shibuya", DAY1)
    ]
    assert steps == [
        ("ingest", None, "scheduled__2026-11-02"),
        ("analyze", "0/1", "scheduled__2026-11-02"),
        ("publish", None, "scheduled__2026-11-02"),
        ("trends", None, "scheduled__2026-11-02"),
    ]
    result = json.loads(capsys.readouterr().out.splitlines()[-1])
    assert result["step"] == "trends"

    # another run of the same day, with its own id, may start now: the last step let the day go
    assert cli("ingest", "shibuya", "--run-id", "manual__again") == 0
