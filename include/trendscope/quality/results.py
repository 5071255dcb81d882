"""What a validation found, and where our summary of each run is kept.

``<data>/quality/results/<table>/location=<L>/<date=D|period=P>/<run>.json``, also as
``latest.json``: read by ``trendscope validate``, the HTML report and ``trendscope gc`` (which
keeps ``latest.json`` and the run it names).
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from typing import Any, Literal

from trendscope.config import TrendscopeConfig
from trendscope.tables import storage
from trendscope.tables.paths import join, key_part

Severity = Literal["critical", "warning"]
LATEST = "latest.json"
"""The copy of a partition's last summary, beside the per-run files."""


@dataclass
class Failure:
    """One expectation that did not hold."""

    table: str
    expectation: str
    column: str | None
    severity: Severity
    unexpected_count: int | None = None
    examples: list[Any] = field(default_factory=list)
    observed: Any = None
    description: str | None = None

    def line(self) -> str:
        what = f"{self.table}: " + self.expectation + (f"({self.column})" if self.column else "")
        parts = [what]
        if self.description:
            parts.append(f"- {self.description}")
        if self.unexpected_count is not None:
            parts.append(f": {self.unexpected_count} unexpected, e.g. {self.examples[:5]}")
        elif self.observed is not None:
            parts.append(f": observed {self.observed}")
        return " ".join(parts)


@dataclass
class ValidationReport:
    """The outcome of validating one partition."""

    table: str
    location: str
    key: str
    area: str
    run: str
    rows: int
    evaluated: int
    failures: list[Failure]
    warnings: list[Failure]
    result_json: str = ""
    data_docs: str = ""
    posts_in: int | None = None

    @property
    def success(self) -> bool:
        return not self.failures

    def summary(self) -> str:
        head = (
            f"{self.table} {self.location} {self.key} ({self.area}, {self.rows} rows): "
            f"{self.evaluated} expectations, {len(self.failures)} failed, "
            f"{len(self.warnings)} warning(s)"
        )
        lines = [head]
        lines += [f"  FAILED  {f.line()}" for f in self.failures]
        lines += [f"  WARNING {w.line()}" for w in self.warnings]
        if self.result_json:
            lines.append(f"  result: {self.result_json}")
        if self.data_docs:
            lines.append(f"  data docs: {self.data_docs}")
        return "\n".join(lines)

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["success"] = self.success
        return d


def quality_dir(config: TrendscopeConfig) -> str:
    """``<data>/quality``: our summaries (``results/``) and Great Expectations' stores (``gx/``)."""
    return join(config.data_root, "quality")


def results_root(config: TrendscopeConfig) -> str:
    """``<data>/quality/results``: the summaries of every partition."""
    return join(quality_dir(config), "results")


def results_dir(config: TrendscopeConfig, table: str, location: str, key: str) -> str:
    """Where the per-run JSON results of one partition are kept."""
    return join(results_root(config), table, f"location={location}", key_part(key))


def save_report(config: TrendscopeConfig, report: ValidationReport) -> str:
    """Keep ``report`` as ``<run>.json`` and ``latest.json`` of its partition; set and return
    its ``result_json``."""
    out_dir = results_dir(config, report.table, report.location, report.key)
    report.result_json = join(out_dir, f"{report.run}.json")
    body = json.dumps(report.to_dict(), indent=2, default=str).encode()
    storage.write_bytes_atomic(body, report.result_json)
    storage.write_bytes_atomic(body, join(out_dir, LATEST))
    return report.result_json


def latest_result(
    config: TrendscopeConfig, table: str, location: str, key: str
) -> dict[str, Any] | None:
    """The last validation summary kept for a partition (``None`` when never validated)."""
    path = join(results_dir(config, table, location, key), LATEST)
    if not storage.exists(path):
        return None
    return json.loads(storage.read_bytes(path))
