"""Progress reporting that reads well in a terminal and in Airflow task logs alike."""

from __future__ import annotations

import logging
import time
from collections.abc import Iterable, Iterator
from typing import TypeVar

T = TypeVar("T")


def progress(
    items: Iterable[T], total: int, what: str, logger: logging.Logger, every_s: float = 5.0
) -> Iterator[T]:
    """Yield ``items`` and log ``what: done/total (rate)`` every ``every_s`` seconds and at the end."""
    start = last = time.monotonic()
    for done, item in enumerate(items, start=1):
        yield item
        now = time.monotonic()
        if now - last >= every_s or done == total:
            rate = done / max(now - start, 1e-9)
            logger.info("%s: %d/%d (%.1f/s)", what, done, total, rate)
            last = now
