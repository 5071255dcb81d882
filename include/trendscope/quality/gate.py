"""Write-audit-publish: stage a partition, validate it with Great Expectations, then publish.

A partition that fails validation is never published: the step raises
:class:`ValidationFailedError` with a summary of the failed expectations, the previously published
partition stays as it was, and the staged data and the validation result stay for inspection.

Results are kept per run, beside the tables:

* ``<data>/quality/results/<table>/location=<L>/<date=D|period=P>/<run>.json`` (our summary, also
  as ``latest.json``), read by ``trendscope validate`` and the HTML report;
* ``<data>/quality/gx/``: Great Expectations' own validation results and its Data Docs site
  (``docs/index.html`` lists the latest runs; every run keeps its page).
"""

from __future__ import annotations

import fcntl
import json
import logging
import os
import statistics
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any, Literal

import pyarrow as pa

from trendscope.config import TrendscopeConfig
from trendscope.quality.suites import SuiteContext, frame_for, suite_rules
from trendscope.tables import storage
from trendscope.tables.commit import new_publish_id, publish_together, tagged
from trendscope.tables.paths import join, key_part, keyed_partition_path
from trendscope.tables.schemas import IMAGES, OTHER, STATUS_OK, TableContract, relaxed
from trendscope.trends.compare import TrendParams

log = logging.getLogger(__name__)

Severity = Literal["critical", "warning"]
DOCS_INDEX_RUNS = 200
"""How many of the latest validation runs the Data Docs index lists."""


class ValidationFailedError(RuntimeError):
    """A staged partition failed its expectation suite; nothing was published."""

    def __init__(self, report: ValidationReport):
        self.report = report
        super().__init__(report.summary())


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


def _json_safe(value: Any) -> Any:
    try:
        json.dumps(value)
        return value
    except TypeError:
        return str(value)


def _failure(table: str, result: Any) -> Failure:
    cfg = result.expectation_config
    kwargs = cfg.kwargs
    column = kwargs.get("column") or (
        f"{kwargs['column_A']},{kwargs['column_B']}" if "column_A" in kwargs else None
    )
    if column is None and "column_list" in kwargs:
        column = ",".join(kwargs["column_list"])
    res = result.result or {}
    severity = getattr(cfg, "severity", "critical")
    return Failure(
        table=table,
        expectation=cfg.type,
        column=column,
        severity="warning"
        if str(getattr(severity, "value", severity)) == "warning"
        else "critical",
        unexpected_count=res.get("unexpected_count"),
        examples=[_json_safe(v) for v in (res.get("partial_unexpected_list") or [])[:10]],
        observed=_json_safe(res.get("observed_value")),
        description=cfg.description,
    )


def quality_dir(config: TrendscopeConfig) -> str:
    return join(config.data_root, "quality")


def results_dir(config: TrendscopeConfig, table: str, location: str, key: str) -> str:
    """Where the per-run JSON results of one partition are kept."""
    return join(quality_dir(config), "results", table, f"location={location}", key_part(key))


@contextmanager
def _gx_root(config: TrendscopeConfig) -> Iterator[str]:
    """A local directory for Great Expectations' stores (a temporary one for S3 data roots).

    A local one is shared by every task writing to the data root; parallel tasks (the mapped
    publish tasks of several locations) take turns on it, so the Data Docs index is never
    written by two at once.
    """
    root = quality_dir(config)
    if not storage.is_s3(root):
        gx_dir = Path(join(root, "gx"))
        gx_dir.mkdir(parents=True, exist_ok=True)
        with open(gx_dir / ".lock", "w") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            try:
                yield str(gx_dir)
            finally:
                fcntl.flock(lock, fcntl.LOCK_UN)
        return
    with tempfile.TemporaryDirectory(prefix="trendscope-gx-") as tmp:
        yield tmp
        for path in Path(tmp).rglob("*"):
            # each run's page and result; no index (it would list only this run)
            if path.is_file() and "static" not in path.parts and path.name != "index.html":
                rel = path.relative_to(tmp).as_posix()
                storage.write_bytes_atomic(path.read_bytes(), join(root, "gx", rel))


def _context(gx: Any, gx_root: str) -> Any:
    from great_expectations.data_context.types.base import (
        DataContextConfig,
        InMemoryStoreBackendDefaults,
        ProgressBarsConfig,
    )

    cfg = DataContextConfig(
        store_backend_defaults=InMemoryStoreBackendDefaults(init_temp_docs_sites=False)
    )
    cfg.progress_bars = ProgressBarsConfig(globally=False)
    cfg.stores["validation_results_store"] = {
        "class_name": "ValidationResultsStore",
        "store_backend": {
            "class_name": "TupleFilesystemStoreBackend",
            "base_directory": os.path.join(gx_root, "results"),
        },
    }
    cfg.data_docs_sites = {
        "trendscope": {
            "class_name": "SiteBuilder",
            "store_backend": {
                "class_name": "TupleFilesystemStoreBackend",
                "base_directory": os.path.join(gx_root, "docs"),
            },
            # the index lists the latest runs (it reads each one it lists); older pages stay
            "site_index_builder": {
                "class_name": "DefaultSiteIndexBuilder",
                "validation_results_limit": DOCS_INDEX_RUNS,
            },
        }
    }
    return gx.get_context(project_config=cfg, mode="ephemeral")


