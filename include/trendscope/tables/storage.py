"""Files on local disk or S3-compatible object storage, behind one small set of functions.

A partition is one Parquet file. On local disk it is written aside and renamed into place; on
object storage it is one object written with a single PUT. Either way a reader sees the old file
or the new one, never half of one, and a failed write leaves the previous one intact.

Paths are plain strings: ``/abs/path``, ``relative/path``, ``file:///abs/path`` or
``s3://bucket/key``. Object-store access uses boto3 with the endpoint from :func:`configure`
(the ``storage`` section of the config; MinIO and other S3 servers need ``endpoint_url``) and
credentials from boto3's usual chain (environment, Kubernetes Secret, instance role).

Transient object-store faults (HTTP 500/503, throttling, a refused connection, a response slower
than ``storage.read_timeout_s``) are retried with backoff by botocore's retry modes, up to
``storage.max_attempts`` tries of each request. What still fails raises :class:`StorageError`
naming the operation and the ``s3://bucket/key``; a missing object stays ``FileNotFoundError``.
"""

from __future__ import annotations

import contextlib
import io
import os
import random
import shutil
import time
import uuid
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import replace
from datetime import UTC, datetime
from functools import lru_cache
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from trendscope.tables.schemas import TableContract, conform

_S3: dict[str, Any] = {
    "endpoint_url": None,
    "region": None,
    "max_attempts": None,
    "retry_mode": "standard",
    "connect_timeout_s": None,
    "read_timeout_s": None,
}
_CREDENTIALS: dict[str, str] = {}


class StorageError(RuntimeError):
    """An object-store request that failed for good (after the retries): names the operation
    and the ``s3://bucket/key``. Not an ``OSError``, so no caller mistakes it for a bad file."""


def configure(
    endpoint_url: str | None = None,
    region: str | None = None,
    *,
    max_attempts: int | None = None,
    retry_mode: str = "standard",
    connect_timeout_s: float | None = None,
    read_timeout_s: float | None = None,
) -> None:
    """Set the object-store endpoint and retry policy (the config's ``storage`` section) for
    this process; a setting left ``None`` keeps botocore's default."""
    settings = {
        "endpoint_url": endpoint_url,
        "region": region,
        "max_attempts": max_attempts,
        "retry_mode": retry_mode,
        "connect_timeout_s": connect_timeout_s,
        "read_timeout_s": read_timeout_s,
    }
    if settings != _S3:
        _S3.update(settings)
        _client.cache_clear()


def set_credentials(
    access_key_id: str, secret_access_key: str, session_token: str | None = None
) -> None:
    """Use these credentials (e.g. from an Airflow connection) instead of boto3's default chain."""
    _CREDENTIALS.clear()
    _CREDENTIALS.update(aws_access_key_id=access_key_id, aws_secret_access_key=secret_access_key)
    if session_token:
        _CREDENTIALS["aws_session_token"] = session_token
    _client.cache_clear()


def use(settings: Any) -> None:
    """Point object-store access at a config's ``storage`` section (endpoint and retries)."""
    configure(
        settings.endpoint_url,
        settings.region,
        max_attempts=settings.max_attempts,
        retry_mode=settings.retry_mode,
        connect_timeout_s=settings.connect_timeout_s,
        read_timeout_s=settings.read_timeout_s,
    )


@lru_cache(maxsize=1)
def _client() -> Any:
    import boto3
    from botocore.config import Config

    options: dict[str, Any] = {}
    if _S3["max_attempts"] is not None:  # total tries of one request, the first included
        options["retries"] = {"mode": _S3["retry_mode"], "total_max_attempts": _S3["max_attempts"]}
    if _S3["connect_timeout_s"] is not None:
        options["connect_timeout"] = _S3["connect_timeout_s"]
    if _S3["read_timeout_s"] is not None:
        options["read_timeout"] = _S3["read_timeout_s"]
    return boto3.client(
        "s3",
        endpoint_url=_S3["endpoint_url"],
        region_name=_S3["region"],
        config=Config(**options),
        **_CREDENTIALS,
    )


def is_s3(path: str) -> bool:
    return path.startswith("s3://")


def _split(path: str) -> tuple[str, str]:
    bucket, _, key = path[len("s3://") :].partition("/")
    if not bucket:
        raise ValueError(f"not an S3 path: {path!r}")
    return bucket, key


def _local(path: str) -> Path:
    return Path(path[len("file://") :] if path.startswith("file://") else path)


def _not_found(exc: Exception) -> bool:
    code = getattr(exc, "response", {}).get("Error", {}).get("Code", "")
    return code in ("404", "NoSuchKey", "NotFound", "NoSuchBucket")


