"""Splitting a location-day's analysis into shards, and where each shard stages its output."""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from datetime import date

from trendscope.config import ShardingConfig
from trendscope.tables.paths import join, partition_dir

_SHARD = re.compile(r"^(\d+)/(\d+)$")
_DIR = re.compile(r"shard-(\d{3})-of-(\d{3})$")


@dataclass(frozen=True)
class Shard:
    """Shard ``index`` of ``count`` (0-based): it takes every ``count``-th ok image."""

    index: int = 0
    count: int = 1

    def __post_init__(self) -> None:
        if not (self.count >= 1 and 0 <= self.index < self.count):
            raise ValueError(f"invalid shard {self.index}/{self.count}: need 0 <= i < N")

    @classmethod
    def parse(cls, text: str) -> Shard:
        """``"i/N"`` as on the command line."""
        m = _SHARD.match(text.strip())
        if not m:
            raise ValueError(f"shard must look like i/N (e.g. 0/4), got {text!r}")
        return cls(int(m.group(1)), int(m.group(2)))

    def __str__(self) -> str:
        return f"{self.index}/{self.count}"

    @property
    def dirname(self) -> str:
        return f"shard-{self.index:03d}-of-{self.count:03d}"

    def take(self, items: list[int]) -> list[int]:
        return items[self.index :: self.count]


def shard_count(ok_images: int, sharding: ShardingConfig) -> int:
    """How many shards a day of ``ok_images`` needs."""
    return max(1, min(sharding.max_shards, math.ceil(ok_images / sharding.max_images_per_shard)))


def analysis_dir(root: str, location: str, day: date) -> str:
    """Where the analyze shards of a location-day stage their outputs."""
    return partition_dir(root, "analysis", location, day, area="staging")


def shard_file(root: str, location: str, day: date, shard: Shard, table: str) -> str:
    return join(analysis_dir(root, location, day), shard.dirname, f"{table}.parquet")


def shards_present(files: list[str]) -> dict[Shard, set[str]]:
    """The shards found among staged files, with the tables each holds."""
    found: dict[Shard, set[str]] = {}
    for f in files:
        parent, _, name = f.rpartition("/")
        m = _DIR.search(parent)
        if m and name.endswith(".parquet"):
            found.setdefault(Shard(int(m.group(1)), int(m.group(2))), set()).add(
                name[: -len(".parquet")]
            )
    return found
