"""The location-day lease on a local root and on S3 (a real S3 API server on localhost)."""

from __future__ import annotations

import logging
import threading
import time
from datetime import UTC, datetime, timedelta

import pytest

from pipeline_days import DAY1
from s3_faults import lake_behind_proxy
from trendscope.tables import locks, storage
from trendscope.tables.locks import DayLock, DayLockedError, Lease

TTL = timedelta(minutes=30)


def test_lock_path_is_exact() -> None:
    assert locks.lock_path("s3://lake/ts", "shibuya", DAY1) == (
        "s3://lake/ts/locks/location=shibuya/date=2026-11-02.json"
    )


@pytest.fixture(scope="module")
def s3_proxy():
    """moto behind a fault proxy (no faults unless a test asks), with the bucket ``lake``."""
    with lake_behind_proxy() as proxy:
        yield proxy


@pytest.fixture(params=["local", "s3"])
def root(request, tmp_path) -> str:
    """A data root on local disk, or on S3 behind the proxy."""
    if request.param == "local":
        storage.configure(None, None)
        return str(tmp_path / "data")
    proxy = request.getfixturevalue("s3_proxy")
    proxy.reset()
    storage.configure(proxy.url, "us-east-1", max_attempts=3, read_timeout_s=1.0)
    return f"s3://lake/{tmp_path.name}"


def lock(root: str, owner: str, wait_s: float = 0.0, ttl: timedelta = TTL) -> DayLock:
    return DayLock(root, "shibuya", DAY1, owner, ttl=ttl, wait_s=wait_s, poll_s=0.05)


def plant(root: str, owner: str, expires_in: timedelta) -> Lease:
    """A lease another run left behind (written directly, as that run would have)."""
    now = datetime.now(UTC).replace(microsecond=0)
    lease = Lease(owner, "other-host", 4242, "analyze 0/2", now - TTL, now - TTL, now + expires_in)
    storage.write_bytes_atomic(lease.to_bytes(), locks.lock_path(root, "shibuya", DAY1))
    return lease


def test_a_lease_names_its_owner_host_and_times(root) -> None:
    before = datetime.now(UTC).replace(microsecond=0)
    taken = lock(root, "manual__1").acquire("ingest")

    held = locks.read_lease(root, "shibuya", DAY1)
    assert (held.owner, held.step, held.pid) == ("manual__1", "ingest", taken.pid)
    assert held.host == taken.host and held.host
    assert before <= held.acquired_at <= datetime.now(UTC)
    assert held.expires_at - held.renewed_at == TTL


def test_the_same_owner_re_enters_and_renews(root) -> None:
    first = lock(root, "run-a").acquire("ingest")
    time.sleep(1.1)
    again = lock(root, "run-a").acquire("publish")  # another step (process) of the same run

    held = locks.read_lease(root, "shibuya", DAY1)
    assert held.step == "publish" and held.owner == "run-a"
    assert held.acquired_at == first.acquired_at.replace(microsecond=0)  # held since the first
    assert held.expires_at > first.expires_at.replace(microsecond=0)  # renewed
    assert again.acquired_at == held.acquired_at


def test_another_owner_fails_naming_the_holder_and_how_to_break_it(root) -> None:
    lock(root, "scheduled__2026-11-02").acquire("analyze 1/4")

    with pytest.raises(DayLockedError) as refused:
        lock(root, "manual__2026-11-05", wait_s=0.3).acquire("ingest")
    message = str(refused.value)
    holder = refused.value.holder
    assert holder.owner == "scheduled__2026-11-02"
    for part in (
        "shibuya 2026-11-02 is being processed by another run",
        f"run 'scheduled__2026-11-02' (running analyze 1/4 on host {holder.host}, ",
        f"pid {holder.pid}",
        f"since {holder.acquired_at.isoformat().replace('+00:00', 'Z')}",
        f"lease expires {holder.expires_at.isoformat().replace('+00:00', 'Z')}",
        "Waited 0.3 s (locks.wait_s)",
        "trendscope unlock --location shibuya --date 2026-11-02",
        locks.lock_path(root, "shibuya", DAY1),
    ):
        assert part in message
    assert locks.read_lease(root, "shibuya", DAY1).owner == "scheduled__2026-11-02"  # untouched


def test_another_owner_waits_for_the_release(root) -> None:
    holder = lock(root, "run-a")
    holder.acquire("trends")
    releaser = threading.Timer(0.5, holder.release)
    releaser.start()

    started = time.monotonic()
    taken = lock(root, "run-b", wait_s=10).acquire("ingest")
    assert 0.4 < time.monotonic() - started < 5
    assert taken.owner == locks.read_lease(root, "shibuya", DAY1).owner == "run-b"
    releaser.join()


def test_an_expired_lease_is_taken_over(root, caplog) -> None:
    plant(root, "scheduled__dead", expires_in=-timedelta(seconds=1))

    with caplog.at_level(logging.WARNING, logger="trendscope.tables.locks"):
        lock(root, "manual__new").acquire("ingest")
    assert locks.read_lease(root, "shibuya", DAY1).owner == "manual__new"
    assert "took over the lease of shibuya 2026-11-02 (expired) from run 'scheduled__dead'" in (
        caplog.text
    )
    with pytest.raises(DayLockedError, match="run 'manual__new'"):  # the dead run comes back
        lock(root, "scheduled__dead").acquire("publish")


