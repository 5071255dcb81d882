"""Argument helpers shared by every ``trendscope`` subcommand module."""

from __future__ import annotations

import argparse
from datetime import date, timedelta

from trendscope.config import TrendscopeConfig, load_config

__all__ = ["_age", "_common", "_config", "_date", "_run_id"]


def _date(text: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a date (YYYY-MM-DD): {text!r}") from None


def _common(p: argparse.ArgumentParser, *, location: bool = True) -> None:
    p.add_argument("--config", help="config YAML (default: include/config/trendscope.yaml)")
    p.add_argument("--data-dir", help="data root holding tables/ and staging/ (overrides data_dir)")
    if location:
        p.add_argument("--location", required=True, help="location slug from the config")
        p.add_argument("--date", required=True, type=_date, help="day to process, YYYY-MM-DD")


def _age(text: str) -> timedelta:
    from trendscope.pipeline.gc import parse_age

    try:
        return parse_age(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _run_id(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--run-id", help="the Airflow run id, recorded with each step attempt in the runs table"
    )


def _config(args: argparse.Namespace) -> TrendscopeConfig:
    overrides = {}
    if getattr(args, "data_dir", None):
        overrides["data_dir"] = args.data_dir
    if getattr(args, "source_dir", None):
        overrides["source.path"] = args.source_dir
    if getattr(args, "models_dir", None):
        overrides["models_dir"] = args.models_dir
    return load_config(args.config, overrides=overrides)
