"""Publishing several partitions of one location-day so that readers see all of them or none.

Each partition file is replaced atomically on its own (a rename locally, one PUT on S3), but a
day's ``images`` and ``detections`` are two files. The protocol, in order:

1. **Commit copies.** Each new partition is written, tagged with the publish id in its Parquet
   metadata (``trendscope.publish_id``), under ``staging/commits/<publish id>/`` (immutable:
   nothing else writes there).
2. **Intent.** ``commits/location=<slug>/<date=...>.json`` names the publish id and those files
   (one atomic write). From here on the new version is decided.
3. **Replace.** Each published partition is replaced by its commit copy.
4. **Done.** The intent is removed, then the commit copies.

A crash before 2 leaves the old version whole; after 2, the intent rolls the day forward: the
next publish of the day (or ``trendscope recover``) finishes step 3 from the commit copies.
Readers read a day's partitions and compare their publish ids; when they differ (a publish is
under way, or one crashed) they read the copies the intent names, which are the new version
whole. So a reader sees the old day or the new day, never half of each.
"""

from __future__ import annotations

import json
import logging
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime

import pyarrow as pa

from trendscope.tables import storage
from trendscope.tables.paths import join, key_part, keyed_partition_path
from trendscope.tables.schemas import TableContract

log = logging.getLogger(__name__)

PUBLISH_ID = b"trendscope.publish_id"
COMMITS_AREA = "commits"


class InconsistentDayError(RuntimeError):
    """A day's partitions come from different publishes and no intent says which is current."""


@dataclass(frozen=True)
class Intent:
    """A publish in progress (or interrupted): its id and the commit copy of each table."""

    publish_id: str
    location: str
    key: str
    files: dict[str, str]  # table name -> commit copy
    created_at: str

    def to_json(self) -> bytes:
        return json.dumps(self.__dict__, sort_keys=True).encode()


def intent_path(root: str, location: str, key: date | str) -> str:
    """Where the intent of a location-day (or period) publish lives while it is in flight."""
    return join(root, COMMITS_AREA, f"location={location}", f"{key_part(key)}.json")


def commit_copy_path(root: str, publish_id: str, table: str, location: str, key: date | str) -> str:
    """The immutable copy of one partition that a publish makes before it replaces anything."""
    return keyed_partition_path(join(root, "staging", "commits", publish_id), table, location, key)


def new_publish_id() -> str:
    """Sortable and unique: the UTC time and a random suffix."""
    return f"{datetime.now(UTC):%Y%m%dT%H%M%S%fZ}-{uuid.uuid4().hex[:8]}"


def tagged(table: pa.Table, publish_id: str) -> pa.Table:
    """``table`` with the publish id in its schema metadata (it travels into the Parquet file)."""
    return table.replace_schema_metadata({**(table.schema.metadata or {}), PUBLISH_ID: publish_id})


def publish_id_of(table: pa.Table) -> str | None:
    """The publish id a partition was written with (None: written before this protocol)."""
    value = (table.schema.metadata or {}).get(PUBLISH_ID)
    return value.decode() if value is not None else None


def read_intent(root: str, location: str, key: date | str) -> Intent | None:
    """The intent of a publish of this location-day that has not finished, if any."""
    try:
        data = json.loads(storage.read_bytes(intent_path(root, location, key)))
    except FileNotFoundError:
        return None
    return Intent(**data)


def _key_text(key: date | str) -> str:
    return key.isoformat() if isinstance(key, date) else key


def publish_together(
    root: str, location: str, key: date | str, tables: Sequence[tuple[TableContract, pa.Table]]
) -> str:
    """Replace the partitions of ``tables`` for one location-day so they change together.

    An interrupted earlier publish of the same day is finished first (see :func:`recover`).

    Returns:
        The publish id written into every partition.
    """
    recover(root, location, key)
    publish_id = new_publish_id()
    files = {}
    for contract, table in tables:
        copy = commit_copy_path(root, publish_id, contract.name, location, key)
        storage.write_table_atomic(tagged(table, publish_id), copy)
        files[contract.name] = copy
    intent = Intent(
        publish_id=publish_id,
        location=location,
        key=_key_text(key),
        files=files,
        created_at=datetime.now(UTC).isoformat(),
    )
    storage.write_bytes_atomic(intent.to_json(), intent_path(root, location, key))
    _roll_forward(root, intent)
    return publish_id


def _roll_forward(root: str, intent: Intent) -> None:
    """Steps 3 and 4: put every commit copy in place, then forget the intent and the copies."""
    for table, copy in sorted(intent.files.items()):
        target = keyed_partition_path(root, table, intent.location, intent.key)
        storage.write_bytes_atomic(storage.read_bytes(copy), target)
    storage.remove(intent_path(root, intent.location, intent.key))
    storage.remove_tree(join(root, "staging", "commits", intent.publish_id))


