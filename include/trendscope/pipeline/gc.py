"""Retention: what ``trendscope gc`` removes under the data root, and what it never touches.

In this order:

1. **Interrupted publishes** are finished (:func:`recover_publishes`): a publish that wrote its
   intent and died is rolled forward, and commit copies that no intent names are dropped
   (:func:`trendscope.tables.commit.recover_all`).
2. **Abandoned staging**: the staged files of a location-day (or rollup period) under
   ``staging/<table>/`` and ``staging/analysis/``, when every one of them is older than the
   limit. A day with one fresh file, or whose lease a live run holds, is left whole.
3. **Validation results** older than the limit under ``quality/results/``; each partition keeps
   ``latest.json`` and the run file it names.
4. **Data Docs** runs older than the limit: a run's page and Great Expectations' result of it go
   together, so the index (rebuilt by the next validation) lists only pages that exist.

Never: a published partition (``tables/``), the runs table (``runs/``), a lease (``locks/``),
an intent of a publish whose day a live run holds, Data Docs' index and static files.
"""

from __future__ import annotations

import logging
import re
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any

from trendscope.config import TrendscopeConfig
from trendscope.quality.docs import gx_dir, locked, run_location
from trendscope.quality.gx import DOCS, RESULTS
from trendscope.quality.results import LATEST, results_root
from trendscope.tables import commit, storage
from trendscope.tables.locks import read_lease
from trendscope.tables.paths import join

log = logging.getLogger(__name__)

STAGING = "staging"
COMMIT_COPIES = "commit copies"
RESULTS_KIND = "validation results"
DATA_DOCS = "data docs"
KINDS = (COMMIT_COPIES, STAGING, RESULTS_KIND, DATA_DOCS)
"""The kinds of :class:`Removal`, in the order gc removes them."""

ORPHAN_AGE = timedelta(hours=1)
"""Commit copies without an intent younger than this may be a publish writing them now."""

_AGE = re.compile(r"^\s*(\d+)\s*([dhm])\s*$")
_UNITS = {"d": "days", "h": "hours", "m": "minutes"}
_DAY = re.compile(r"^\d{4}-\d{2}-\d{2}$")


def parse_age(text: str) -> timedelta:
    """``30d``, ``12h`` or ``90m`` as a duration.

    Raises:
        ValueError: Not a whole number of days, hours or minutes, or zero.
    """
    match = _AGE.match(text)
    if not match or int(match.group(1)) == 0:
        raise ValueError(f"not an age like 30d, 12h or 90m: {text!r}")
    return timedelta(**{_UNITS[match.group(2)]: int(match.group(1))})


@dataclass(frozen=True)
class Removal:
    """Files removed (or to remove) together: a staged partition, a run's result, a Data Docs
    run, or the commit copies of a publish that never wrote its intent."""

    kind: str
    path: str  # the folder or file they are in or are
    files: tuple[str, ...]
    bytes: int
    modified: datetime  # the newest file's time

    def to_dict(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "path": self.path,
            "files": len(self.files),
            "bytes": self.bytes,
            "modified": self.modified.isoformat(),
        }


@dataclass(frozen=True)
class Publish:
    """A publish that ``recover`` finished (or would finish), or left because it is live."""

    publish_id: str
    location: str
    key: str
    tables: tuple[str, ...]

    def to_dict(self) -> dict[str, Any]:
        return {**self.__dict__, "tables": list(self.tables)}


@dataclass
class GcReport:
    """What gc removed, or would remove with ``dry_run``."""

    data_root: str
    older_than: timedelta
    cutoff: datetime  # files last written before this are old
    dry_run: bool
    location: str | None = None
    recovered: list[Publish] = field(default_factory=list)
    in_progress: list[Publish] = field(default_factory=list)  # intents of live runs: left
    removed: list[Removal] = field(default_factory=list)

    def totals(self) -> dict[str, dict[str, int]]:
        """Per kind: how many removals, files and bytes."""
        out = {kind: {"count": 0, "files": 0, "bytes": 0} for kind in KINDS}
        for r in self.removed:
            out[r.kind]["count"] += 1
            out[r.kind]["files"] += len(r.files)
            out[r.kind]["bytes"] += r.bytes
        return out

    @property
    def files(self) -> int:
        return sum(len(r.files) for r in self.removed)

    @property
    def bytes(self) -> int:
        return sum(r.bytes for r in self.removed)

    def to_dict(self) -> dict[str, Any]:
        return {
            "data_root": self.data_root,
            "older_than_s": self.older_than.total_seconds(),
            "cutoff": self.cutoff.isoformat(),
            "dry_run": self.dry_run,
            "location": self.location,
            "recovered": [p.to_dict() for p in self.recovered],
            "in_progress": [p.to_dict() for p in self.in_progress],
            "removed": [r.to_dict() for r in self.removed],
            "totals": self.totals(),
            "files": self.files,
            "bytes": self.bytes,
        }


# --- 1. interrupted publishes -----------------------------------------------------------------


