"""instaloader and gallery-dl output folders, written byte for byte as those tools write them."""

from __future__ import annotations

import json
import logging
import lzma
import re
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import pytest

from trendscope.config import Location
from trendscope.ingest.importers import gallery_dl_posts, instaloader_posts
from trendscope.pipeline.ingest import ingest_day
from trendscope.tables import storage
from trendscope.tables.paths import partition_path
from trendscope.tables.schemas import IMAGES

TOKYO = Location(slug="shibuya", timezone="Asia/Tokyo")
DAY = date(2026, 11, 2)
PHOTOS = ("chelsea", "coffee", "astronaut", "china", "flower", "grace_hopper", "rocket")


def _photo(path: Path, n: int = 0) -> Path:
    """A real packaged photo saved as JPEG (distinct bytes for each ``n``)."""
    from PIL import Image

    from trendscope.photos import sample_photo

    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(sample_photo(PHOTOS[n % len(PHOTOS)])).rotate(n // len(PHOTOS)).save(
        path, "JPEG"
    )
    return path


def _utc(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


# --- instaloader ----------------------------------------------------------------------------


def _il_node(
    shortcode: str,
    taken_at: str,
    username: str = "mika",
    caption: str | None = None,
    likes: int = 0,
    typename: str = "GraphImage",
) -> dict[str, Any]:
    """``{"node": ..., "instaloader": ...}`` as ``structures.get_json_structure`` builds it."""
    node: dict[str, Any] = {
        "__typename": typename,
        "id": "3400000000000000001",
        "shortcode": shortcode,
        "dimensions": {"height": 1080, "width": 1080},
        "display_url": f"https://scontent.cdninstagram.com/{shortcode}.jpg",
        "is_video": typename == "GraphVideo",
        "accessibility_caption": None,
        "edge_media_to_caption": {"edges": [{"node": {"text": caption}}] if caption else []},
        "edge_media_to_comment": {"count": 3},
        "comments_disabled": False,
        "taken_at_timestamp": int(_utc(taken_at).timestamp()),
        "edge_media_preview_like": {"count": likes},
        "owner": {"id": "51234", "username": username},
        "location": None,
    }
    return {"node": node, "instaloader": {"version": "4.16", "node_type": "Post"}}


def _il_save(base: Path, doc: dict[str, Any], compress: bool = True) -> Path:
    """instaloader's ``save_structure_to_file`` (``--no-compress-json`` gives plain JSON)."""
    base.parent.mkdir(parents=True, exist_ok=True)
    if compress:
        path = base.with_name(base.name + ".json.xz")
        with lzma.open(path, "wt", check=lzma.CHECK_NONE) as fp:
            json.dump(doc, fp=fp, separators=(",", ":"))
    else:
        path = base.with_name(base.name + ".json")
        with open(path, "w") as fp:
            json.dump(doc, fp=fp, indent=4, sort_keys=True)
    return path


def _il_post(
    folder: Path,
    stamp: str,
    doc: dict[str, Any] | None,
    photo: int = 0,
    files: int = 1,
    compress: bool = True,
) -> None:
    """One post as ``download_post`` leaves it: image(s), caption ``.txt``, metadata JSON."""
    base = folder / stamp
    names = [f"{stamp}.jpg"] if files == 1 else [f"{stamp}_{i}.jpg" for i in range(1, files + 1)]
    for i, name in enumerate(names):
        _photo(folder / name, photo + i)
    if doc is not None:
        edges = doc["node"]["edge_media_to_caption"]["edges"]
        if edges:
            (folder / f"{stamp}.txt").write_text(edges[0]["node"]["text"] + "\n")
        _il_save(base, doc, compress)


@pytest.fixture
def il_root(tmp_path: Path) -> Path:
    """``instaloader --dirname-pattern=<root>/shibuya/{target} "#shibuya"`` and a brooklyn folder."""
    root = tmp_path / "instaloader"
    tag = root / "shibuya" / "#shibuya"
    _il_post(
        tag,
        "2026-11-02_01-15-42_UTC",
        _il_node(
            "CzAAAAAAAA1", "2026-11-02 01:15:42", "mika", "Autumn in #Shibuya #渋谷 #tokyo", 120
        ),
        photo=0,
    )
    _il_post(  # a carousel: two images, one metadata file
        tag,
        "2026-11-02_05-00-00_UTC",
        _il_node("CzBBBBBBBB2", "2026-11-02 05:00:00", "ken", "two looks", 7, "GraphSidecar"),
        photo=1,
        files=2,
    )
    # 15:30 UTC on the 1st is 00:30 on the 2nd in Tokyo; 23:30 UTC on the 2nd is the 3rd there
    _il_post(
        tag,
        "2026-11-01_15-30-00_UTC",
        _il_node("CzCCCCCCCC3", "2026-11-01 15:30:00", "aya"),
        photo=3,
    )
    _il_post(
        tag,
        "2026-11-02_23-30-00_UTC",
        _il_node("CzDDDDDDDD4", "2026-11-02 23:30:00", "jo"),
        photo=4,
    )
    # a video (--no-video-thumbnails), the hashtag's profile picture, its metadata: not posts
    (tag / "2026-11-02_03-00-00_UTC.mp4").write_bytes(b"\x00\x00\x00\x18ftypmp42")
    _il_save(
        tag / "2026-11-02_03-00-00_UTC",
        _il_node("CzV", "2026-11-02 03:00:00", typename="GraphVideo"),
    )
    _photo(tag / "2026-11-02_04-00-00_UTC_profile_pic.jpg", 5)
    _il_save(
        tag / "#shibuya", {"node": {"name": "shibuya"}, "instaloader": {"node_type": "Hashtag"}}
    )
    _il_post(
        root / "brooklyn" / "#brooklyn",
        "2026-11-02_02-00-00_UTC",
        _il_node("CzB1", "2026-11-02 02:00:00"),
        photo=6,
    )
    return root


def _summary(posts: list) -> list[tuple]:
    return [
        (Path(p.source_uri).name, p.post_id, p.author, p.caption, p.hashtags, p.likes, p.taken_at)
        for p in posts
    ]


@pytest.mark.parametrize(
    ("day", "expected"),
    [
        (
            DAY,
            [
                (
                    "2026-11-01_15-30-00_UTC.jpg",
                    "CzCCCCCCCC3",
                    "aya",
                    None,
                    None,
                    0,
                    _utc("2026-11-01 15:30"),
                ),
                (
                    "2026-11-02_01-15-42_UTC.jpg",
                    "CzAAAAAAAA1",
                    "mika",
                    "Autumn in #Shibuya #渋谷 #tokyo",
                    ["shibuya", "渋谷", "tokyo"],
                    120,
                    _utc("2026-11-02 01:15:42"),
                ),
                (
                    "2026-11-02_05-00-00_UTC_1.jpg",
                    "CzBBBBBBBB2",
                    "ken",
                    "two looks",
                    [],
                    7,
                    _utc("2026-11-02 05:00"),
                ),
                (
                    "2026-11-02_05-00-00_UTC_2.jpg",
                    "CzBBBBBBBB2",
                    "ken",
                    "two looks",
                    [],
                    7,
                    _utc("2026-11-02 05:00"),
                ),
            ],
        ),
        (
            date(2026, 11, 3),
            [
                (
                    "2026-11-02_23-30-00_UTC.jpg",
                    "CzDDDDDDDD4",
                    "jo",
                    None,
                    None,
                    0,
                    _utc("2026-11-02 23:30"),
                )
            ],
        ),
        (date(2026, 11, 1), []),
    ],
)
def test_instaloader_posts_of_a_day(
    il_root: Path, day: date, expected: list[tuple], caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.WARNING, logger="trendscope.ingest.importers"):
        posts = instaloader_posts(str(il_root), TOKYO, day)
    assert _summary(posts) == expected
    assert caplog.text == ""  # the video, the profile picture and the hashtag's JSON are no posts
    assert all(p.readable and p.problem is None and p.location == "shibuya" for p in posts)
    assert all(p.source_url == f"https://www.instagram.com/p/{p.post_id}/" for p in posts)


@pytest.mark.parametrize("compress", [True, False], ids=["json.xz", "json"])
def test_instaloader_json_and_json_xz_read_alike(tmp_path: Path, compress: bool) -> None:
    folder = tmp_path / "il" / "shibuya" / "user"
    doc = _il_node("CzE", "2026-11-02 09:00:00", "rin", "#Cafe time", 5)
    doc["node"]["owner"]["edge_followed_by"] = {"count": 900}  # when the owner profile was known
    _il_post(folder, "2026-11-02_09-00-00_UTC", doc, compress=compress)
    (folder / "2026-11-02_09-00-00_UTC.txt").unlink()  # --no-captions: the JSON has it anyway
    [post] = instaloader_posts(str(tmp_path / "il"), TOKYO, DAY)
    assert (post.post_id, post.author, post.caption, post.hashtags, post.likes, post.followers) == (
        "CzE",
        "rin",
        "#Cafe time",
        ["cafe"],
        5,
        900,
    )
    assert post.taken_at == _utc("2026-11-02 09:00")


@pytest.mark.parametrize(
    ("metadata", "caption_txt", "post_id", "author"),
    [
        (
            lzma.compress(b'{"node": {"shortcode": "Cz')[:-20],
            None,
            None,
            None,
        ),  # truncated .json.xz
        (b"\xfd7zXZ\x00\x00 not really lzma", "saved #caption", None, None),
        (b'{"node": {"shortcode": "CzX", ', "saved #caption", None, None),  # invalid JSON
        (b'["not", "an", "object"]', None, None, None),
        (b'{"instaloader": {"node_type": "Post"}}', None, None, None),  # no node
        (
            b'{"node": {"shortcode": "CzX", "owner": {"username": "x"}}}',
            None,
            "CzX",
            "x",
        ),  # no time
        (None, "saved #caption", None, None),  # no metadata file at all (--no-metadata-json)
    ],
    ids=["truncated-xz", "not-xz", "invalid-json", "not-object", "no-node", "no-time", "missing"],
)
def test_instaloader_bad_metadata_falls_back_to_the_file_name(
    tmp_path: Path,
    metadata: bytes | None,
    caption_txt: str | None,
    post_id: str | None,
    author: str | None,
) -> None:
    folder = tmp_path / "il" / "shibuya" / "#shibuya"
    _photo(folder / "2026-11-02_06-00-00_UTC.jpg")
    if metadata is not None:
        name = "2026-11-02_06-00-00_UTC.json" + (".xz" if metadata.startswith(b"\xfd7zXZ") else "")
        (folder / name).write_bytes(metadata)
    if caption_txt is not None:
        (folder / "2026-11-02_06-00-00_UTC.txt").write_text(caption_txt + "\n")
    [post] = instaloader_posts(str(tmp_path / "il"), TOKYO, DAY)
    assert post.readable and post.problem is None
    assert post.taken_at == _utc("2026-11-02 06:00")
    assert post.caption == caption_txt
    assert post.hashtags == (["caption"] if caption_txt else None)
    assert (post.post_id, post.author, post.likes) == (post_id, author, None)


def test_instaloader_custom_filename_pattern_and_unplaceable_images(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """``--filename-pattern={shortcode}``: the time comes only from the metadata."""
    folder = tmp_path / "il" / "shibuya" / "mika"
    _il_post(folder, "CzF", _il_node("CzF", "2026-11-02 08:00:00", "mika", "#a #b #A", 1))
    _il_post(folder, "CzG", _il_node("CzG", "2026-11-03 08:00:00", "mika"), photo=1, files=2)
    _photo(folder / "CzH.jpg")
    (folder / "CzH.json").write_text("{broken")
    _photo(folder / "CzI.jpg")  # no metadata, no time in the name
    with caplog.at_level(logging.WARNING, logger="trendscope.ingest.importers"):
        posts = instaloader_posts(str(tmp_path / "il"), TOKYO, DAY)
    assert [(Path(p.source_uri).name, p.hashtags) for p in posts] == [("CzF.jpg", ["a", "b"])]
    assert "2 images in" in caplog.text and "skipped: no usable time" in caplog.text
    assert "CzH.jpg" in caplog.text and "CzI.jpg" in caplog.text
    assert [
        Path(p.source_uri).name
        for p in instaloader_posts(str(tmp_path / "il"), TOKYO, date(2026, 11, 3))
    ] == [
        "CzG_1.jpg",
        "CzG_2.jpg",
    ]


# --- gallery-dl -----------------------------------------------------------------------------


def _gd_save(image: Path, kwdict: dict[str, Any], n: int = 0) -> None:
    """An image and ``NAME.EXT.json`` as ``--write-metadata`` writes it (datetimes as str())."""
    _photo(image, n)
    encoder = json.JSONEncoder(ensure_ascii=False, indent=4, default=str)
    image.with_name(image.name + ".json").write_text(encoder.encode(kwdict) + "\n")


def _gd_instagram(post_id: str, shortcode: str, when: str, **extra: Any) -> dict[str, Any]:
    """The keys ``InstagramExtractor._parse_post`` sets for a post and one of its files."""
    posted = datetime.fromisoformat(when)  # naive UTC, as gallery-dl's dt.parse_ts returns
    data: dict[str, Any] = {
        "post_id": post_id,
        "post_shortcode": shortcode,
        "likes": 42,
        "liked": False,
        "pinned": [],
        "description": "Night walk #Shibuya #neon",
        "owner_id": "51234",
        "username": "mika",
        "fullname": "Mika T",
        "post_date": posted,
        "date": posted,
        "type": "post",
        "post_url": f"https://www.instagram.com/p/{shortcode}/",
        "num": 1,
        "media_id": post_id,
        "shortcode": shortcode,
        "display_url": "https://scontent.cdninstagram.com/x.jpg",
        "video_url": None,
        "width": 1080,
        "height": 1350,
        "tagged_users": [],
        "category": "instagram",
        "subcategory": "tag",
        "tag": "shibuya",
        "extension": "jpg",
        "filename": post_id,
    }
    data.update(extra)
    if tags := re.findall(r"#\w+", data["description"]):  # set only when the caption has some
        data["tags"] = sorted(set(tags))
    return data


@pytest.fixture
def gd_root(tmp_path: Path) -> Path:
    """``gallery-dl -D <root>/shibuya --write-metadata URL`` runs, plus files without a time."""
    root = tmp_path / "gallery-dl"
    shibuya = root / "shibuya"
    _gd_save(
        shibuya / "3400000000000000001.jpg",
        _gd_instagram("3400000000000000001", "CzAAA", "2026-11-02 01:00:00"),
        1,
    )
    for num in (1, 2):  # a carousel: "{sidecar_media_id}_{media_id}.{extension}"
        media = f"340000000000000002{num}"
        _gd_save(
            shibuya / f"3400000000000000020_{media}.jpg",
            _gd_instagram(
                "3400000000000000020",
                "CzBBB",
                "2026-11-02 02:00:00",
                sidecar_media_id="3400000000000000020",
                sidecar_shortcode="CzBBB",
                media_id=media,
                num=num,
                description="no tags here",
                likes=3,
                location_slug="shibuya-crossing",
            ),
            num + 1,
        )
    late = _gd_instagram(  # 23:30 UTC: the 3rd in Tokyo
        "3400000000000000030", "CzCCC", "2026-11-02 23:30:00", description="Late #Ramen"
    )
    _gd_save(shibuya / "3400000000000000030.jpg", late, 4)
    # another extractor: an author dict, content (no tags key), an ISO date with an offset
    other = {
        "category": "mastodon",
        "id": "112233",
        "date": "2026-11-02 12:00:00+09:00",
        "author": {"name": "Aki", "username": "aki", "followers_count": 77},
        "content": "Cold day in #Tokyo",
        "like_count": 9,
        "url": "https://mastodon.example/@aki/112233",
        "extension": "png",
    }
    _gd_save(shibuya / "mastodon" / "112233.png", other, 5)
    _gd_save(
        shibuya / "3400000000000000040.jpg",
        _gd_instagram("34", "CzD", "2026-11-02 03:00:00", date=None, post_date=None),
        6,
    )
    _photo(shibuya / "no-metadata.jpg", 7)
    _photo(shibuya / "broken.jpg", 8)
    (shibuya / "broken.jpg.json").write_text('{"date": "2026-11-02 ')
    (shibuya / "3400000000000000050.mp4").write_bytes(b"\x00\x00\x00\x18ftypmp42")
    (shibuya / "3400000000000000050.mp4.json").write_text(
        json.dumps({"date": "2026-11-02 01:00:00"})
    )
    _gd_save(root / "brooklyn" / "1.jpg", _gd_instagram("1", "CzZ", "2026-11-02 01:00:00"), 9)
    return root


@pytest.mark.parametrize(
    ("day", "expected"),
    [
        (
            DAY,
            [
                (
                    "3400000000000000001.jpg",
                    "CzAAA",
                    "mika",
                    "Night walk #Shibuya #neon",
                    ["shibuya", "neon"],
                    42,
                    _utc("2026-11-02 01:00"),
                ),
                (
                    "3400000000000000020_3400000000000000021.jpg",
                    "CzBBB",
                    "mika",
                    "no tags here",
                    [],
                    3,
                    _utc("2026-11-02 02:00"),
                ),
                (
                    "3400000000000000020_3400000000000000022.jpg",
                    "CzBBB",
                    "mika",
                    "no tags here",
                    [],
                    3,
                    _utc("2026-11-02 02:00"),
                ),
                (
                    "112233.png",
                    "112233",
                    "Aki",
                    "Cold day in #Tokyo",
                    ["tokyo"],
                    9,
                    _utc("2026-11-02 03:00"),
                ),
            ],
        ),
        (
            date(2026, 11, 3),
            [
                (
                    "3400000000000000030.jpg",
                    "CzCCC",
                    "mika",
                    "Late #Ramen",
                    ["ramen"],
                    42,
                    _utc("2026-11-02 23:30"),
                )
            ],
        ),
    ],
)
def test_gallery_dl_posts_of_a_day(
    gd_root: Path, day: date, expected: list[tuple], caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.WARNING, logger="trendscope.ingest.importers"):
        posts = gallery_dl_posts(str(gd_root), TOKYO, day)
    assert _summary(posts) == expected
    assert "3 images in" in caplog.text  # no date, no metadata file, broken metadata
    for name in ("3400000000000000040.jpg", "no-metadata.jpg", "broken.jpg"):
        assert name in caplog.text
    urls = {Path(p.source_uri).name: p.source_url for p in posts}
    if day == DAY:
        assert urls["3400000000000000001.jpg"] == "https://www.instagram.com/p/CzAAA/"
        assert urls["112233.png"] == "https://mastodon.example/@aki/112233"
        assert {Path(p.source_uri).name: p.followers for p in posts}["112233.png"] == 77


# --- both -----------------------------------------------------------------------------------


@pytest.mark.parametrize("tool", ["instaloader", "gallery-dl"])
def test_image_links_outside_the_root_are_refused(tmp_path: Path, tool: str) -> None:
    secret = _photo(tmp_path / "elsewhere" / "secret.jpg")
    folder = tmp_path / "src" / "shibuya"
    folder.mkdir(parents=True)
    name = "2026-11-02_06-00-00_UTC.jpg"
    (folder / name).symlink_to(secret)
    if tool == "instaloader":
        _il_save(folder / name.removesuffix(".jpg"), _il_node("CzS", "2026-11-02 06:00:00"))
        posts = instaloader_posts(str(tmp_path / "src"), TOKYO, DAY)
    else:
        (folder / f"{name}.json").write_text(json.dumps({"date": "2026-11-02 06:00:00"}))
        posts = gallery_dl_posts(str(tmp_path / "src"), TOKYO, DAY)
    [post] = posts
    assert not post.readable
    assert post.problem == "image links to a file outside the source folder"
    assert post.source_uri == str(folder.resolve() / name)


@pytest.mark.parametrize("read", [instaloader_posts, gallery_dl_posts])
def test_missing_source_folder_is_a_clear_error(tmp_path: Path, read) -> None:
    with pytest.raises(FileNotFoundError, match="folder not found"):
        read(str(tmp_path / "nope"), TOKYO, DAY)


def test_ingest_day_stages_instaloader_metadata(config, il_root: Path) -> None:
    cfg = config.model_copy(
        update={
            "source": config.source.model_copy(update={"type": "instaloader", "path": str(il_root)})
        }
    )
    result = ingest_day(cfg, "shibuya", DAY)
    assert result.counts["posts"] == 4 and result.counts["ok"] == 4
    staged = storage.read_table(
        partition_path(cfg.data_root, IMAGES.name, "shibuya", DAY, area="staging"), IMAGES
    ).to_pylist()
    rows = {Path(r["source_uri"]).name: r for r in staged}
    first = rows["2026-11-02_01-15-42_UTC.jpg"]
    assert (first["author"], first["caption"], first["likes"], first["post_id"]) == (
        "mika",
        "Autumn in #Shibuya #渋谷 #tokyo",
        120,
        "CzAAAAAAAA1",
    )
    assert first["hashtags"] == ["shibuya", "渋谷", "tokyo"]
    assert first["source_url"] == "https://www.instagram.com/p/CzAAAAAAAA1/"
    assert first["taken_at"] == _utc("2026-11-02 01:15:42")
    assert {r["author"] for r in staged} == {"mika", "ken", "aya"}
    assert all(r["caption"] is None or r["likes"] is not None for r in staged)
    assert [rows[f"2026-11-02_05-00-00_UTC_{i}.jpg"]["post_id"] for i in (1, 2)] == [
        "CzBBBBBBBB2"
    ] * 2
