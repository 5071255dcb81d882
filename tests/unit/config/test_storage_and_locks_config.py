"""The object-store retry keys reach the S3 client; lease keys are checked against step timeouts."""

from __future__ import annotations

import pytest

from trendscope.config import ConfigError, load_config
from trendscope.tables import storage


def test_the_retry_keys_configure_the_s3_client() -> None:
    load_config(
        environ={},
        overrides={
            "storage.max_attempts": 7,
            "storage.retry_mode": "adaptive",
            "storage.connect_timeout_s": 2.5,
            "storage.read_timeout_s": 12,
        },
    )
    try:
        client_config = storage._client().meta.config
        assert client_config.retries == {"mode": "adaptive", "total_max_attempts": 7}
        assert (client_config.connect_timeout, client_config.read_timeout) == (2.5, 12.0)
    finally:
        storage.configure(None, None)


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"storage.max_attempts": 0}, "storage.max_attempts: Input should be greater than"),
        ({"storage.retry_mode": "legacy"}, "storage.retry_mode: Input should be 'standard'"),
        ({"storage.read_timeout_s": 0}, "storage.read_timeout_s: Input should be greater than"),
        ({"locks.wait_s": -1}, "locks.wait_s: Input should be greater than or equal to 0"),
        ({"locks.ttl_minutes": 120}, "locks.ttl_minutes: 120 must exceed the longest step's"),
        (
            {"locks.ttl_minutes": 200, "airflow.analyze_timeout_minutes": 240},
            "timeout (240 minutes, airflow.*_timeout_minutes)",
        ),
    ],
)
def test_bad_storage_and_lock_keys_name_the_field(overrides, message) -> None:
    with pytest.raises(ConfigError) as bad:
        load_config(environ={}, overrides=overrides)
    assert message in str(bad.value)


def test_the_lease_keys_come_from_the_environment_too() -> None:
    config = load_config(environ={"TRENDSCOPE__LOCKS__WAIT_S": "5"})
    assert (config.locks.wait_s, config.locks.ttl_minutes) == (5.0, 180)
