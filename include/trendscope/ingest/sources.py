"""One entry point for every photo source: the posts of one location-day.

Each source type turns its own format into :class:`~trendscope.ingest.dropzone.Post` records;
everything after that (checks, de-duplication, quarantine) is the same ingest step.
"""

from __future__ import annotations

from datetime import date

from trendscope.config import TrendscopeConfig
from trendscope.ingest.dropzone import Post, discover_posts


def discover(config: TrendscopeConfig, location: str, day: date, root: str) -> list[Post]:
    """The posts of ``location`` on ``day`` from the configured source rooted at ``root``."""
    loc = config.location(location)
    kind = config.source.type
    if kind == "local":
        return discover_posts(root, loc, day)
    if kind == "scraper":
        from trendscope.ingest.scraper import scrape_day

        assert config.source.scraper is not None  # enforced by the config
        scrape_day(config.source, loc, day, root)  # downloads into the drop zone layout
        return discover_posts(root, loc, day)
    if kind == "instaloader":
        from trendscope.ingest.importers import instaloader_posts

        return instaloader_posts(root, loc, day)
    if kind == "gallery-dl":
        from trendscope.ingest.importers import gallery_dl_posts

        return gallery_dl_posts(root, loc, day)
    raise ValueError(f"source.type: unknown source {kind!r}")