def _docs_link(config: TrendscopeConfig) -> str:
    """Where a run's Data Docs are: the browsable index locally, the uploaded pages on S3."""
    docs = join(quality_dir(config), "gx", "docs")
    return join(docs, "validations") if storage.is_s3(docs) else f"file://{docs}/index.html"


def validate_partition(
    config: TrendscopeConfig,
    contract: TableContract,
    table: pa.Table,
    ctx: SuiteContext,
    *,
    area: str,
    images: pa.Table | None = None,
) -> ValidationReport:
    """Run ``contract``'s suite on ``table`` and keep the result (JSON and Data Docs)."""
    import great_expectations as gx

    run = datetime.now(UTC).strftime("%Y%m%dT%H%M%S%fZ")
    df = frame_for(contract.name, table, images)
    with _gx_root(config) as gx_root:
        context = _context(gx, gx_root)
        asset = context.data_sources.add_pandas("trendscope").add_dataframe_asset(contract.name)
        batch = asset.add_batch_definition_whole_dataframe("partition")
        # built whole: add_expectation would save the suite again after every rule
        rules = list(suite_rules(gx, contract.name, ctx))
        suite = context.suites.add(gx.ExpectationSuite(name=contract.name, expectations=rules))
        definition = context.validation_definitions.add(
            gx.ValidationDefinition(name=f"{contract.name}-partition", data=batch, suite=suite)
        )
        checkpoint = context.checkpoints.add(
            gx.Checkpoint(
                name=f"{contract.name}-gate",
                validation_definitions=[definition],
                actions=[
                    gx.checkpoint.UpdateDataDocsAction(name="docs", site_names=["trendscope"])
                ],
                result_format={"result_format": "SUMMARY"},
            )
        )
        outcome = checkpoint.run(
            batch_parameters={"dataframe": df},
            run_id=gx.RunIdentifier(run_name=f"{ctx.location}_{ctx.key}_{area}"),
        )
    (result,) = outcome.run_results.values()
    failed = [_failure(contract.name, r) for r in result.results if not r.success]
    report = ValidationReport(
        table=contract.name,
        location=ctx.location,
        key=ctx.key,
        area=area,
        run=run,
        rows=table.num_rows,
        evaluated=len(result.results),
        failures=[f for f in failed if f.severity == "critical"],
        warnings=[f for f in failed if f.severity == "warning"],
        data_docs=_docs_link(config),
        posts_in=ctx.posts_in,
    )
    out_dir = results_dir(config, contract.name, ctx.location, ctx.key)
    report.result_json = join(out_dir, f"{run}.json")
    body = json.dumps(report.to_dict(), indent=2, default=str).encode()
    storage.write_bytes_atomic(body, report.result_json)
    storage.write_bytes_atomic(body, join(out_dir, "latest.json"))
    return report


def latest_result(
    config: TrendscopeConfig, table: str, location: str, key: str
) -> dict[str, Any] | None:
    """The last validation summary kept for a partition (``None`` when never validated)."""
    path = join(results_dir(config, table, location, key), "latest.json")
    if not storage.exists(path):
        return None
    return json.loads(storage.read_bytes(path))


# --- what the suites need to know -----------------------------------------------------------
def detector_vocabulary(config: TrendscopeConfig) -> tuple[str, ...]:
    """Class names the detector can output (COCO-80 for the default; read from the model else)."""
    if config.detector.backend == "yolox-onnx":
        from trendscope.vision.labels import COCO80

        return COCO80
    from trendscope.vision.factory import load_detector

    return tuple(load_detector(config).vocabulary)


def usual_ok_images(config: TrendscopeConfig, location: str, day: date) -> float | None:
    """Median ok images over the location's published days in the volume window (None: none)."""
    counts = []
    for k in range(1, config.quality.volume_window_days + 1):
        path = keyed_partition_path(
            config.data_root, IMAGES.name, location, day - timedelta(days=k)
        )
        if storage.exists(path):
            status = storage.read_table(path).column("status").to_pylist()
            counts.append(status.count(STATUS_OK))
    if len(counts) < config.quality.volume_min_days:
        return None
    return float(statistics.median(counts))


