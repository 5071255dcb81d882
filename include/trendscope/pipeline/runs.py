"""The ``runs`` table: one row per attempt of a step on a location-day, written by ``run_step``.

Each attempt is its own small Parquet file under ``<data>/runs/location=L/date=D/`` (see
:func:`~trendscope.tables.paths.runs_path`): concurrent attempts (analyze shards, retries, pods)
never overwrite each other and nothing is rewritten. Recording never hides a step's own error:
a row that cannot be written is logged and the step's result or exception goes on unchanged.
"""

from __future__ import annotations

import hashlib
import json
import logging
import uuid
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from functools import lru_cache
from pathlib import Path
from typing import Any

from trendscope.config import TrendscopeConfig
from trendscope.models.fetch import file_sha256
from trendscope.pipeline.result import StepResult
from trendscope.tables import storage
from trendscope.tables.paths import runs_dir, runs_path
from trendscope.tables.schemas import RUN_FAILED, RUN_SUCCESS, RUNS, to_table

log = logging.getLogger(__name__)

MAX_ERROR_CHARS = 2000
"""Longest ``error`` kept (the head of the message: type, then what went wrong first)."""

COUNT_COLUMNS = ("posts", "ok", "duplicate", "quarantined", "detections")

# runs column -> the name of that count in each step's StepResult; a step leaves out what it
# does not know (analyze sees one shard's ok images, trends counts labels, not images)
_STEP_COUNTS: dict[str, dict[str, str]] = {
    "ingest": {
        "posts": "posts",
        "ok": "ok",
        "duplicate": "duplicate",
        "quarantined": "quarantined",
    },
    "analyze": {"ok": "images_ok", "detections": "detections"},
    "publish": {
        "posts": "images",
        "ok": "ok",
        "duplicate": "duplicate",
        "quarantined": "quarantined",
        "detections": "detections",
    },
    "trends": {},
}


def config_hash(config: TrendscopeConfig) -> str:
    """Short sha256 of the resolved config's canonical JSON (paths made absolute).

    ``kubernetes`` and ``executor`` say how a step is launched, not what it computes, and are
    left out so the analyze pods (which run with ``executor: local``) hash like the worker.
    """
    data = config.model_dump(mode="json", exclude={"kubernetes", "executor"})
    data["data_dir"] = config.data_root
    data["models_dir"] = config.resolve(config.models_dir)
    data["source"]["path"] = config.source_root
    canonical = json.dumps(data, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()[:12]


@lru_cache(maxsize=16)
def _sha256(path: str, size: int, mtime_ns: int) -> str:
    """Hash once per file version and process (size and mtime key a replaced file anew)."""
    return file_sha256(path)


def weights_sha256(path: str) -> str | None:
    """The sha256 of a local model file, or ``None`` when it is not there (e.g. a pod-less
    worker that never loads the models)."""
    p = Path(path)
    try:
        stat = p.stat()
    except (OSError, ValueError):
        return None
    return _sha256(str(p), stat.st_size, stat.st_mtime_ns) if p.is_file() else None


def model_sha256s(config: TrendscopeConfig) -> tuple[str | None, str | None]:
    """``(detector, classifier)`` sha256 of the model files the config points to."""
    return (
        weights_sha256(config.model_path(config.detector.weights)),
        weights_sha256(config.model_path(config.classifier.weights)),
    )


def error_text(exc: BaseException, limit: int = MAX_ERROR_CHARS) -> str:
    """``"<type>: <message>"``, cut to ``limit`` characters with a note of what was cut."""
    message = str(exc).strip()
    text = f"{type(exc).__name__}: {message}" if message else type(exc).__name__
    if len(text) > limit:
        text = f"{text[:limit]} ... [{len(text) - limit} more characters]"
    return text


def step_counts(step: str, result: StepResult | None) -> dict[str, int | None]:
    """The runs table's counts from a step's result; ``None`` where the step does not know."""
    names = _STEP_COUNTS.get(step, {})
    counts = result.counts if result is not None else {}
    return {col: counts.get(names[col]) if col in names else None for col in COUNT_COLUMNS}


def _new_id() -> str:
    return uuid.uuid4().hex[:16]


def _now() -> datetime:
    return datetime.now(UTC)


@dataclass
class Attempt:
    """One attempt of a step on a location-day, started when created; :meth:`finish` records it."""

    config: TrendscopeConfig
    step: str
    location: str
    day: date
    shard: str | None = None
    run_id: str | None = None
    attempt_id: str = field(default_factory=_new_id)
    started_at: datetime = field(default_factory=_now)

    def row(
        self, result: StepResult | None, error: BaseException | None, ended_at: datetime
    ) -> dict[str, Any]:
        """The attempt's ``runs`` row."""
        detector, classifier = model_sha256s(self.config)
        return {
            "location": self.location,
            "date": self.day,
            "step": self.step,
            "shard": self.shard,
            "attempt_id": self.attempt_id,
            "started_at": self.started_at,
            "ended_at": ended_at,
            "status": RUN_FAILED if error is not None else RUN_SUCCESS,
            "duration_s": round((ended_at - self.started_at).total_seconds(), 3),
            **step_counts(self.step, result),
            "detector_sha256": detector,
            "classifier_sha256": classifier,
            "config_hash": config_hash(self.config),
            "run_id": self.run_id,
            "error": error_text(error) if error is not None else None,
        }

    def finish(
        self, result: StepResult | None = None, error: BaseException | None = None
    ) -> str | None:
        """Write the attempt's row; return its path, or ``None`` when it could not be written.

        Never raises: the caller goes on to return the step's result or re-raise its error.
        """
        try:
            row = self.row(result, error, _now())
            storage.use(self.config.storage)
            path = runs_path(
                self.config.data_root,
                self.location,
                self.day,
                self.started_at,
                self.step,
                self.attempt_id,
            )
            return storage.write_table_atomic(to_table(RUNS, [row]), path)
        except Exception:
            log.exception(
                "could not record the %s attempt of %s %s in the runs table",
                self.step,
                self.location,
                self.day,
            )
            return None


def read_runs(root: str, location: str, day: date) -> list[dict[str, Any]]:
    """Every recorded attempt of a location-day, oldest first."""
    rows: list[dict[str, Any]] = []
    for path in storage.list_files(runs_dir(root, location, day)):
        if path.endswith(".parquet"):
            rows += storage.read_table(path, RUNS).to_pylist()
    return sorted(rows, key=lambda r: (r["started_at"], r["attempt_id"]))
