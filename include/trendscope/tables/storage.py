"""Read and atomically replace partition files.

A partition is one Parquet file. It is written aside and renamed into place (local disk), so a
reader sees the old file or the new one, never half of one. Object stores (later) get the same
guarantee from a single PUT.
"""

from __future__ import annotations

import io
import os
import uuid
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from trendscope.tables.schemas import TableContract, conform


def _is_remote(path: str) -> bool:
    return "://" in path and not path.startswith("file://")


def _local(path: str) -> Path:
    return Path(path[len("file://") :] if path.startswith("file://") else path)


def write_table_atomic(table: pa.Table, path: str) -> str:
    """Write ``table`` as Parquet to ``path``, replacing any previous file atomically."""
    if _is_remote(path):
        raise NotImplementedError(f"object-store paths are not supported yet: {path}")
    target = _local(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_name(f".{target.name}.{uuid.uuid4().hex}.tmp")
    buf = io.BytesIO()
    pq.write_table(table, buf, compression="zstd")
    try:
        with open(tmp, "wb") as fh:
            fh.write(buf.getvalue())
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, target)
    finally:
        if tmp.exists():
            tmp.unlink()
    return str(target)


def exists(path: str) -> bool:
    return _local(path).is_file()


def read_table(path: str, contract: TableContract | None = None) -> pa.Table:
    """Read one partition file; with a contract, check and cast it to the contract schema."""
    if not exists(path):
        raise FileNotFoundError(f"partition not found: {path}")
    table = pq.read_table(str(_local(path)))
    return conform(contract, table) if contract is not None else table


def remove(path: str) -> None:
    """Delete a file if present (used to clear staged partitions after publishing)."""
    p = _local(path)
    if p.is_file():
        p.unlink()


def list_files(directory: str) -> list[str]:
    """Every file under ``directory`` (recursively), sorted; empty when it does not exist."""
    root = _local(directory)
    if not root.is_dir():
        return []
    return sorted(str(p) for p in root.rglob("*") if p.is_file() and not p.name.startswith("."))


def remove_tree(directory: str) -> None:
    """Delete ``directory`` and everything under it, if present."""
    import shutil

    root = _local(directory)
    if root.is_dir():
        shutil.rmtree(root)
