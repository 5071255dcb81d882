"""Leases that keep two runs of the same location-day apart, on a local root and on S3.

A manual trigger during a backfill, or two schedulers after a failover, may start the same
location-day twice. Its steps (ingest, analyze shards, publish, trends) run as separate tasks or
pods of one run, so the lock belongs to the run, not to a process: a lease object
``<data_root>/locks/location=L/date=D.json`` names its owner (the Airflow run id), since when it
holds the day and when the lease expires, and the steps of the run running now (host, pid).

* Every change is a compare-and-swap: a new lease is created only where none exists (S3: a PUT
  with ``If-None-Match: *``; local: ``O_CREAT | O_EXCL``), an existing one is replaced only if
  it is still the version that was read (S3: ``If-Match`` on its ETag; local: the same bytes,
  checked and replaced under an ``flock`` the kernel drops when a process dies).
* The same owner re-enters: each step of a run renews the lease for another ``ttl`` and adds
  itself to the running steps; it takes itself off when it ends, noting a failure.
* Another owner waits up to ``wait_s``, then fails naming the holder and how to break the lease.
* It takes the lease over at once when the holder cannot be running the day any more: the lease
  expired; or the holder's run failed and none of its steps runs now (so fixing the cause and
  re-running the day is never blocked by the failed run); or, for a run without a run id (a CLI
  run, whose lease dies with its process), that process is gone from this host. A step of the
  run that comes back later (an Airflow retry) then finds the new holder and waits or fails.
* The owner releases it after the day's last step; ``trendscope unlock`` breaks it by hand.

A step killed outright (SIGKILL, a lost pod) stays listed as running until the lease expires,
unless its process is seen gone on this host. Expiry compares wall clocks of different hosts:
keep the TTL far above any clock skew, and above the longest step (a step renews the lease only
when it starts).
"""

from __future__ import annotations

import fcntl
import json
import logging
import os
import socket
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field, replace
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any, Protocol

from trendscope.tables import storage
from trendscope.tables.paths import join

log = logging.getLogger(__name__)

LOCKS_AREA = "locks"
"""Beside ``tables/``, ``staging/`` and ``runs/``: one lease object per location-day."""

_TIMES = ("acquired_at", "renewed_at", "expires_at")


def lock_path(root: str, location: str, day: date) -> str:
    """The lease of a location-day: ``<root>/locks/location=<L>/date=<YYYY-MM-DD>.json``."""
    return join(root, LOCKS_AREA, f"location={location}", f"date={day.isoformat()}.json")


def new_owner() -> str:
    """An owner id for a run that has no Airflow run id (a CLI run): one per run."""
    return f"cli-{uuid.uuid4().hex[:12]}"


def _now() -> datetime:
    return datetime.now(UTC)


def _gone(host: str, pid: int) -> bool:
    """Whether process ``pid`` of ``host`` is known to be gone (only this host can tell)."""
    if host != socket.gethostname():
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    except PermissionError:  # another user's process
        return False
    return False