def _failure(operation: str, path: str, exc: Exception) -> str:
    """``could not <operation> s3://bucket/key: <what S3 said> (after N attempts)``."""
    response = getattr(exc, "response", None) or {}
    error = response.get("Error", {})
    if error:
        status = response.get("ResponseMetadata", {}).get("HTTPStatusCode")
        what = f"{error.get('Code', '?')} (HTTP {status}): {error.get('Message', '')}".rstrip(": ")
    else:
        what = f"{type(exc).__name__}: {exc}"
    retries = response.get("ResponseMetadata", {}).get("RetryAttempts")
    if retries is not None:
        tries = f"{retries + 1} attempt(s)"
    else:  # a timeout or no connection: botocore tried as often as it was allowed to
        tries = f"up to {_S3['max_attempts']} attempt(s)" if _S3["max_attempts"] else "the retries"
    return (
        f"could not {operation} {path}: {what} (gave up after {tries}; see storage.max_attempts, "
        "storage.read_timeout_s)"
    )


@contextmanager
def _errors(operation: str, path: str, *, missing: bool = True) -> Iterator[None]:
    """Turn a botocore error escaping an S3 call on ``path`` into :class:`StorageError`, and a
    404 into ``FileNotFoundError`` (unless ``missing`` is false: e.g. a write to no bucket)."""
    from botocore.exceptions import BotoCoreError, ClientError

    try:
        yield
    except ClientError as exc:
        if missing and _not_found(exc):
            raise FileNotFoundError(f"not found: {path}") from exc
        raise StorageError(_failure(operation, path, exc)) from exc
    except BotoCoreError as exc:  # no connection, timeouts, a broken body, no credentials
        raise StorageError(_failure(operation, path, exc)) from exc


def _get_body(bucket: str, key: str) -> bytes:
    """GET an object; a body that stalls or breaks after the headers came is fetched again
    (botocore retries only up to the headers)."""
    from botocore.exceptions import IncompleteReadError, ReadTimeoutError, ResponseStreamingError

    attempts, attempt = _S3["max_attempts"] or 3, 1
    while True:
        response = _client().get_object(Bucket=bucket, Key=key)
        try:
            return response["Body"].read()
        except (ReadTimeoutError, ResponseStreamingError, IncompleteReadError):
            if attempt >= attempts:
                raise
        time.sleep(random.uniform(0, min(20.0, 0.1 * 2**attempt)))
        attempt += 1


# --- bytes ----------------------------------------------------------------------------------


def write_bytes_atomic(data: bytes, path: str) -> str:
    """Write ``data`` to ``path``, replacing any previous content atomically."""
    if is_s3(path):
        bucket, key = _split(path)
        with _errors("write", path, missing=False):
            _client().put_object(Bucket=bucket, Key=key, Body=data)  # one PUT: all or nothing
        return path
    target = _local(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_name(f".{target.name}.{uuid.uuid4().hex}.tmp")
    try:
        with open(tmp, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, target)
    finally:
        if tmp.exists():
            tmp.unlink()
    _drop_stale_temps(target)
    return str(target)


STALE_TEMP_S = 3600.0


def _drop_stale_temps(target: Path) -> None:
    """Remove temp files of ``target`` that a killed writer left (older than an hour: a writer
    still busy with one is never that slow)."""
    cutoff = time.time() - STALE_TEMP_S
    for leftover in target.parent.glob(f".{target.name}.*.tmp"):
        with contextlib.suppress(FileNotFoundError):
            if leftover.stat().st_mtime < cutoff:
                leftover.unlink()


def read_bytes(path: str) -> bytes:
    """The whole content of a file or object."""
    if is_s3(path):
        bucket, key = _split(path)
        with _errors("read", path):
            return _get_body(bucket, key)
    return _local(path).read_bytes()


def size(path: str) -> int:
    """Size in bytes (without reading the content)."""
    if is_s3(path):
        bucket, key = _split(path)
        with _errors("stat", path):
            return int(_client().head_object(Bucket=bucket, Key=key)["ContentLength"])
    return _local(path).stat().st_size


def exists(path: str) -> bool:
    """Whether a file or object exists at ``path``."""
    if is_s3(path):
        try:
            size(path)
        except FileNotFoundError:
            return False
        return True
    return _local(path).is_file()


def is_dir(path: str) -> bool:
    """Whether ``path`` is a directory (local) or a prefix holding objects (S3)."""
    if is_s3(path):
        return bool(list_files(path, limit=1))
    return _local(path).is_dir()


def list_files(directory: str, limit: int | None = None) -> list[str]:
    """Every file under ``directory`` (recursively, hidden names skipped), sorted."""
    if is_s3(directory):
        bucket, prefix = _split(directory.rstrip("/") + "/")
        out: list[str] = []
        with _errors("list", f"s3://{bucket}/{prefix}", missing=False):
            for page in (
                _client().get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix)
            ):
                for obj in page.get("Contents", []):
                    if not obj["Key"].rsplit("/", 1)[-1].startswith("."):
                        out.append(f"s3://{bucket}/{obj['Key']}")
                    if limit and len(out) >= limit:
                        return sorted(out)
        return sorted(out)
    root = _local(directory)
    if not root.is_dir():
        return []
    files = sorted(str(p) for p in root.rglob("*") if p.is_file() and not p.name.startswith("."))
    return files[:limit] if limit else files