def recover(root: str, location: str, key: date | str) -> str | None:
    """Finish a publish of this location-day that was interrupted after its intent was written.

    Returns:
        The publish id rolled forward, or None when nothing was pending.
    """
    intent = read_intent(root, location, key)
    if intent is None:
        return None
    missing = [f for f in intent.files.values() if not storage.exists(f)]
    if missing:  # only possible if someone deleted staging by hand: the old version stays
        log.error("publish %s of %s %s cannot be finished: %s missing; dropping its intent",
                  intent.publish_id, location, intent.key, missing)  # fmt: skip
        storage.remove(intent_path(root, location, key))
        return None
    log.warning("finishing the interrupted publish %s of %s %s", intent.publish_id, location, key)
    _roll_forward(root, intent)
    return intent.publish_id


def pending_intents(root: str) -> list[Intent]:
    """Every publish that has not finished (for ``trendscope recover`` and ``status``)."""
    out = []
    for path in storage.list_files(join(root, COMMITS_AREA)):
        if path.endswith(".json"):
            try:
                out.append(Intent(**json.loads(storage.read_bytes(path))))
            except FileNotFoundError:  # finished while we listed
                continue
    return out


def _read_part(
    root: str,
    location: str,
    key: date | str,
    contract: TableContract,
    columns: Sequence[str] | None,
    optional: Sequence[str],
) -> pa.Table | None:
    try:
        return storage.read_table(
            keyed_partition_path(root, contract.name, location, key), contract, columns
        )
    except FileNotFoundError:
        if contract.name in optional:
            return None
        raise


def read_together(
    root: str,
    location: str,
    key: date | str,
    specs: Sequence[tuple[TableContract, Sequence[str] | None]],
    *,
    attempts: int = 5,
    optional: Sequence[str] = (),
) -> list[pa.Table | None]:
    """Read the partitions of one location-day as one version (all from the same publish).

    Tables named in ``optional`` (added to the day's publish later, e.g. ``colors``) read as
    ``None`` when a day published before them lacks the partition; one request either way.

    Raises:
        FileNotFoundError: A partition is not published (and no publish is under way).
        InconsistentDayError: The partitions disagree and no intent explains it.
    """
    for attempt in range(attempts):
        try:
            tables = [_read_part(root, location, key, c, cols, optional) for c, cols in specs]
        except FileNotFoundError:
            tables = None
        if tables is not None and len({publish_id_of(t) for t in tables if t is not None}) == 1:
            return tables
        intent = read_intent(root, location, key)
        if intent is not None and all(
            c.name in intent.files or c.name in optional for c, _ in specs
        ):
            try:
                return [
                    storage.read_table(intent.files[c.name], c, cols)
                    if c.name in intent.files
                    else None
                    for c, cols in specs
                ]
            except FileNotFoundError:
                pass  # the publish finished and removed its copies meanwhile: read again
        elif tables is None:
            raise FileNotFoundError(f"{location} {_key_text(key)} is not published")
        time.sleep(0.05 * (attempt + 1))
    raise InconsistentDayError(
        f"{location} {_key_text(key)}: the partitions of "
        f"{', '.join(c.name for c, _ in specs)} come from different publishes and no publish is "
        "pending; re-run the day"
    )


def recover_all(root: str, *, orphan_age_s: float = 3600.0) -> list[str]:
    """Finish every interrupted publish under ``root``; drop commit copies no intent names.

    A copy without an intent is from a publish that died before step 2 (the old version stands);
    only copies older than ``orphan_age_s`` are removed, so a publish writing its copies now is
    left alone.

    Returns:
        The publish ids rolled forward.
    """
    done = [pid for i in pending_intents(root) if (pid := recover(root, i.location, i.key))]
    named = {i.publish_id for i in pending_intents(root)}
    cutoff = datetime.now(UTC).timestamp() - orphan_age_s
    commits = join(root, "staging", "commits")
    for publish_id in sorted(
        {p[len(commits) + 1 :].split("/", 1)[0] for p in storage.list_files(commits)}
    ):
        try:
            started = datetime.strptime(publish_id.split("-", 1)[0], "%Y%m%dT%H%M%S%fZ")
        except ValueError:
            continue
        if publish_id not in named and started.replace(tzinfo=UTC).timestamp() < cutoff:
            log.info(
                "removing the commit copies of publish %s (it never wrote its intent)", publish_id
            )
            storage.remove_tree(join(commits, publish_id))
    return done