def _live(root: str, location: str, key: str, now: datetime) -> bool:
    """Whether a run holds this location-day now (only days have leases; periods do not)."""
    if not _DAY.match(key):
        return False
    lease = read_lease(root, location, date.fromisoformat(key))
    return lease is not None and not lease.expired(now)


def _publish(intent: commit.Intent) -> Publish:
    return Publish(intent.publish_id, intent.location, intent.key, tuple(sorted(intent.files)))


def recover_publishes(
    config: TrendscopeConfig,
    location: str | None = None,
    *,
    dry_run: bool = False,
    now: datetime | None = None,
) -> tuple[list[Publish], list[Publish]]:
    """Finish the publishes interrupted after their intent was written (``trendscope recover``).

    An intent whose day a live run holds belongs to a publish under way: it is left to that run.
    Without ``location`` and with no publish under way, commit copies no intent names (older
    than an hour) are dropped too (:func:`~trendscope.tables.commit.recover_all`).

    Returns:
        The publishes finished (or, with ``dry_run``, to finish), and those left as live.
    """
    storage.use(config.storage)
    if location is not None:
        config.location(location)
    root, now = config.data_root, now or datetime.now(UTC)
    pending = [i for i in commit.pending_intents(root) if location in (None, i.location)]
    live = [i for i in pending if _live(root, i.location, i.key, now)]
    dead = [i for i in pending if i not in live]
    if dry_run:
        return [_publish(i) for i in dead], [_publish(i) for i in live]
    if location is None and not live:
        done = set(commit.recover_all(root, orphan_age_s=ORPHAN_AGE.total_seconds()))
        finished = [i for i in dead if i.publish_id in done]
    else:
        finished = [i for i in dead if commit.recover(root, i.location, i.key) == i.publish_id]
    for i in live:
        log.info(
            "publish %s of %s %s is under way: left to its run", i.publish_id, i.location, i.key
        )
    return [_publish(i) for i in finished], [_publish(i) for i in live]


def _orphan_copies(root: str, named: set[str], now: datetime) -> list[Removal]:
    """Commit copies that no intent names and whose files are all older than an hour: what
    :func:`~trendscope.tables.commit.recover_all` drops (it dates them by their publish id)."""
    commits = join(root, STAGING, "commits")
    groups: dict[str, dict[str, datetime]] = defaultdict(dict)
    for path, when in storage.list_modified(commits).items():
        rel = _relative(path, commits)
        if rel and "/" in rel:
            groups[rel.split("/", 1)[0]][path] = when
    return [
        _removal(COMMIT_COPIES, join(commits, publish_id), files)
        for publish_id, files in sorted(groups.items())
        if publish_id not in named and max(files.values()) < now - ORPHAN_AGE
    ]


# --- 2-4. what is old -------------------------------------------------------------------------


def _relative(path: str, directory: str) -> str | None:
    """``path`` below ``directory`` (as listings name local files: without ``file://``)."""
    for base in {directory, directory.removeprefix("file://")}:
        prefix = base.rstrip("/") + "/"
        if path.startswith(prefix):
            return path[len(prefix) :]
    return None


def _removal(kind: str, path: str, files: dict[str, datetime]) -> Removal:
    sizes = []
    for f in files:
        try:
            sizes.append(storage.size(f))
        except FileNotFoundError:  # removed meanwhile (by a publish of the day)
            sizes.append(0)
    return Removal(kind, path, tuple(sorted(files)), sum(sizes), max(files.values()))


def _staging(root: str, location: str | None, cutoff: datetime, now: datetime) -> Iterable[Removal]:
    """Staged partitions of location-days (and periods) whose every staged file is old."""
    staging = join(root, STAGING)
    days: dict[tuple[str, str], dict[str, dict[str, datetime]]] = defaultdict(dict)
    for path, when in storage.list_modified(staging).items():
        parts = (_relative(path, staging) or "").split("/")
        # <table>/location=<L>/<date=D|period=P>/<file or shard folder>/...
        if len(parts) < 4 or parts[0] == "commits" or not parts[1].startswith("location="):
            continue
        loc, key = parts[1].removeprefix("location="), parts[2].partition("=")[2]
        if not key or location not in (None, loc):
            continue
        folder = join(staging, *parts[:3])
        days[(loc, key)].setdefault(folder, {})[path] = when
    for (loc, key), folders in sorted(days.items()):
        newest = max(w for files in folders.values() for w in files.values())
        if newest >= cutoff or _live(root, loc, key, now):
            continue
        for folder, files in sorted(folders.items()):
            yield _removal(STAGING, folder, files)


def _results(config: TrendscopeConfig, location: str | None, cutoff: datetime) -> list[Removal]:
    """Old per-run summaries; each partition keeps ``latest.json`` and its newest run."""
    base = results_root(config)
    partitions: dict[str, dict[str, datetime]] = defaultdict(dict)
    for path, when in storage.list_modified(base).items():
        folder, _, name = path.rpartition("/")
        parts = (_relative(folder, base) or "").split("/")
        if len(parts) != 3 or location not in (None, parts[1].removeprefix("location=")):
            continue
        if name != LATEST and name.endswith(".json"):
            partitions[folder][path] = when
    out = []
    for _, runs in sorted(partitions.items()):
        newest = max(runs)  # run names sort by time: the one latest.json names
        out += [
            _removal(RESULTS_KIND, path, {path: when})
            for path, when in sorted(runs.items())
            if path != newest and when < cutoff
        ]
    return out