def _iso(when: datetime) -> str:
    return when.astimezone(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


def _time(text: str) -> datetime:
    return datetime.fromisoformat(text).astimezone(UTC)


@dataclass(frozen=True)
class Running:
    """A step of the holding run that is running now."""

    id: str
    step: str
    host: str
    pid: int
    since: datetime

    def describe(self) -> str:
        return f"{self.step} on host {self.host}, pid {self.pid}, since {_iso(self.since)}"


@dataclass(frozen=True)
class Lease:
    """Who holds a location-day, until when, and which of its steps run now."""

    owner: str
    host: str  # of the step that last took or renewed it
    pid: int
    step: str
    acquired_at: datetime
    renewed_at: datetime
    expires_at: datetime
    scope: str = "run"  # "process": nothing outlives the process ``pid`` on ``host``
    running: tuple[Running, ...] = ()
    failed: tuple[str, ...] = ()  # steps of the run that failed (and were not run again since)

    def to_bytes(self) -> bytes:
        data: dict[str, Any] = asdict(self)
        for key in _TIMES:
            data[key] = _iso(data[key])
        data["running"] = [r | {"since": _iso(r["since"])} for r in data["running"]]
        return (json.dumps(data, indent=1) + "\n").encode("utf-8")

    @classmethod
    def from_bytes(cls, data: bytes) -> Lease:
        """Parse a lease; ``ValueError`` when it is not one."""
        try:
            raw = json.loads(data)
            running = tuple(
                Running(
                    str(r["id"]), str(r["step"]), str(r["host"]), int(r["pid"]), _time(r["since"])
                )
                for r in raw.get("running", [])
            )
            return cls(
                owner=str(raw["owner"]),
                host=str(raw["host"]),
                pid=int(raw["pid"]),
                step=str(raw.get("step", "")),
                scope=str(raw.get("scope", "run")),
                running=running,
                failed=tuple(str(step) for step in raw.get("failed", [])),
                **{key: _time(raw[key]) for key in _TIMES},
            )
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            raise ValueError(f"not a lease: {data[:200]!r}") from exc

    def live(self) -> tuple[Running, ...]:
        """The running steps, less those whose process is seen gone from this host."""
        return tuple(r for r in self.running if not _gone(r.host, r.pid))

    def expired(self, now: datetime | None = None) -> bool:
        return self.expires_at <= (now or _now())

    def active(self, now: datetime | None = None) -> bool:
        """Whether its run still holds the day: no other run may take it over now."""
        return not self.takeover(now)

    def takeover(self, now: datetime | None = None) -> str:
        """Why another run may take this lease over now; ``""`` when it may not."""
        if self.expired(now):
            return "expired"
        if self.scope == "process" and _gone(self.host, self.pid):
            return "abandoned"
        if self.failed and not self.live():
            return f"its {', '.join(self.failed)} failed and nothing of it runs"
        return ""

    def describe(self) -> str:
        running = self.live()
        if running:
            doing = "running " + "; ".join(r.describe() for r in running)
        else:
            doing = f"last step {self.step} on host {self.host}, pid {self.pid}"
            doing += f"; failed: {', '.join(self.failed)}" if self.failed else ""
        return (
            f"run {self.owner!r} ({doing}) since {_iso(self.acquired_at)}, "
            f"lease expires {_iso(self.expires_at)}"
        )


class DayLockedError(RuntimeError):
    """Another run holds the location-day; the message names it and how to break its lease."""

    def __init__(self, message: str, holder: Lease) -> None:
        super().__init__(message)
        self.holder = holder


# --- where the lease lives: compare-and-swap on one object -----------------------------------


class _Store(Protocol):
    def read(self) -> tuple[bytes | None, Any]:
        """The lease's bytes and a version token (``None, None`` when there is none)."""

    def create(self, data: bytes) -> bool:
        """Write the lease if none exists; ``False`` when one does."""

    def replace(self, data: bytes, token: Any) -> bool:
        """Replace the lease if it is still version ``token``; ``False`` when it changed."""

    def delete(self, token: Any) -> bool:
        """Delete the lease if it is still version ``token``; ``False`` when it changed."""


class _LocalStore:
    """A lease file; every change is checked and made under an ``flock`` of a hidden guard file
    beside it (held for milliseconds; the kernel drops it when its process dies)."""

    def __init__(self, path: str) -> None:
        self.path = Path(path[len("file://") :] if path.startswith("file://") else path)
        self.guard = self.path.with_name(f".{self.path.name}.guard")

    @contextmanager
    def _guarded(self, mode: int = fcntl.LOCK_EX) -> Iterator[None]:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.guard, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, mode)
            yield
        finally:
            os.close(fd)  # drops the flock

    def _read(self) -> bytes | None:
        try:
            return self.path.read_bytes()
        except FileNotFoundError:
            return None

    def read(self) -> tuple[bytes | None, Any]:
        if not self.path.parent.is_dir():
            return None, None
        try:
            with self._guarded(fcntl.LOCK_SH):  # never a lease half written
                data = self._read()
        except PermissionError:  # a read-only data root: nobody writes a lease there either
            data = self._read()
        return data, data

    def create(self, data: bytes) -> bool:
        with self._guarded():
            try:
                fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
            except FileExistsError:
                return False
            with os.fdopen(fd, "wb") as fh:
                fh.write(data)
                fh.flush()
                os.fsync(fh.fileno())
            return True

    def replace(self, data: bytes, token: Any) -> bool:
        with self._guarded():
            if self._read() != token:
                return False
            storage.write_bytes_atomic(data, str(self.path))
            return True

    def delete(self, token: Any) -> bool:
        with self._guarded():
            if self._read() != token:
                return False
            self.path.unlink()
            return True


