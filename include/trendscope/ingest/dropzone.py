"""Find the posts of one location-day in a drop zone.

A drop zone holds either or both of:
  * ``<root>/<location>/<YYYY-MM-DD>/<image files>`` (the folder names the day), and
  * ``posts.jsonl`` manifests anywhere under the root, one post per line with ``image`` (relative
    to the manifest), ``location``, ``taken_at`` and optional metadata.

A post belongs to the (location, date) of its ``taken_at`` in the location's timezone. A file a
manifest names is never also counted from the folder layout.
"""

from __future__ import annotations

import json
import logging
import os
import posixpath
import re
from dataclasses import dataclass, field, replace
from datetime import date, datetime
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from trendscope.config import Location
from trendscope.tables import storage

log = logging.getLogger(__name__)

MANIFEST_NAME = "posts.jsonl"
NAME_NOT_UTF8 = "file name is not valid UTF-8"
_SURROGATE = re.compile(r"[\ud800-\udfff]")


@dataclass(frozen=True)
class Post:
    """One post to ingest: a file plus whatever metadata came with it."""

    source_uri: str
    location: str
    readable: bool  # False when the file cannot be fetched at all (see ``problem``)
    taken_at: datetime | None = None
    post_id: str | None = None
    author: str | None = None
    caption: str | None = None
    hashtags: list[str] | None = None
    likes: int | None = None
    followers: int | None = None
    source_url: str | None = None
    problem: str | None = None  # set when the post cannot be read at all (quarantine reason)
    sort_key: tuple[Any, ...] = field(default=(), compare=False)


class ManifestPost(BaseModel):
    """One line of ``posts.jsonl``; unknown keys are ignored (exports carry many)."""

    model_config = ConfigDict(extra="ignore")

    image: str = Field(min_length=1)
    location: str = Field(min_length=1)
    taken_at: datetime
    post_id: str | None = None
    author: str | None = None
    caption: str | None = None
    hashtags: list[str] | None = None
    likes: int | None = Field(default=None, ge=0)
    followers: int | None = Field(default=None, ge=0)
    source_url: str | None = None

    @field_validator("hashtags", mode="before")
    @classmethod
    def _tags(cls, v: Any) -> Any:
        if isinstance(v, str):
            v = v.replace(",", " ").split()
        if isinstance(v, list):
            return [str(t).lstrip("#") for t in v if str(t).strip("# ")]
        return v

    @field_validator("post_id", mode="before")
    @classmethod
    def _post_id(cls, v: Any) -> Any:
        return None if v is None else str(v)


def escape_name(uri: str) -> str:
    """``uri`` as valid UTF-8 that still finds the file: each byte of the name that is not UTF-8
    (a surrogate escape in Python's listing) written ``\\xNN`` as Python shows bytes, so
    ``caf\\xe9.jpg`` is ``ls $'caf\\xe9.jpg'`` in bash. Not percent-encoding: the rest of a path
    is not URL-encoded, and saved downloads often hold a literal ``%E9`` in their names."""
    try:
        return uri.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")
    except UnicodeEncodeError:  # a surrogate that is no byte of a name: ``\\udXXX`` then
        return uri.encode("utf-8", "backslashreplace").decode("utf-8")


def _valid_text(text: str) -> str:
    """``text`` with lone surrogates (a JSON ``\\ud800`` escape) replaced by U+FFFD, as the
    manifest's undecodable bytes are."""
    return _SURROGATE.sub("\ufffd", text)


def checked(post: Post) -> Post:
    """``post`` as an ``images`` row can hold it (Arrow and Parquet take only UTF-8 text).

    A file whose name is not valid UTF-8 is quarantined under its escaped name
    (:func:`escape_name`), so the day's other files still ingest; metadata text gets
    :func:`_valid_text`.
    """
    changes: dict[str, Any] = {}
    for name in ("post_id", "author", "caption", "source_url"):
        value = getattr(post, name)
        if value is not None and _SURROGATE.search(value):
            changes[name] = _valid_text(value)
    if post.hashtags and any(_SURROGATE.search(tag) for tag in post.hashtags):
        changes["hashtags"] = [_valid_text(tag) for tag in post.hashtags]
    if _SURROGATE.search(post.source_uri):
        changes.update(
            source_uri=escape_name(post.source_uri),
            readable=False,
            problem=post.problem or NAME_NOT_UTF8,
        )
    return replace(post, **changes) if changes else post