def _data_docs(config: TrendscopeConfig, location: str | None, cutoff: datetime) -> list[Removal]:
    """Old validation runs: each run's page and GX result, removed together."""
    gx_root = gx_dir(config)
    areas = (join(gx_root, RESULTS), join(gx_root, DOCS, "validations"))
    runs: dict[tuple[str, str, str], dict[str, datetime]] = defaultdict(dict)
    for area in areas:
        for path, when in storage.list_modified(area).items():
            parts = (_relative(path, area) or "").split("/")
            # <table>/<run name>/<run time>/<batch>.json|html
            if len(parts) != 4 or location not in (None, run_location(parts[1])):
                continue
            runs[(parts[0], parts[1], parts[2])][path] = when
    return [
        _removal(DATA_DOCS, join(areas[1], *run), files)
        for run, files in sorted(runs.items())
        if max(files.values()) < cutoff
    ]


# --- gc ---------------------------------------------------------------------------------------


def collect_garbage(
    config: TrendscopeConfig,
    older_than: timedelta | None = None,
    *,
    dry_run: bool = False,
    location: str | None = None,
    now: datetime | None = None,
) -> GcReport:
    """Finish interrupted publishes, then remove what is older than ``older_than`` (default:
    ``retention.days``) and no longer needed; with ``dry_run`` only say what would go.

    Args:
        config: The config (its data root, local or ``s3://``).
        older_than: The age limit, against the files' modification times.
        dry_run: Remove nothing; report the same list a real run would remove.
        location: Only this location's publishes, staging, results and Data Docs (commit copies
            no intent names are then left for a gc of every location).
        now: The current time (for tests).
    """
    storage.use(config.storage)
    if location is not None:
        config.location(location)
    now = now or datetime.now(UTC)
    older_than = older_than or timedelta(days=config.retention.days)
    root = config.data_root
    report = GcReport(root, older_than, now - older_than, dry_run, location)

    dead, live = recover_publishes(config, location, dry_run=True, now=now)
    orphans = []
    if location is None and not live:  # when recover_all runs (see recover_publishes)
        orphans = _orphan_copies(root, {p.publish_id for p in dead}, now)
    if dry_run:
        report.recovered, report.in_progress = dead, live
        report.removed += orphans
    else:
        report.recovered, report.in_progress = recover_publishes(config, location, now=now)
        left = storage.list_modified(join(root, STAGING, "commits"))
        report.removed += [o for o in orphans if not any(f in left for f in o.files)]

    old = [
        *_staging(root, location, report.cutoff, now),
        *_results(config, location, report.cutoff),
        *_data_docs(config, location, report.cutoff),
    ]
    if not dry_run:
        old = _remove(config, old, now)
    report.removed += old
    log.info(
        "gc %s: %s %d files, %d bytes older than %s",
        root,
        "would remove" if dry_run else "removed",
        report.files,
        report.bytes,
        older_than,
    )
    return report


def _remove(config: TrendscopeConfig, removals: list[Removal], now: datetime) -> list[Removal]:
    """Remove the files of ``removals``; return those removed (a day a run took meanwhile is
    skipped)."""
    root = config.data_root
    done = []
    for r in removals:
        _guard(root, r)
        if r.kind == STAGING:
            location, key = _staged_day(root, r.path)
            if _live(root, location, key, max(now, datetime.now(UTC))):
                log.info("%s %s was taken by a run meanwhile: its staging stays", location, key)
                continue
        if r.kind == DATA_DOCS:
            continue
        for f in r.files:
            storage.remove(f)
        done.append(r)
    docs = [r for r in removals if r.kind == DATA_DOCS]
    if docs:
        with locked(config):  # a validation's index builder reads the results it lists
            for r in docs:
                for f in r.files:
                    storage.remove(f)
        done += docs
    return done


def _staged_day(root: str, folder: str) -> tuple[str, str]:
    """The location and day (or period) of a staged partition folder."""
    parts = (_relative(folder, join(root, STAGING)) or "").split("/")
    return parts[1].removeprefix("location="), parts[2].partition("=")[2]


def _guard(root: str, removal: Removal) -> None:
    """Refuse, loudly, to remove anything outside the areas gc cleans (a bug, never data)."""
    owned = [join(root, STAGING) + "/", join(root, "quality") + "/"]
    owned += [p.removeprefix("file://") for p in owned]
    commits = join(root, STAGING, "commits") + "/"
    for f in removal.files:
        inside = any(f.startswith(p) for p in owned)
        if not inside or (removal.kind == STAGING and commits in f):
            raise RuntimeError(f"gc refuses to remove {f}: not abandoned staging or quality output")
