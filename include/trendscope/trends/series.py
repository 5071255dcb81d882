"""Fine-label series and the model that labels them: a model change starts new series.

A target's fine labels mean what its classifier means by them: ``tabby`` from the ImageNet
classifier and ``tabby`` from a fine-tuned ``cat-breeds@3`` are different measurements, and so
are two versions of one model. Each detections row names its fine model (``fine_model``,
``fine_model_version``, ``fine_model_sha256``); the model's sha256 is the series key.

:func:`model_changes` finds, for a day, the targets whose fine rows in the trailing window came
from another model than the day's; the comparison then judges those targets' fine rows only
against the window days labelled by the day's model (:func:`~trendscope.trends.compare.
compare_with_baseline` on those days), so a new model begins with an empty baseline
(``insufficient`` until it has enough days) instead of being compared with another model's
counts. The target's total (``fine_label`` null) counts detections, which no classifier changes,
and keeps its whole window.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date

import pyarrow as pa
import pyarrow.compute as pc

from trendscope.trends.calendar import Period, period_key

SERIES_COLUMN = "fine_model_sha256"


def fine_series(detections: pa.Table) -> dict[tuple[str, str], dict[date, set[str]]]:
    """``(location, label) -> {date: fine models}`` of the rows that carry a fine label."""
    if SERIES_COLUMN not in detections.column_names or "fine_label" not in detections.column_names:
        return {}
    fine = detections.filter(pc.is_valid(detections.column("fine_label")))
    keys = fine.select(["location", "label", "date", SERIES_COLUMN])
    distinct = keys.group_by(keys.column_names, use_threads=False).aggregate([])  # distinct keys
    out: dict[tuple[str, str], dict[date, set[str]]] = {}
    for loc, label, day, model in zip(*(c.to_pylist() for c in distinct.columns), strict=True):
        out.setdefault((loc, label), {}).setdefault(day, set()).add(model or "")
    return out


def model_changes(
    series: dict[tuple[str, str], dict[date, set[str]]], day: date, window: Sequence[date]
) -> dict[tuple[str, str], list[date]]:
    """Targets whose fine rows in ``window`` come from another model than ``day``'s, each with
    the window days labelled by ``day``'s model only.

    ``day``'s model is the one of its own fine rows, or (a day without the target) the latest
    window day's. Targets labelled by one model throughout are not listed.
    """
    out = {}
    for key, by_day in series.items():
        seen = [d for d in (*window, day) if d in by_day]
        if not seen:
            continue
        models = set().union(*(by_day[d] for d in seen))
        if len(models) < 2:
            continue
        current = by_day.get(day) or by_day[max(seen)]
        out[key] = [d for d in window if d in by_day and by_day[d] == current]
    return out


def period_series(
    series: dict[tuple[str, str], dict[date, set[str]]], kind: Period
) -> dict[tuple[str, str], dict[str, set[str]]]:
    """:func:`fine_series` by period (``week``/``month``): each period's set of fine models.

    A period labelled by two models matches no other period, so a rollup over a model change
    judges that target's fine rows against no baseline (``insufficient``), as a day does.
    """
    out: dict[tuple[str, str], dict[str, set[str]]] = {}
    for key, by_day in series.items():
        periods = out.setdefault(key, {})
        for day, models in by_day.items():
            periods.setdefault(period_key(day, kind), set()).update(models)
    return out