def _lost_race(exc: Exception) -> bool:
    """A conditional request refused because the object changed (412), a concurrent
    conditional write won (409), or it was deleted meanwhile (404)."""
    status = getattr(exc, "response", {}).get("ResponseMetadata", {}).get("HTTPStatusCode")
    return status in (409, 412) or storage._not_found(exc)


class _S3Store:
    """A lease object; S3 conditional requests (``If-None-Match``/``If-Match``) are the CAS."""

    def __init__(self, path: str) -> None:
        self.path = path
        self.bucket, self.key = storage._split(path)

    def read(self) -> tuple[bytes | None, Any]:
        try:
            with storage._errors("read the lease", self.path):
                response = storage._client().get_object(Bucket=self.bucket, Key=self.key)
                return response["Body"].read(), response["ETag"]
        except FileNotFoundError:
            return None, None

    def _put(self, data: bytes, **condition: str) -> bool:
        from botocore.exceptions import ClientError

        with storage._errors("write the lease", self.path, missing=False):
            try:
                storage._client().put_object(
                    Bucket=self.bucket,
                    Key=self.key,
                    Body=data,
                    ContentType="application/json",
                    **condition,
                )
            except ClientError as exc:
                if _lost_race(exc):
                    return False
                raise
        return True

    def create(self, data: bytes) -> bool:
        return self._put(data, IfNoneMatch="*")

    def replace(self, data: bytes, token: Any) -> bool:
        return self._put(data, IfMatch=token)

    def delete(self, token: Any) -> bool:
        from botocore.exceptions import ClientError

        with storage._errors("delete the lease", self.path, missing=False):
            try:
                storage._client().delete_object(Bucket=self.bucket, Key=self.key, IfMatch=token)
            except ClientError as exc:
                if _lost_race(exc):
                    return False
                raise
        return True


def _store(path: str) -> _Store:
    return _S3Store(path) if storage.is_s3(path) else _LocalStore(path)


def _parse(data: bytes | None, path: str) -> Lease | None:
    if data is None:
        return None
    try:
        return Lease.from_bytes(data)
    except ValueError:  # a writer killed mid-write (local) or a hand edit: as good as expired
        log.warning("unreadable lease %s: treated as expired", path)
        epoch = datetime.fromtimestamp(0, UTC)
        return Lease("?", "?", 0, "", epoch, epoch, epoch)


# --- the lock ---------------------------------------------------------------------------------