def modified_time(path: str) -> datetime:
    """When a file or object was last written (UTC): its mtime, or S3's ``LastModified``."""
    if is_s3(path):
        bucket, key = _split(path)
        with _errors("stat", path):
            return _client().head_object(Bucket=bucket, Key=key)["LastModified"].astimezone(UTC)
    return datetime.fromtimestamp(_local(path).stat().st_mtime, UTC)


def list_modified(directory: str) -> dict[str, datetime]:
    """Every file under ``directory`` (as :func:`list_files` names them) with its
    :func:`modified_time`, from one listing on S3."""
    if not is_s3(directory):
        return {path: modified_time(path) for path in list_files(directory)}
    bucket, prefix = _split(directory.rstrip("/") + "/")
    out: dict[str, datetime] = {}
    with _errors("list", f"s3://{bucket}/{prefix}", missing=False):
        pages = _client().get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix)
        for page in pages:
            for obj in page.get("Contents", []):
                if not obj["Key"].rsplit("/", 1)[-1].startswith("."):
                    out[f"s3://{bucket}/{obj['Key']}"] = obj["LastModified"].astimezone(UTC)
    return dict(sorted(out.items()))


def remove(path: str) -> None:
    """Delete a file or object if present."""
    if is_s3(path):
        bucket, key = _split(path)
        with _errors("delete", path, missing=False):
            _client().delete_object(Bucket=bucket, Key=key)
        return
    p = _local(path)
    if p.is_file():
        p.unlink()


def remove_tree(directory: str) -> None:
    """Delete ``directory`` (or every object under the prefix) if present."""
    if is_s3(directory):
        for path in list_files(directory):
            remove(path)
        return
    root = _local(directory)
    if root.is_dir():
        shutil.rmtree(root)


# --- Parquet --------------------------------------------------------------------------------


def write_table_atomic(table: pa.Table, path: str) -> str:
    """Write ``table`` as one Parquet file at ``path``, replacing any previous one atomically."""
    buf = io.BytesIO()
    pq.write_table(table, buf, compression="zstd")
    return write_bytes_atomic(buf.getvalue(), path)


def _arrow_owned(data: bytes) -> pa.Buffer:
    """``data`` copied into memory Arrow owns, for Parquet to read from.

    Not ``io.BytesIO``: Parquet's decode tasks on Arrow's thread pool can drop the last reference
    to the buffers they read after the read returned, and freeing one that wraps Python bytes
    takes the GIL. A worker that waits for it into interpreter exit is ended by CPython inside a
    C++ destructor: "terminate called without an active exception", exit 134 (issue 13).
    """
    out = pa.BufferOutputStream()
    out.write(data)
    return out.getvalue()


def read_table(
    path: str, contract: TableContract | None = None, columns: Sequence[str] | None = None
) -> pa.Table:
    """Read one partition file; with a contract, check and cast it to the contract schema.

    With ``columns`` only those are read, in that order (a contract then checks just them); one
    missing from the file reads as nulls where the contract lets it be null.
    """
    try:  # one request or stat: a missing file is found by reading it
        if is_s3(path):
            source: Any = pa.BufferReader(_arrow_owned(read_bytes(path)))
        elif _local(path).is_file():
            source = str(_local(path))
        else:
            raise FileNotFoundError(path)
    except FileNotFoundError as exc:
        raise FileNotFoundError(f"partition not found: {path}") from exc
    # ParquetFile, not pq.read_table: a single file needs no dataset discovery (twice as fast)
    with pq.ParquetFile(source) as parquet:
        file_metadata = parquet.schema_arrow.metadata or {}
        if columns is None:
            table = parquet.read()
        else:
            present = set(parquet.schema_arrow.names)
            table = parquet.read(columns=[c for c in columns if c in present])
    if columns is not None:
        if contract is None:
            return table.select([c for c in columns if c in table.column_names])
        contract = replace(contract, schema=pa.schema([contract.schema.field(c) for c in columns]))
    if contract is None:
        return table
    # the contract's schema replaces the file's; keep what the writer noted (e.g. the publish id)
    table = conform(contract, table)
    return table.replace_schema_metadata({**file_metadata, **(table.schema.metadata or {})})