def local_date(ts: datetime, location: Location) -> date:
    """The calendar day of ``ts`` at ``location`` (naive times are taken as local there)."""
    if ts.tzinfo is None:
        ts = ts.replace(tzinfo=location.tz)
    return ts.astimezone(location.tz).date()


def _aware(ts: datetime, location: Location) -> datetime:
    return ts.replace(tzinfo=location.tz) if ts.tzinfo is None else ts


def _normalize(uri: str) -> str:
    """Resolve ``.`` and ``..`` in a local path or an object key, without touching the disk."""
    if storage.is_s3(uri):
        bucket, _, key = uri[len("s3://") :].partition("/")
        return f"s3://{bucket}/{posixpath.normpath(key)}"
    return os.path.realpath(uri)


def _inside(uri: str, root: str) -> bool:
    root = root.rstrip("/")
    return uri.startswith(root + "/")


def _manifest_posts(
    manifest: str,
    root: str,
    location: Location,
    day: date,
    referenced: set[str],
    claimed: set[str],
) -> list[Post]:
    """The manifest's posts of ``location`` on ``day``; a file is one post (one ``images`` row),
    so a line naming a file an earlier line of the day already claimed is skipped."""
    posts: list[Post] = []
    text = storage.read_bytes(manifest).decode("utf-8", errors="replace")
    base = manifest.rsplit("/", 1)[0]
    for lineno, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        where = f"{manifest}:{lineno}"
        try:
            raw = json.loads(line)
            if not isinstance(raw, dict):
                raise ValueError("a line must be a JSON object")
        except ValueError as exc:
            log.warning("skipping unreadable manifest line %s: %s", where, exc)
            continue
        image = raw.get("image")
        uri = _normalize(f"{base}/{_valid_text(image)}") if isinstance(image, str) else None
        if uri is not None and _inside(uri, root):
            referenced.add(uri)
        if raw.get("location") != location.slug:
            continue
        try:
            mp = ManifestPost.model_validate(raw)
        except ValidationError as exc:
            fields = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors())
            log.warning("skipping invalid manifest line %s (%s)", where, fields)
            continue
        if local_date(mp.taken_at, location) != day:
            continue
        assert uri is not None
        if uri in claimed:
            log.warning("skipping %s: %s is already the file of an earlier post", where, uri)
            continue
        claimed.add(uri)
        problem = None
        if not _inside(uri, root):
            problem = "manifest image path points outside the drop zone"
        elif not storage.exists(uri):
            problem = "file named in the manifest is missing"
        posts.append(
            Post(
                source_uri=uri,
                location=location.slug,
                readable=problem is None,
                taken_at=_aware(mp.taken_at, location),
                post_id=mp.post_id,
                author=mp.author,
                caption=mp.caption,
                hashtags=mp.hashtags,
                likes=mp.likes,
                followers=mp.followers,
                source_url=mp.source_url,
                problem=problem,
            )
        )
    return posts


def discover_posts(source_root: str | Path, location: Location, day: date) -> list[Post]:
    """Every post of ``location`` on ``day`` in the drop zone (a directory or an S3 prefix)."""
    root = str(source_root).rstrip("/")
    root = root if storage.is_s3(root) else os.path.realpath(root)
    if not storage.is_dir(root):
        raise FileNotFoundError(f"drop zone not found: {root} (set source.path or --source-dir)")
    files = storage.list_files(root)
    referenced: set[str] = set()
    claimed: set[str] = set()
    posts: list[Post] = []
    for manifest in (f for f in files if f.rsplit("/", 1)[-1] == MANIFEST_NAME):
        posts.extend(_manifest_posts(manifest, root, location, day, referenced, claimed))
    day_prefix = f"{root}/{location.slug}/{day.isoformat()}/"
    for uri in files:
        name = uri.rsplit("/", 1)[-1]
        if uri.startswith(day_prefix) and name != MANIFEST_NAME and uri not in referenced:
            posts.append(Post(source_uri=uri, location=location.slug, readable=True))
    return [checked(p) for p in posts]