def suite_context(
    config: TrendscopeConfig,
    table: str,
    location: str,
    key: str,
    *,
    posts_in: int | None = None,
) -> SuiteContext:
    """The :class:`SuiteContext` of a partition from the config and the published history."""
    usual = None
    if table == IMAGES.name:
        usual = usual_ok_images(config, location, date.fromisoformat(key))
    return SuiteContext(
        location=location,
        key=key,
        vocabulary=detector_vocabulary(config),
        fine_labels={t: sorted(c.fine_labels) for t, c in config.targets.items()},
        scene_labels=[*sorted(config.scenes.categories), OTHER],
        posts_in=posts_in,
        usual_ok_images=usual,
        volume_min_ratio=config.quality.volume_min_ratio,
        trend_rules=TrendParams.from_config(config.trends).rules,
    )


# --- the gate -------------------------------------------------------------------------------
def audit_and_publish(
    config: TrendscopeConfig,
    items: list[tuple[TableContract, pa.Table, SuiteContext]],
    *,
    images: pa.Table | None = None,
) -> list[ValidationReport]:
    """Stage every table, validate each, and publish all of them only when all pass.

    The tables of one location-day are published together (:mod:`trendscope.tables.commit`):
    a reader sees all of them new or all old, even if the process dies half-way.

    Args:
        config: The config.
        items: ``(contract, rows, suite context)`` of each partition to publish together.
        images: The day's ``images`` rows, for the box checks of ``detections``.

    Raises:
        ValidationFailedError: A suite failed; nothing of ``items`` was published.
    """
    root = config.data_root
    staged = []
    for contract, table, ctx in items:
        path = keyed_partition_path(root, contract.name, ctx.location, ctx.key, area="staging")
        storage.write_table_atomic(relaxed(table), path)  # kept even when it breaks the rules
        staged.append(path)
    reports = []
    for contract, table, ctx in items:
        report = validate_partition(config, contract, table, ctx, area="staging", images=images)
        log.info("validation %s", report.summary())
        reports.append(report)
    failed = [r for r in reports if not r.success]
    if failed:
        for r in failed:
            log.error("not published, staged data kept for inspection:\n%s", r.summary())
        raise ValidationFailedError(_combined(failed))
    keys = {(ctx.location, ctx.key) for _, _, ctx in items}
    if len(items) > 1 and len(keys) == 1:  # one location-day's tables: all visible or none
        ((location, key),) = keys
        publish_together(root, location, key, [(contract, table) for contract, table, _ in items])
    else:  # a single partition: its own atomic replacement is enough
        for contract, table, ctx in items:
            target = keyed_partition_path(root, contract.name, ctx.location, ctx.key)
            storage.write_table_atomic(tagged(table, new_publish_id()), target)
    for path in staged:
        storage.remove(path)
    return reports


def _combined(reports: list[ValidationReport]) -> ValidationReport:
    """One report for the failed suites of a step (itself when only one failed)."""
    if len(reports) == 1:
        return reports[0]
    first = reports[0]
    merged = ValidationReport(
        table="+".join(r.table for r in reports),
        location=first.location,
        key=first.key,
        area=first.area,
        run=first.run,
        rows=sum(r.rows for r in reports),
        evaluated=sum(r.evaluated for r in reports),
        failures=[f for r in reports for f in r.failures],
        warnings=[w for r in reports for w in r.warnings],
        result_json=", ".join(r.result_json for r in reports),
        data_docs=first.data_docs,
    )
    return merged


def validate_stored(
    config: TrendscopeConfig, table: str, location: str, key: str, *, staged: bool = False
) -> ValidationReport:
    """Validate a partition already written (published, or staged with ``staged=True``).

    Raises:
        FileNotFoundError: The partition does not exist.
    """
    from trendscope.pipeline.ingest import read_posts_in
    from trendscope.tables.schemas import contract as contract_of

    storage.use(config.storage)
    config.location(location)
    contract = contract_of(table)
    area = "staging" if staged else "tables"
    path = keyed_partition_path(config.data_root, table, location, key, area=area)
    if not storage.exists(path):
        raise FileNotFoundError(
            f"no {'staged' if staged else 'published'} {table} partition: {path}"
        )
    rows = storage.read_table(path, contract)
    posts_in = None
    images = None
    if table == IMAGES.name:
        if staged:
            posts_in = read_posts_in(path)
        else:
            last = latest_result(config, table, location, key)
            posts_in = last.get("posts_in") if last else None
    elif table == "detections":
        for image_area in (area, "tables"):
            image_path = keyed_partition_path(
                config.data_root, IMAGES.name, location, key, image_area
            )
            if storage.exists(image_path):
                images = storage.read_table(image_path, IMAGES)
                break
    ctx = suite_context(config, table, location, key, posts_in=posts_in)
    return validate_partition(config, contract, rows, ctx, area=area, images=images)
