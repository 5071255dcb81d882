"""Where Great Expectations' stores live for a data root, who may write them, and the Data Docs
link a report carries.

* Local data root: ``<data>/quality/gx/`` holds GX's validation results and the Data Docs site
  (``docs/index.html`` lists the latest runs; every run keeps its page). It is shared by every
  task writing to the data root; parallel tasks (the mapped publish tasks of several locations)
  take turns on it under a lock, so the index is never written by two at once.
* S3 data root: each validation uses a temporary local directory, then uploads its run's page
  and result under ``<data>/quality/gx/`` (no index: it would list only this run).

A run's page is ``docs/validations/<table>/<run name>/<run time>/...``, with the run name of
:func:`run_name`.
"""

from __future__ import annotations

import fcntl
import re
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from trendscope.config import TrendscopeConfig
from trendscope.quality.gx import DOCS
from trendscope.quality.results import quality_dir
from trendscope.tables import storage
from trendscope.tables.paths import join

_RUN_NAME = re.compile(r"^(?P<location>.+)_(?P<key>\d{4}-(?:\d{2}-\d{2}|W\d{2}|\d{2}))_[a-z]+$")


def gx_dir(config: TrendscopeConfig) -> str:
    """``<data>/quality/gx``: GX's validation results (``results/``) and Data Docs (``docs/``)."""
    return join(quality_dir(config), "gx")


def run_name(location: str, key: str, area: str) -> str:
    """The GX run name of a partition's validation: ``<location>_<day or period>_<area>``."""
    return f"{location}_{key}_{area}"


def run_location(name: str) -> str | None:
    """The location of a :func:`run_name` (``None`` when it is not one)."""
    match = _RUN_NAME.match(name)
    return match.group("location") if match else None


@contextmanager
def locked(config: TrendscopeConfig) -> Iterator[None]:
    """Hold the shared local store's lock (nothing to hold on S3: no validation shares one)."""
    root = gx_dir(config)
    if storage.is_s3(root):
        yield
        return
    gx_path = Path(root)
    gx_path.mkdir(parents=True, exist_ok=True)
    with open(gx_path / ".lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


@contextmanager
def store_dir(config: TrendscopeConfig) -> Iterator[str]:
    """A local directory for GX's stores: the shared one, held, or a temporary one for S3 data
    roots whose new pages and results are uploaded when the block ends."""
    root = gx_dir(config)
    if not storage.is_s3(root):
        with locked(config):
            yield str(Path(root))
        return
    with tempfile.TemporaryDirectory(prefix="trendscope-gx-") as tmp:
        yield tmp
        for path in Path(tmp).rglob("*"):
            # each run's page and result; no index (it would list only this run)
            if path.is_file() and "static" not in path.parts and path.name != "index.html":
                rel = path.relative_to(tmp).as_posix()
                storage.write_bytes_atomic(path.read_bytes(), join(root, rel))


def docs_link(config: TrendscopeConfig) -> str:
    """Where a run's Data Docs are: the browsable index locally, the uploaded pages on S3."""
    docs = join(gx_dir(config), DOCS)
    return join(docs, "validations") if storage.is_s3(docs) else f"file://{docs}/index.html"