@dataclass
class DayLock:
    """The lease of one location-day for one owner (a run), as one of its steps uses it.

    Args:
        root: The data root.
        location: Location slug.
        day: The day.
        owner: The run id (every step of one run passes the same).
        ttl: How long a lease lasts after each :meth:`acquire`.
        wait_s: How long :meth:`acquire` waits for another owner's lease.
        poll_s: How often it looks again meanwhile.
        process: The owner lives in this process only (a run without a run id): a lease left
            by a killed process is taken over at once on the same host.
    """

    root: str
    location: str
    day: date
    owner: str
    ttl: timedelta
    wait_s: float
    poll_s: float = 2.0
    process: bool = False
    held: bool = field(default=False, init=False)  # taken through this object, not released
    _running: Running | None = field(default=None, init=False)  # this step's entry

    def __post_init__(self) -> None:
        self.path = lock_path(self.root, self.location, self.day)
        self._store = _store(self.path)

    def holder(self) -> Lease | None:
        """The current lease, whoever holds it (expired or not); ``None`` when free."""
        return _parse(self._store.read()[0], self.path)

    def acquire(self, step: str = "") -> Lease:
        """Take the lease for ``step``, renew it when this owner holds it, or take it over
        (see the module docstring for when).

        Raises:
            DayLockedError: Another owner's lease did not end within ``wait_s``.
        """
        deadline = time.monotonic() + self.wait_s
        waited, races = False, 0
        my_id = uuid.uuid4().hex[:12]  # one entry, even when a write landed but its answer did not
        while races < 1000:  # every lost race means another writer made progress
            data, token = self._store.read()
            current = _parse(data, self.path)
            now = _now()
            me = Running(my_id, step, socket.gethostname(), os.getpid(), now)
            lease = Lease(
                owner=self.owner,
                host=me.host,
                pid=me.pid,
                step=step,
                acquired_at=now,
                renewed_at=now,
                expires_at=now + self.ttl,
                scope="process" if self.process else "run",
                running=(me,),
            )
            if current is None:
                if self._store.create(lease.to_bytes()):
                    return self._took(lease, me)
            elif current.owner == self.owner:  # a step of this run: renew, and run with the rest
                lease = replace(
                    lease,
                    acquired_at=current.acquired_at,
                    running=(*(r for r in current.live() if r.id != my_id), me),
                    failed=tuple(f for f in current.failed if f != step),  # a retry of it
                )
                if self._store.replace(lease.to_bytes(), token):
                    return self._took(lease, me)
            elif why := current.takeover(now):
                if self._store.replace(lease.to_bytes(), token):
                    log.warning(
                        "took over the lease of %s %s (%s) from %s",
                        self.location,
                        self.day,
                        why,
                        current.describe(),
                    )
                    return self._took(lease, me)
            else:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise DayLockedError(self._locked_message(current), current)
                if not waited:
                    log.info(
                        "%s %s is held by %s; waiting up to %.0f s",
                        self.location,
                        self.day,
                        current.describe(),
                        self.wait_s,
                    )
                    waited = True
                time.sleep(min(self.poll_s, remaining))
                continue
            races += 1
        raise RuntimeError(f"could not take the lease {self.path}: it keeps changing")

    def _took(self, lease: Lease, me: Running) -> Lease:
        self.held, self._running = True, me
        return lease

    def finish(self, failed: bool = False) -> bool:
        """The step that took the lease ended: take it off the running steps (noting a failure,
        which lets another run take the day over once nothing of this run runs)."""
        if not self.held or self._running is None:
            return False
        me = self._running

        def update(current: Lease) -> Lease:
            others = tuple(f for f in current.failed if f != me.step)
            return replace(
                current,
                running=tuple(r for r in current.live() if r.id != me.id),
                failed=(*others, me.step) if failed else others,
            )

        return self._update(update)

    def release(self) -> bool:
        """Delete the lease taken by :meth:`acquire` if this owner still holds it; ``False``
        when it was not taken here or another owner has it now."""
        if not self.held:
            return False
        self.held = False
        return self._update(None)

    def _update(self, change: Callable[[Lease], Lease] | None) -> bool:
        """Apply ``change`` to this owner's lease (``None``: delete it) by compare-and-swap."""
        for _ in range(1000):
            data, token = self._store.read()
            current = _parse(data, self.path)
            if current is None:
                return False
            if current.owner != self.owner:
                log.warning(
                    "the lease of %s %s is no longer %r's: %s took it over (did a step outlast "
                    "locks.ttl_minutes?)",
                    self.location,
                    self.day,
                    self.owner,
                    current.describe(),
                )
                return False
            if change is None:
                done = self._store.delete(token)
            else:
                done = self._store.replace(change(current).to_bytes(), token)
            if done:
                return True
        return False

    def __enter__(self) -> DayLock:
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()

    def _locked_message(self, holder: Lease) -> str:
        return (
            f"{self.location} {self.day} is being processed by another run: "
            f"{holder.describe()}. Waited {self.wait_s:g} s (locks.wait_s). If that run is "
            f"alive, let it finish; if it died, its lease ends at {_iso(holder.expires_at)}, or "
            f"break it now with: trendscope unlock --location {self.location} --date "
            f"{self.day} (removes {self.path})"
        )


def read_lease(root: str, location: str, day: date) -> Lease | None:
    """Who holds a location-day (expired or not); ``None`` when nobody does."""
    path = lock_path(root, location, day)
    return _parse(_store(path).read()[0], path)


def break_lease(root: str, location: str, day: date, owner: str | None = None) -> Lease | None:
    """Remove a location-day's lease (only if ``owner`` holds it, when given: e.g. a DAG run's
    failure callback ending its run's hold); return the removed lease."""
    path = lock_path(root, location, day)
    store = _store(path)
    for _ in range(100):
        data, token = store.read()
        if data is None:
            return None
        lease = _parse(data, path)
        if owner is not None and lease is not None and lease.owner != owner:
            return None
        if store.delete(token):
            return lease
    raise RuntimeError(f"could not remove the lease {path}: it keeps changing")
