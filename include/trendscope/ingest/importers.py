"""Posts from the output folders of the downloaders people already use: instaloader and gallery-dl.

Both keep one folder per location under the source root, ``<root>/<location>/...`` (any depth
below it). Every image file is one post; the files of a carousel share their post's id. Time,
author, caption, hashtags and likes come from the metadata file the tool saved next to the image,
and a post belongs to the day of its time at the location. An image whose time cannot be found is
skipped with a warning (it cannot be placed on a day); videos and other files are ignored.
``docs/importers.md`` lists the commands that produce these folders.
"""

from __future__ import annotations

import json
import logging
import lzma
import os
import re
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any

from trendscope.config import Location
from trendscope.ingest.dropzone import Post, _inside, _normalize, checked, local_date
from trendscope.tables import storage

log = logging.getLogger(__name__)

IMAGE_SUFFIXES = frozenset(
    {".jpg", ".jpeg", ".png", ".webp", ".gif", ".heic", ".heif", ".avif", ".bmp", ".tif", ".tiff"}
)
INSTAGRAM_POST_URL = "https://www.instagram.com/p/{shortcode}/"

# instaloader names files by the post's UTC time (``--filename-pattern``, default ``{date_utc}_UTC``)
_IL_TIME = re.compile(r"(\d{4}-\d{2}-\d{2}_\d{2}-\d{2}-\d{2})_UTC")
_IL_SLIDE = re.compile(r"_\d+$")  # ``_1``, ``_2``, ... on the files of a carousel
_IL_TITLE_PICS = ("_profile_pic", "_cover")  # profile pictures and highlight covers: not posts
# instaloader's own hashtag pattern (``structures._hashtag_regex``): Unicode word characters
_HASHTAG = re.compile(r"#(\w{1,150})")


@dataclass(frozen=True)
class _Meta:
    """What a tool's metadata says about one image; ``note`` says why it says little."""

    taken_at: datetime | None = None
    post_id: str | None = None
    author: str | None = None
    caption: str | None = None
    hashtags: list[str] | None = None
    likes: int | None = None
    followers: int | None = None
    source_url: str | None = None
    note: str | None = None


# (image uri, every file of the location, source root) -> metadata
_Reader = Callable[[str, set[str], str], _Meta]


def instaloader_posts(root: str, loc: Location, day: date) -> list[Post]:
    """The posts of ``loc`` on ``day`` in instaloader output under ``<root>/<loc.slug>/``."""
    return _import(
        "instaloader", root, loc, day, _is_post_image, _instaloader_meta, _instaloader_name_time
    )


def gallery_dl_posts(root: str, loc: Location, day: date) -> list[Post]:
    """The posts of ``loc`` on ``day`` in gallery-dl output (``--write-metadata``) under
    ``<root>/<loc.slug>/``."""
    return _import("gallery-dl", root, loc, day, _is_image, _gallery_dl_meta, lambda _uri: None)


# --- shared ---------------------------------------------------------------------------------


def _import(
    tool: str,
    source_root: str,
    loc: Location,
    day: date,
    wanted: Callable[[str], bool],
    read: _Reader,
    name_time: Callable[[str], datetime | None],
) -> list[Post]:
    root = str(source_root).rstrip("/")
    root = root if storage.is_s3(root) else os.path.realpath(root)
    if not storage.is_dir(root):
        raise FileNotFoundError(f"{tool} folder not found: {root} (set source.path)")
    folder = f"{root}/{loc.slug}"
    files = storage.list_files(folder)
    if not files:
        log.warning("%s: no files for %s in %s", tool, loc.slug, folder)
    known = set(files)
    posts: list[Post] = []
    unplaced = 0
    for uri in files:
        if not wanted(uri):
            continue
        named = name_time(uri)
        if named is not None and local_date(named, loc) != day:
            continue  # the name already tells the day: no need to open the metadata
        meta = read(uri, known, root)
        taken_at = meta.taken_at or named
        if taken_at is None:
            unplaced += 1
            log.warning("%s: skipping %s: no time to place it on a day (%s)", tool, uri, meta.note)
            continue
        if local_date(taken_at, loc) != day:
            continue
        outside = not _inside(_normalize(uri), root)
        posts.append(
            Post(
                source_uri=uri,
                location=loc.slug,
                readable=not outside,
                taken_at=taken_at,
                post_id=meta.post_id,
                author=meta.author,
                caption=meta.caption,
                hashtags=meta.hashtags,
                likes=meta.likes,
                followers=meta.followers,
                source_url=meta.source_url,
                problem="image links to a file outside the source folder" if outside else None,
            )
        )
    if unplaced:
        log.warning("%s: %d images in %s skipped: no usable time", tool, unplaced, folder)
    log.info("%s: %d posts of %s on %s in %s", tool, len(posts), loc.slug, day, folder)
    return [checked(p) for p in posts]


