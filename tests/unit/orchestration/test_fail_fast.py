"""A partition that fails its suite fails the Airflow task without retries."""

from __future__ import annotations

import pytest
from airflow.sdk.exceptions import AirflowFailException

from trendscope.orchestration.tasks import failing_fast_on_bad_data
from trendscope.quality.gate import ValidationFailedError
from trendscope.quality.results import Failure, ValidationReport


def _report() -> ValidationReport:
    failure = Failure(
        table="detections",
        expectation="expect_column_values_to_be_between",
        column="confidence",
        severity="critical",
        unexpected_count=1,
        examples=[1.7],
    )
    return ValidationReport(
        table="detections",
        location="shibuya",
        key="2026-11-02",
        area="staging",
        run="r",
        rows=3,
        evaluated=20,
        failures=[failure],
        warnings=[],
    )


def test_validation_failure_becomes_a_no_retry_failure_with_the_summary() -> None:
    with pytest.raises(AirflowFailException) as caught, failing_fast_on_bad_data():
        raise ValidationFailedError(_report())
    assert "detections: expect_column_values_to_be_between(confidence)" in str(caught.value)
    assert "1 unexpected, e.g. [1.7]" in str(caught.value)


def test_other_errors_keep_airflow_retries() -> None:
    with pytest.raises(OSError), failing_fast_on_bad_data():
        raise OSError("object store unreachable")  # transient: Airflow retries it
