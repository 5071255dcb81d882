"""``trendscope validate``: run a partition already written (published or staged) through its
expectation suite again, and keep the result like the gate does."""

from __future__ import annotations

from trendscope.config import TrendscopeConfig
from trendscope.pipeline.ingest import read_posts_in
from trendscope.quality.context import suite_context
from trendscope.quality.gate import validate_partition
from trendscope.quality.results import ValidationReport, latest_result
from trendscope.tables import storage
from trendscope.tables.paths import keyed_partition_path
from trendscope.tables.schemas import IMAGES
from trendscope.tables.schemas import contract as contract_of


def validate_stored(
    config: TrendscopeConfig, table: str, location: str, key: str, *, staged: bool = False
) -> ValidationReport:
    """Validate a partition already written (published, or staged with ``staged=True``).

    Raises:
        FileNotFoundError: The partition does not exist.
    """
    storage.use(config.storage)
    config.location(location)
    contract = contract_of(table)
    area = "staging" if staged else "tables"
    path = keyed_partition_path(config.data_root, table, location, key, area=area)
    if not storage.exists(path):
        raise FileNotFoundError(
            f"no {'staged' if staged else 'published'} {table} partition: {path}"
        )
    rows = storage.read_table(path, contract)
    posts_in = None
    images = None
    if table == IMAGES.name:
        if staged:
            posts_in = read_posts_in(path)
        else:
            last = latest_result(config, table, location, key)
            posts_in = last.get("posts_in") if last else None
    elif table in ("detections", "colors", "tags"):  # rows must belong to ok images
        for image_area in (area, "tables"):
            image_path = keyed_partition_path(
                config.data_root, IMAGES.name, location, key, image_area
            )
            if storage.exists(image_path):
                images = storage.read_table(image_path, IMAGES)
                break
    ctx = suite_context(config, table, location, key, posts_in=posts_in)
    return validate_partition(config, contract, rows, ctx, area=area, images=images)