def test_a_run_between_its_steps_keeps_the_day(root) -> None:
    a = lock(root, "run-a")
    a.acquire("ingest")
    a.finish()
    assert locks.read_lease(root, "shibuya", DAY1).running == ()
    with pytest.raises(DayLockedError, match=r"run 'run-a' \(last step ingest on host "):
        lock(root, "run-b").acquire("ingest")


def test_a_failed_run_gives_the_day_up_once_nothing_of_it_runs(root, caplog) -> None:
    shard0, shard1 = lock(root, "run-a"), lock(root, "run-a")
    shard0.acquire("analyze 0/2")
    shard1.acquire("analyze 1/2")
    shard1.finish(failed=True)
    held = locks.read_lease(root, "shibuya", DAY1)
    assert held.failed == ("analyze 1/2",) and [r.step for r in held.running] == ["analyze 0/2"]
    with pytest.raises(DayLockedError, match=r"\(running analyze 0/2 on host "):
        lock(root, "run-b").acquire("ingest")  # its other shard still runs

    shard0.finish()
    with caplog.at_level(logging.WARNING, logger="trendscope.tables.locks"):
        lock(root, "run-b").acquire("ingest")
    assert (
        "took over the lease of shibuya 2026-11-02 (its analyze 1/2 failed and nothing of it "
        "runs) from run 'run-a'"
    ) in caplog.text
    with pytest.raises(DayLockedError, match="run 'run-b'"):  # the failed shard's retry
        lock(root, "run-a").acquire("analyze 1/2")


def test_a_retry_of_the_failed_step_holds_the_day_again(root) -> None:
    first = lock(root, "run-a")
    first.acquire("publish")
    first.finish(failed=True)
    lock(root, "run-a").acquire("publish")  # Airflow's retry

    held = locks.read_lease(root, "shibuya", DAY1)
    assert held.failed == () and [r.step for r in held.running] == ["publish"]
    with pytest.raises(DayLockedError):
        lock(root, "run-b").acquire("ingest")


def test_only_the_owner_releases(root, caplog) -> None:
    mine = lock(root, "run-a")
    assert not mine.release()  # never acquired through this lock: nothing to release
    mine.acquire("ingest")
    assert not lock(root, "run-b").release()
    assert locks.read_lease(root, "shibuya", DAY1).owner == "run-a"
    assert mine.release()
    assert locks.read_lease(root, "shibuya", DAY1) is None

    mine.acquire("ingest")
    locks.break_lease(root, "shibuya", DAY1)  # trendscope unlock, then another run takes it
    lock(root, "run-b").acquire("ingest")
    with caplog.at_level(logging.WARNING, logger="trendscope.tables.locks"):
        assert not mine.release()
    assert "no longer 'run-a''s: run 'run-b'" in caplog.text
    assert locks.read_lease(root, "shibuya", DAY1).owner == "run-b"


def test_unlock_breaks_any_lease(root) -> None:
    assert locks.break_lease(root, "shibuya", DAY1) is None
    planted = plant(root, "scheduled__stuck", expires_in=TTL)
    assert locks.break_lease(root, "shibuya", DAY1) == planted
    assert locks.read_lease(root, "shibuya", DAY1) is None


def test_a_run_can_end_only_its_own_hold(root) -> None:
    planted = plant(root, "scheduled__a", expires_in=TTL)
    assert locks.break_lease(root, "shibuya", DAY1, owner="scheduled__b") is None
    assert locks.read_lease(root, "shibuya", DAY1) == planted
    assert locks.break_lease(root, "shibuya", DAY1, owner="scheduled__a") == planted
    assert locks.read_lease(root, "shibuya", DAY1) is None


def test_an_unreadable_lease_counts_as_expired(root) -> None:
    storage.write_bytes_atomic(b"", locks.lock_path(root, "shibuya", DAY1))
    lock(root, "run-a").acquire("ingest")
    assert locks.read_lease(root, "shibuya", DAY1).owner == "run-a"


def test_racing_owners_get_one_lease(tmp_path) -> None:
    """Eight threads (separate flock descriptions, as separate processes) race for one day."""
    root = str(tmp_path / "data")
    barrier = threading.Barrier(8)
    won: list[str] = []
    refused: list[str] = []

    def race(owner: str) -> None:
        barrier.wait()
        try:
            lock(root, owner).acquire("ingest")
            won.append(owner)
        except DayLockedError as exc:
            refused.append(exc.holder.owner)

    threads = [threading.Thread(target=race, args=(f"run-{i}",)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(won) == 1 and len(refused) == 7
    assert set(refused) == set(won) == {locks.read_lease(root, "shibuya", DAY1).owner}


def test_a_conditional_put_answered_too_late_still_takes_the_lease(s3_proxy, tmp_path) -> None:
    """The first PUT (If-None-Match) lands but its answer times out; botocore's retry then gets
    412 Precondition Failed, and the lock sees that the lease it meets is its own."""
    s3_proxy.reset()
    storage.configure(s3_proxy.url, "us-east-1", max_attempts=3, read_timeout_s=1.0)
    root = f"s3://lake/{tmp_path.name}"
    s3_proxy.fail("PUT", "/locks/", "slow", times=1, delay_s=2.0)

    taken = lock(root, "run-a").acquire("ingest")
    held = locks.read_lease(root, "shibuya", DAY1)
    assert held.owner == taken.owner == "run-a"
    assert [r.step for r in held.running] == ["ingest"]  # listed once
    assert s3_proxy.count("PUT", "/locks/") == 3  # created, retried (412), renewed (If-Match)