def _is_image(uri: str) -> bool:
    """Whether a path or object key names an image file (by its extension)."""
    name = uri.rsplit("/", 1)[-1]
    return "." in name and "." + name.rsplit(".", 1)[-1].lower() in IMAGE_SUFFIXES


def _load_json(uri: str, root: str) -> Any:
    """A JSON file's content (LZMA-compressed when the name ends in ``.xz``)."""
    if not _inside(_normalize(uri), root):
        raise ValueError("metadata file links outside the source folder")
    data = storage.read_bytes(uri)
    if uri.endswith(".xz"):
        data = lzma.decompress(data)
    return json.loads(data)


def _read_metadata(uri: str, root: str) -> tuple[dict[str, Any] | None, str | None]:
    """``(content, None)`` for a readable JSON object, else ``(None, why)`` (logged)."""
    try:
        doc = _load_json(uri, root)
        if not isinstance(doc, dict):
            raise ValueError("not a JSON object")
    except (OSError, ValueError, EOFError, lzma.LZMAError) as exc:
        note = f"unreadable metadata {uri}: {exc}"
        log.warning("%s", note)
        return None, note
    return doc, None


def _dict(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _text(value: Any) -> str | None:
    if isinstance(value, bool) or not isinstance(value, str | int):
        return None
    text = unicodedata.normalize("NFC", str(value)).strip()
    return text or None


def _count(value: Any) -> int | None:
    if isinstance(value, bool) or not isinstance(value, int | float) or value < 0:
        return None
    return int(value)


def _from_unix(value: Any) -> datetime | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    try:
        return datetime.fromtimestamp(value, tz=UTC)
    except (OverflowError, OSError, ValueError):
        return None


def _tags(values: list[Any]) -> list[str]:
    """Lowercased hashtags without ``#``, first occurrence kept (Instagram ignores case)."""
    out: list[str] = []
    for value in values:
        if not isinstance(value, str):
            continue
        tag = value.strip().lstrip("#").strip().lower()
        if tag and tag not in out:
            out.append(tag)
    return out


def _caption_tags(caption: str | None) -> list[str] | None:
    return None if caption is None else _tags(_HASHTAG.findall(caption))


# --- instaloader ----------------------------------------------------------------------------


def _stem(uri: str) -> str:
    return uri.rsplit(".", 1)[0] if "." in uri.rsplit("/", 1)[-1] else uri


def _is_post_image(uri: str) -> bool:
    """An image instaloader saved for a post (not a profile picture or highlight cover)."""
    return _is_image(uri) and not _stem(uri).endswith(_IL_TITLE_PICS)


def _instaloader_name_time(uri: str) -> datetime | None:
    """The UTC time in an instaloader file name (``2026-11-03_09-15-42_UTC.jpg``), if any."""
    match = _IL_TIME.search(_stem(uri).rsplit("/", 1)[-1])
    if match is None:
        return None
    return datetime.strptime(match[1], "%Y-%m-%d_%H-%M-%S").replace(tzinfo=UTC)


def _instaloader_meta(uri: str, files: set[str], root: str) -> _Meta:
    """Metadata of one image: ``<base>.json.xz`` or ``<base>.json``, caption in ``<base>.txt``.

    ``<base>`` is the image's name without extension, or without the ``_N`` of a carousel file.
    """
    stem = _stem(uri)
    bases = dict.fromkeys([stem, _IL_SLIDE.sub("", stem)])
    meta_uri = next(
        (f"{b}{ext}" for b in bases for ext in (".json.xz", ".json") if f"{b}{ext}" in files), None
    )
    caption_uri = next((f"{b}.txt" for b in bases if f"{b}.txt" in files), None)
    if meta_uri is None:
        node, note = {}, "no metadata file (.json.xz or .json)"
    else:
        doc, note = _read_metadata(meta_uri, root)
        node = _dict((doc or {}).get("node"))
        if doc is not None and not node:
            note = f"not instaloader metadata (no 'node'): {meta_uri}"
    # as instaloader's Post: ``date`` (iPhone API) before ``taken_at_timestamp`` (GraphQL)
    taken_at = _from_unix(node.get("date")) or _from_unix(node.get("taken_at_timestamp"))
    if node and taken_at is None:
        note = f"no taken_at_timestamp in {meta_uri}"
    caption = _instaloader_caption(node)
    if caption is None and caption_uri is not None:
        caption = _caption_file(caption_uri, root)
    owner = _dict(node.get("owner"))
    likes = _dict(node.get("edge_media_preview_like")) or _dict(node.get("edge_liked_by"))
    shortcode = _text(node.get("shortcode") or node.get("code"))
    return _Meta(
        taken_at=taken_at,
        post_id=shortcode,
        author=_text(owner.get("username")),
        caption=caption,
        hashtags=_caption_tags(caption),
        likes=_count(likes.get("count")),
        followers=_count(_dict(owner.get("edge_followed_by")).get("count")),
        source_url=INSTAGRAM_POST_URL.format(shortcode=shortcode) if shortcode else None,
        note=note,
    )


def _caption_file(uri: str, root: str) -> str | None:
    """The caption instaloader saved as text (``--post-metadata-txt``, default ``{caption}``)."""
    if not _inside(_normalize(uri), root):
        return None
    try:
        return _text(storage.read_bytes(uri).decode("utf-8", errors="replace"))
    except OSError as exc:
        log.warning("unreadable caption %s: %s", uri, exc)
        return None


def _instaloader_caption(node: dict[str, Any]) -> str | None:
    edges = _dict(node.get("edge_media_to_caption")).get("edges")
    if isinstance(edges, list) and edges:
        return _text(_dict(_dict(edges[0]).get("node")).get("text"))
    return _text(node.get("caption"))


# --- gallery-dl -----------------------------------------------------------------------------


def _gallery_dl_time(value: Any) -> datetime | None:
    """gallery-dl writes ``"YYYY-MM-DD HH:MM:SS"`` in UTC; a few extractors a Unix time."""
    if isinstance(value, str):
        try:
            ts = datetime.fromisoformat(value.strip())
        except ValueError:
            return None
        return ts.replace(tzinfo=UTC) if ts.tzinfo is None else ts
    return _from_unix(value)


def _name(value: Any) -> str | None:
    if isinstance(value, dict):
        return _text(value.get("name") or value.get("username") or value.get("nick"))
    return _text(value) if isinstance(value, str) else None


def _tag_list(value: Any) -> list[str] | None:
    if isinstance(value, str):
        value = value.replace(",", " ").split()
    if not isinstance(value, list):
        return None
    # pixiv and others give ``{"name": ...}`` dicts
    return _tags([v.get("name") if isinstance(v, dict) else v for v in value])


def _gallery_dl_meta(uri: str, files: set[str], root: str) -> _Meta:
    """Metadata of one image from ``NAME.EXT.json`` next to it (``--write-metadata``)."""
    meta_uri = f"{uri}.json"
    if meta_uri not in files:
        return _Meta(note="no metadata file (run gallery-dl with --write-metadata)")
    doc, note = _read_metadata(meta_uri, root)
    if doc is None:
        return _Meta(note=note)
    taken_at = _gallery_dl_time(doc.get("date")) or _gallery_dl_time(doc.get("post_date"))
    caption = _text(doc.get("description")) or _text(doc.get("content"))
    tags = _tag_list(doc.get("tags"))
    if not tags:
        tags = _tag_list(doc.get("hashtags")) or _caption_tags(caption)
    likes = next(
        (
            n
            for k in ("likes", "like_count", "favorite_count")
            if (n := _count(doc.get(k))) is not None
        ),
        None,
    )
    person = _dict(doc.get("author")) or _dict(doc.get("user"))
    followers = _count(person.get("followers_count", person.get("follower_count")))
    url = _text(doc.get("post_url")) or _text(doc.get("url"))
    return _Meta(
        taken_at=taken_at,
        # Instagram: the shortcode, as instaloader and the post's URL use it
        post_id=_text(doc.get("post_shortcode"))
        or _text(doc.get("post_id"))
        or _text(doc.get("id")),
        author=_text(doc.get("username")) or _name(doc.get("author")) or _name(doc.get("user")),
        caption=caption,
        hashtags=tags,
        likes=likes,
        followers=followers,
        source_url=url if url and url.startswith(("http://", "https://")) else None,
        note=None if taken_at else f"no date or post_date in {meta_uri}",
    )
