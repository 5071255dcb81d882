"""Write-audit-publish: stage a partition, validate it with Great Expectations, then publish.

A partition that fails validation is never published: the step raises
:class:`ValidationFailedError` with a summary of the failed expectations, the previously published
partition stays as it was, and the staged data and the validation result stay for inspection.

Each validation keeps our summary (:mod:`trendscope.quality.results`) and GX's result and Data
Docs page (:mod:`trendscope.quality.docs`); the suites' context of a partition comes from
:mod:`trendscope.quality.context`.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime

import pyarrow as pa

from trendscope.config import TrendscopeConfig
from trendscope.quality.docs import docs_link, run_name, store_dir
from trendscope.quality.gx import failure_of, run_suite
from trendscope.quality.results import ValidationReport, save_report
from trendscope.quality.suites import SuiteContext, frame_for
from trendscope.tables import storage
from trendscope.tables.commit import new_publish_id, publish_together, tagged
from trendscope.tables.paths import keyed_partition_path
from trendscope.tables.schemas import TableContract, relaxed

log = logging.getLogger(__name__)


class ValidationFailedError(RuntimeError):
    """A staged partition failed its expectation suite; nothing was published."""

    def __init__(self, report: ValidationReport):
        self.report = report
        super().__init__(report.summary())


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
    staged = [_stage(root, contract, table, ctx) for contract, table, ctx in items]
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
    _publish(root, items)
    for path in staged:  # the partition's staging folder, with what a killed writer left there
        storage.remove_tree(path.rsplit("/", 1)[0])
    return reports


def _stage(root: str, contract: TableContract, table: pa.Table, ctx: SuiteContext) -> str:
    """Write a partition to ``staging/``, where it stays if it fails its suite."""
    path = keyed_partition_path(root, contract.name, ctx.location, ctx.key, area="staging")
    storage.write_table_atomic(relaxed(table), path)  # kept even when it breaks the rules
    return path


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
    run = datetime.now(UTC).strftime("%Y%m%dT%H%M%S%fZ")
    df = frame_for(contract.name, table, images)
    with store_dir(config) as gx_root:
        results = run_suite(gx_root, contract.name, df, ctx, run_name(ctx.location, ctx.key, area))
    failed = [failure_of(contract.name, r) for r in results if not r.success]
    report = ValidationReport(
        table=contract.name,
        location=ctx.location,
        key=ctx.key,
        area=area,
        run=run,
        rows=table.num_rows,
        evaluated=len(results),
        failures=[f for f in failed if f.severity == "critical"],
        warnings=[f for f in failed if f.severity == "warning"],
        data_docs=docs_link(config),
        posts_in=ctx.posts_in,
    )
    save_report(config, report)
    return report


def _publish(root: str, items: list[tuple[TableContract, pa.Table, SuiteContext]]) -> None:
    """Replace the published partitions of ``items``: one location-day's together."""
    keys = {(ctx.location, ctx.key) for _, _, ctx in items}
    if len(items) > 1 and len(keys) == 1:  # one location-day's tables: all visible or none
        ((location, key),) = keys
        publish_together(root, location, key, [(contract, table) for contract, table, _ in items])
    else:  # a single partition: its own atomic replacement is enough
        for contract, table, ctx in items:
            target = keyed_partition_path(root, contract.name, ctx.location, ctx.key)
            storage.write_table_atomic(tagged(table, new_publish_id()), target)


def _combined(reports: list[ValidationReport]) -> ValidationReport:
    """One report for the failed suites of a step (itself when only one failed)."""
    if len(reports) == 1:
        return reports[0]
    first = reports[0]
    return ValidationReport(
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
