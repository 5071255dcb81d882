"""Great Expectations plumbing: an ephemeral context over file stores, one suite run, and its
results turned into :class:`~trendscope.quality.results.Failure`.

Inside a store directory (see :mod:`trendscope.quality.docs` for where it is and who may write
it) a run leaves ``results/<table>/<run name>/<run time>/<batch>.json`` (GX's validation result)
and ``docs/validations/<table>/<run name>/<run time>/<batch>.html`` (its Data Docs page), and
rebuilds ``docs/index.html``.
"""

from __future__ import annotations

import json
import os
from typing import Any

from trendscope.quality.results import Failure
from trendscope.quality.suites import SuiteContext, suite_rules

RESULTS = "results"
"""GX's validation results store, inside the store directory."""
DOCS = "docs"
"""The Data Docs site, inside the store directory."""
DOCS_SITE = "trendscope"
DOCS_INDEX_RUNS = 200
"""How many of the latest validation runs the Data Docs index lists."""


def ephemeral_context(gx: Any, gx_root: str) -> Any:
    """A GX context kept in memory but for its validation results and Data Docs under
    ``gx_root``."""
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
            "base_directory": os.path.join(gx_root, RESULTS),
        },
    }
    cfg.data_docs_sites = {
        DOCS_SITE: {
            "class_name": "SiteBuilder",
            "store_backend": {
                "class_name": "TupleFilesystemStoreBackend",
                "base_directory": os.path.join(gx_root, DOCS),
            },
            # the index lists the latest runs (it reads each one it lists); older pages stay
            "site_index_builder": {
                "class_name": "DefaultSiteIndexBuilder",
                "validation_results_limit": DOCS_INDEX_RUNS,
            },
        }
    }
    return gx.get_context(project_config=cfg, mode="ephemeral")


def run_suite(gx_root: str, table: str, df: Any, ctx: SuiteContext, run_name: str) -> list[Any]:
    """Run ``table``'s suite on ``df`` in a context over ``gx_root``, updating its Data Docs.

    Returns:
        GX's result of each expectation (``.success``, ``.expectation_config``, ``.result``).
    """
    import great_expectations as gx

    context = ephemeral_context(gx, gx_root)
    asset = context.data_sources.add_pandas("trendscope").add_dataframe_asset(table)
    batch = asset.add_batch_definition_whole_dataframe("partition")
    # built whole: add_expectation would save the suite again after every rule
    rules = list(suite_rules(gx, table, ctx))
    suite = context.suites.add(gx.ExpectationSuite(name=table, expectations=rules))
    definition = context.validation_definitions.add(
        gx.ValidationDefinition(name=f"{table}-partition", data=batch, suite=suite)
    )
    checkpoint = context.checkpoints.add(
        gx.Checkpoint(
            name=f"{table}-gate",
            validation_definitions=[definition],
            actions=[gx.checkpoint.UpdateDataDocsAction(name="docs", site_names=[DOCS_SITE])],
            result_format={"result_format": "SUMMARY"},
        )
    )
    outcome = checkpoint.run(
        batch_parameters={"dataframe": df}, run_id=gx.RunIdentifier(run_name=run_name)
    )
    (result,) = outcome.run_results.values()
    return list(result.results)


def _json_safe(value: Any) -> Any:
    try:
        json.dumps(value)
        return value
    except TypeError:
        return str(value)


def failure_of(table: str, result: Any) -> Failure:
    """A failed GX expectation result as a :class:`Failure` (column, severity, examples)."""
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
