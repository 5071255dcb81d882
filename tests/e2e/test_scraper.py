"""The scraper against a local JavaScript gallery, rendered by real headless Chromium.

The site serves real packaged photos and misbehaves on purpose: a 500 then success, a 429 with
``Retry-After: 0``, a path robots.txt disallows, one oversized file with a Content-Length and one
without, posts of other days, a post without a time, a repeated image and a non-http URL.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import date
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest

from trendscope.config import Location, SourceConfig, TrendscopeConfig, load_config
from trendscope.ingest.scraper import ScrapeReport, scrape_day
from trendscope.photos import sample_photo_path
from trendscope.tables import storage
from trendscope.tables.paths import partition_path
from trendscope.tables.schemas import IMAGES

pytestmark = pytest.mark.e2e

REPO = Path(__file__).resolve().parents[2]
DAY = date(2026, 11, 2)
UA = "TrendscopeTest/1.0 (+https://example.invalid/bot)"
MAX_BYTES = 300_000  # the real photos here are 50-250 kB; astronaut and coffee are larger
PLACEHOLDER_GIF = (
    b"GIF89a\x01\x00\x01\x00\x80\x00\x00\x00\x00\x00\xff\xff\xff!\xf9\x04\x01\x00\x00\x00\x00"
    b",\x00\x00\x00\x00\x01\x00\x01\x00\x00\x02\x02D\x01\x00;"
)
ROBOTS = "User-agent: *\nDisallow: /img/private/\n"

# image path -> packaged photo it serves
IMAGES_SERVED = {
    "/img/chelsea.png": "chelsea",
    "/img/flaky/rocket.jpg": "rocket",  # 500 once, then the photo
    "/img/busy/bus.jpg": "bus",  # 429 with Retry-After: 0 once, then the photo
    "/img/private/zidane.jpg": "zidane",  # robots.txt disallows it
    "/img/big/astronaut.png": "astronaut",  # 791 kB, refused by its Content-Length
    "/img/stream/coffee.png": "coffee",  # 467 kB without Content-Length: aborted while reading
    "/img/china.jpg": "china",
    "/img/grace_hopper.jpg": "grace_hopper",
    "/img/flower.jpg": "flower",
    "/img/motorcycle.png": "motorcycle",
    "/img/full/zidane.jpg": "zidane",
    "/cdn/reposted/chelsea.png": "chelsea",  # the same bytes as /img/chelsea.png
}

# The JavaScript gallery of shibuya on DAY (Asia/Tokyo), four posts per API page.
FEED: list[dict[str, Any]] = [
    {
        "img": "/img/chelsea.png",
        "time": "2026-11-02T10:00:00+09:00",
        "author": "neko_fan",
        "caption": "Nap time in Shibuya #cat #shibuya",
        "link": "/p/1",
    },
    {
        "img": "/img/flaky/rocket.jpg",
        "time": "2026-11-02T11:15:00+09:00",
        "author": "space_jp",
        "caption": "Launch day",
        "link": "/p/2",
    },
    {
        "img": "/img/busy/bus.jpg",
        "time": "2026-11-02T12:30:00+09:00",
        "author": "transit_tokyo",
        "caption": "Morning bus #commute",
        "link": "/p/3",
    },
    {
        "img": "/img/private/zidane.jpg",
        "time": "2026-11-02T13:00:00+09:00",
        "author": "fc_fan",
        "caption": "disallowed",
        "link": "/p/4",
    },
    {
        "img": "/img/big/astronaut.png",
        "time": "2026-11-02T14:00:00+09:00",
        "author": "nasa_fan",
        "caption": "too big",
        "link": "/p/5",
    },
    {
        "img": "/img/stream/coffee.png",
        "time": "2026-11-02T15:00:00+09:00",
        "author": "cafe",
        "caption": "too big, no length",
        "link": "/p/6",
    },
    # 15:30 UTC is 00:30 on the 3rd in Tokyo: another day
    {
        "img": "/img/china.jpg",
        "time": "2026-11-02T15:30:00+00:00",
        "author": "traveller",
        "caption": "late",
        "link": "/p/7",
    },
    # 15:30 UTC on the 1st is 00:30 on the 2nd in Tokyo: this day
    {
        "img": "/img/grace_hopper.jpg",
        "time": "2026-11-01T15:30:00Z",
        "author": "history_buff",
        "caption": "Grace Hopper #history",
        "link": "/p/8",
    },
    {
        "img": "/img/flower.jpg",
        "time": "2026-11-01T12:00:00+09:00",
        "author": "gardener",
        "caption": "yesterday",
        "link": "/p/9",
    },
    {
        "img": "/img/motorcycle.png",
        "time": None,
        "author": "rider",
        "caption": "no time",
        "link": "/p/10",
    },
    {
        "img": "/img/chelsea.png",
        "time": "2026-11-02T18:00:00+09:00",
        "author": "copycat",
        "caption": "repost",
        "link": "/p/11",
    },
    {
        "img": "ftp://127.0.0.1/img/rocket.jpg",
        "time": "2026-11-02T19:00:00+09:00",
        "author": "ftp_user",
        "caption": "ftp",
        "link": "/p/12",
    },
]
PAGE_SIZE = 4

GALLERY_HTML = """<!doctype html>
<html><head><meta charset="utf-8"><title>Shibuya gallery</title>
<style>.post { height: 900px; }</style></head>
<body><h1>Shibuya</h1><div id="feed"></div>
<script>
let page = 0, loading = false, done = false;
const feed = document.getElementById("feed");
const lazy = new IntersectionObserver((entries) => {
  for (const e of entries) {
    if (e.isIntersecting) { e.target.src = e.target.dataset.src; lazy.unobserve(e.target); }
  }
});
function el(tag, cls, text) {
  const n = document.createElement(tag);
  if (cls) n.className = cls;
  if (text) n.textContent = text;
  return n;
}
async function more() {
  if (loading || done) return;
  loading = true;
  const data = await (await fetch("/api/posts?page=" + page)).json();
  for (const p of data.posts) {
    const post = el("article", "post");
    const link = el("a", "permalink"); link.href = p.link;
    const img = el("img", "photo"); img.src = "/placeholder.gif"; img.dataset.src = p.img;
    link.appendChild(img); post.appendChild(link);
    if (p.time) {
      const t = el("time", "", "posted"); t.setAttribute("datetime", p.time); post.appendChild(t);
    }
    post.appendChild(el("span", "author", p.author));
    post.appendChild(el("p", "caption", p.caption));
    feed.appendChild(post);
    lazy.observe(img);
  }
  page += 1; done = !data.more; loading = false;
}
window.addEventListener("scroll", () => {
  if (window.innerHeight + window.scrollY >= document.body.scrollHeight - 300) more();
});
more();
</script></body></html>
"""

# Server-rendered pages linked by "next" (the last one links back to the first: a loop).
# Each card: (srcset, src, text time, author); the largest srcset candidate is the photo.
CARDS = {
    1: [
        (
            "/img/x-320.jpg 320w, /img/chelsea.png 1024w, /img/x-640.jpg 640w",
            "/img/x.jpg",
            "02.11.2026 09:05",
            "alice",
        ),
        ("/img/x-1.jpg, /img/flaky/rocket.jpg 2x", "/img/x.jpg", "02.11.2026 23:59", "bob"),
    ],
    2: [
        ("", "/img/busy/bus.jpg", "02.11.2026 00:00", "carol"),  # no srcset: falls back to src
        ("/img/china.jpg 800w", "/img/x.jpg", "03.11.2026 00:10", "dave"),  # another day
    ],
    3: [
        ("/img/grace_hopper.jpg 512w", "/img/x.jpg", "02.11.2026 12:00", "erin"),
        ("/img/flower.jpg 512w", "/img/x.jpg", "yesterday-ish", "frank"),  # unparsable time
    ],
}


def _cards_html(n: int) -> str:
    cards = "".join(
        f'<div class="card"><img src="{src}" srcset="{srcset}">'
        f'<span class="when">{when}</span><b class="by">{author}</b></div>'
        for srcset, src, when, author in CARDS[n]
    )
    nxt = f"/pages/1?d={DAY.isoformat()}#top" if n == len(CARDS) else f"/pages/{n + 1}"
    return (
        f"<!doctype html><html><body><main>{cards}</main>"
        f'<a class="next" href="{nxt}">Next</a></body></html>'
    )


@dataclass
class Site:
    """The running test site: its base URL and every request it answered."""

    base: str
    requests: list[tuple[str, str]] = field(default_factory=list)  # (path, user agent)
    served: dict[str, int] = field(default_factory=dict)

    def hits(self, path: str) -> int:
        return sum(1 for p, _ in self.requests if p == path)


def _handler(site: Site, photos: dict[str, bytes]) -> type[BaseHTTPRequestHandler]:
    lock = threading.Lock()

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, format: str, *args: Any) -> None:
            pass

        def _send(
            self, status: int, body: bytes, ctype: str, headers: dict[str, str] | None = None
        ) -> None:
            self.send_response(status)
            self.send_header("Content-Type", ctype)
            self.send_header("Content-Length", str(len(body)))
            for k, v in (headers or {}).items():
                self.send_header(k, v)
            self.end_headers()
            self.wfile.write(body)

        def do_GET(self) -> None:
            url = urlsplit(self.path)
            path = url.path
            with lock:
                site.requests.append((path, self.headers.get("User-Agent", "")))
                nth = site.served[path] = site.served.get(path, 0) + 1
            if path == "/robots.txt":
                self._send(200, ROBOTS.encode(), "text/plain")
            elif path == f"/gallery/shibuya/{DAY.isoformat()}":
                self._send(200, GALLERY_HTML.encode(), "text/html; charset=utf-8")
            elif path == "/api/posts":
                page = int(parse_qs(url.query).get("page", ["0"])[0])
                batch = FEED[page * PAGE_SIZE : (page + 1) * PAGE_SIZE]
                more = (page + 1) * PAGE_SIZE < len(FEED)
                body = json.dumps({"posts": batch, "more": more}).encode()
                self._send(200, body, "application/json")
            elif path.startswith("/pages/") and path[7:].isdigit() and int(path[7:]) in CARDS:
                self._send(200, _cards_html(int(path[7:])).encode(), "text/html; charset=utf-8")
            elif path == "/placeholder.gif":
                self._send(200, PLACEHOLDER_GIF, "image/gif")
            elif path == "/img/flaky/rocket.jpg" and nth == 1:
                self._send(500, b"oops", "text/plain")
            elif path == "/img/busy/bus.jpg" and nth == 1:
                self._send(429, b"slow down", "text/plain", {"Retry-After": "0"})
            elif path == "/img/stream/coffee.png":
                self.send_response(200)  # HTTP/1.0, no Content-Length: the body ends at close
                self.send_header("Content-Type", "image/png")
                self.end_headers()
                data = photos[path]
                for i in range(0, len(data), 32 * 1024):
                    self.wfile.write(data[i : i + 32 * 1024])
            elif path in photos:
                ctype = "image/png" if path.endswith(".png") else "image/jpeg"
                self._send(200, photos[path], ctype)
            else:
                self._send(404, b"not found", "text/plain")

    return Handler


@pytest.fixture(scope="module")
def photos() -> dict[str, bytes]:
    return {path: sample_photo_path(name).read_bytes() for path, name in IMAGES_SERVED.items()}


@pytest.fixture
def site(photos: dict[str, bytes]) -> Iterator[Site]:
    """A fresh site (its flaky counters reset) on a free local port."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), BaseHTTPRequestHandler)
    site = Site(base=f"http://127.0.0.1:{server.server_address[1]}")
    server.RequestHandlerClass = _handler(site, photos)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield site
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture(scope="module", autouse=True)
def chromium() -> None:
    """These tests need Chromium and chromedriver: fail (never skip) when they are missing."""
    missing = [n for n in ("chromium", "chromedriver") if shutil.which(n) is None]
    if missing:
        pytest.fail(
            f"{' and '.join(missing)} not on PATH: run `make setup` (installs the Debian "
            "packages chromium and chromium-driver) or apt-get install chromium chromium-driver"
        )


def _sha_name(data: bytes, ext: str) -> str:
    return f"{hashlib.sha256(data).hexdigest()}.{ext}"


def _scraper(site: Site, **overrides: Any) -> dict[str, Any]:
    settings: dict[str, Any] = {
        "url_template": site.base + "/gallery/{location}/{date}",
        "selectors": {
            "item": "article.post",
            "image": "img.photo",
            "image_attr": "data-src",
            "time": "time",
            "caption": ".caption",
            "author": ".author",
            "link": "a.permalink",
            "wait_for": "article.post",
        },
        "min_interval_s": 0.0,
        "backoff_s": 0.0,
        "retries": 2,
        "scroll_pause_s": 1.5,
        "page_timeout_s": 20,
        "user_agent": UA,
    }
    settings.update(overrides)
    return settings


def _source(site: Site, root: Path, **overrides: Any) -> SourceConfig:
    return SourceConfig.model_validate(
        {
            "type": "scraper",
            "path": str(root),
            "max_file_bytes": MAX_BYTES,
            "scraper": _scraper(site, **overrides),
        }
    )


def _scraper_config(site: Site, root: Path, data: Path) -> TrendscopeConfig:
    """The whole config with the scraper source downloading into ``root``."""
    return load_config(
        environ={},
        overrides={
            "data_dir": str(data),
            "models_dir": str(REPO / "models"),
            "source": _source(site, root).model_dump(),
        },
    )


def _manifest(root: Path) -> list[dict[str, Any]]:
    path = root / "shibuya" / DAY.isoformat() / "posts.jsonl"
    return [json.loads(line) for line in path.read_text().splitlines()]


def test_infinite_scroll_gallery(site: Site, photos: dict[str, bytes], tmp_path: Path) -> None:
    loc = Location(slug="shibuya", timezone="Asia/Tokyo")
    report = scrape_day(_source(site, tmp_path), loc, DAY, str(tmp_path))

    kept = {
        "/img/chelsea.png": _sha_name(photos["/img/chelsea.png"], "png"),
        "/img/flaky/rocket.jpg": _sha_name(photos["/img/flaky/rocket.jpg"], "jpg"),
        "/img/busy/bus.jpg": _sha_name(photos["/img/busy/bus.jpg"], "jpg"),
        "/img/grace_hopper.jpg": _sha_name(photos["/img/grace_hopper.jpg"], "jpg"),
    }
    folder = tmp_path / "shibuya" / DAY.isoformat()
    assert sorted(p.name for p in folder.iterdir()) == sorted([*kept.values(), "posts.jsonl"])
    for path, name in kept.items():
        assert (folder / name).read_bytes() == photos[path]

    assert _manifest(tmp_path) == [
        {
            "image": kept["/img/chelsea.png"],
            "location": "shibuya",
            "taken_at": "2026-11-02T10:00:00+09:00",
            "author": "neko_fan",
            "caption": "Nap time in Shibuya #cat #shibuya",
            "hashtags": ["cat", "shibuya"],
            "source_url": f"{site.base}/p/1",
            "image_url": f"{site.base}/img/chelsea.png",
        },
        {
            "image": kept["/img/flaky/rocket.jpg"],
            "location": "shibuya",
            "taken_at": "2026-11-02T11:15:00+09:00",
            "author": "space_jp",
            "caption": "Launch day",
            "source_url": f"{site.base}/p/2",
            "image_url": f"{site.base}/img/flaky/rocket.jpg",
        },
        {
            "image": kept["/img/busy/bus.jpg"],
            "location": "shibuya",
            "taken_at": "2026-11-02T12:30:00+09:00",
            "author": "transit_tokyo",
            "caption": "Morning bus #commute",
            "hashtags": ["commute"],
            "source_url": f"{site.base}/p/3",
            "image_url": f"{site.base}/img/busy/bus.jpg",
        },
        {
            "image": kept["/img/grace_hopper.jpg"],
            "location": "shibuya",
            "taken_at": "2026-11-01T15:30:00+00:00",
            "author": "history_buff",
            "caption": "Grace Hopper #history",
            "hashtags": ["history"],
            "source_url": f"{site.base}/p/8",
            "image_url": f"{site.base}/img/grace_hopper.jpg",
        },
    ]
    assert report == ScrapeReport(
        location="shibuya",
        day=DAY,
        pages=3,  # the first batch and two scroll rounds that brought more posts
        items_seen=12,
        kept=4,
        outside_date=2,
        no_time=1,
        bad_url=1,
        disallowed=1,
        duplicates_url=1,
        too_large=2,
    )

    # the browser fetched the page and the feed but no image; every image came from the client
    assert site.hits("/api/posts") == 3
    assert site.hits("/placeholder.gif") == 0
    assert site.hits("/img/private/zidane.jpg") == 0  # robots.txt
    assert site.hits("/img/flaky/rocket.jpg") == 2  # 500, then retried
    assert site.hits("/img/busy/bus.jpg") == 2  # 429 with Retry-After: 0, then retried
    assert site.hits("/img/chelsea.png") == 1  # two posts, one download
    for path in ("/img/china.jpg", "/img/flower.jpg", "/img/motorcycle.png"):
        assert site.hits(path) == 0  # other days and no time: never downloaded
    assert site.hits("/img/big/astronaut.png") == 1
    assert site.hits("/img/stream/coffee.png") == 1
    assert site.hits("/robots.txt") == 1
    assert {ua for _, ua in site.requests} == {UA}


def test_rerun_replaces_the_manifest_and_prunes_stale_files(site: Site, tmp_path: Path) -> None:
    loc = Location(slug="shibuya", timezone="Asia/Tokyo")
    folder = tmp_path / "shibuya" / DAY.isoformat()
    folder.mkdir(parents=True)
    stale = folder / f"{'0' * 64}.jpg"
    stale.write_bytes(b"from an earlier run")
    (folder / "posts.jsonl").write_text('{"image": "gone.jpg"}\n')
    source = _source(site, tmp_path, max_posts=2)

    report = scrape_day(source, loc, DAY, str(tmp_path))

    # in-day posts with an http(s) image: 7; the first two are kept
    assert (report.kept, report.over_max_posts, report.pruned) == (2, 5, 1)
    assert not stale.exists()
    assert [p["author"] for p in _manifest(tmp_path)] == ["neko_fan", "space_jp"]
    assert len(list(folder.iterdir())) == 3


@pytest.mark.parametrize(
    ("max_pages", "pages", "authors"),
    [(10, 3, ["alice", "bob", "carol", "erin"]), (2, 2, ["alice", "bob", "carol"])],
)
def test_next_link_pages(
    site: Site,
    photos: dict[str, bytes],
    tmp_path: Path,
    max_pages: int,
    pages: int,
    authors: list[str],
) -> None:
    selectors = {
        "item": ".card",
        "image": "img",
        "image_attr": "srcset",
        "time": ".when",
        "time_attr": None,
        "time_format": "%d.%m.%Y %H:%M",
        "author": ".by",
        "next": "a.next",
        "wait_for": ".card",
    }
    source = _source(
        site,
        tmp_path,
        url_template=site.base + "/pages/1?d={date}",
        selectors=selectors,
        max_pages=max_pages,
    )
    loc = Location(slug="shibuya", timezone="Asia/Tokyo")

    report = scrape_day(source, loc, DAY, str(tmp_path))

    manifest = _manifest(tmp_path)
    assert [p["author"] for p in manifest] == authors
    assert [p["taken_at"] for p in manifest][:3] == [
        "2026-11-02T09:05:00",  # naive: local time in Tokyo
        "2026-11-02T23:59:00",
        "2026-11-02T00:00:00",
    ]
    assert [p["image_url"] for p in manifest][:3] == [
        f"{site.base}/img/chelsea.png",  # 1024w beats 640w and 320w
        f"{site.base}/img/flaky/rocket.jpg",  # 2x beats 1x
        f"{site.base}/img/busy/bus.jpg",  # empty srcset: src
    ]
    assert report.pages == pages
    assert report.outside_date == 1
    assert report.no_time == (1 if pages == 3 else 0)
    assert site.hits("/pages/1") == 1  # page 3 links back to page 1: not loaded twice
    assert site.hits("/img/x.jpg") == 0


def test_ingest_day_with_scraper_source(site: Site, tmp_path: Path) -> None:
    from trendscope.pipeline.ingest import ingest_day

    root = tmp_path / "dropzone"
    config = _scraper_config(site, root, tmp_path / "data")

    result = ingest_day(config, "shibuya", DAY)

    assert result.counts == {"posts": 4, "ok": 4, "duplicate": 0, "quarantined": 0, "shards": 1}
    path = partition_path(config.data_root, IMAGES.name, "shibuya", DAY, area="staging")
    rows = storage.read_table(path).to_pylist()
    assert sorted(r["author"] for r in rows) == [
        "history_buff",
        "neko_fan",
        "space_jp",
        "transit_tokyo",
    ]
    assert {r["status"] for r in rows} == {"ok"}
    assert {r["format"] for r in rows} == {"PNG", "JPEG"}
    assert all(Path(r["source_uri"]).parent == root / "shibuya" / DAY.isoformat() for r in rows)
    assert {r["image_id"] + Path(r["source_uri"]).suffix for r in rows} == {
        Path(r["source_uri"]).name for r in rows
    }  # the file name is the SHA-256 of the bytes, as the ingest step computes it


def test_a_repost_under_another_url_is_kept_as_an_exact_duplicate(
    site: Site, photos: dict[str, bytes], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from trendscope.pipeline.ingest import ingest_day

    feed = [
        {"img": "/img/chelsea.png", "time": "2026-11-02T10:00:00+09:00", "author": "neko_fan",
         "caption": "original", "link": "/p/1"},
        {"img": "/cdn/reposted/chelsea.png", "time": "2026-11-02T18:00:00+09:00",
         "author": "copycat", "caption": "repost", "link": "/p/2"},
        {"img": "/img/china.jpg", "time": "2026-11-02T12:00:00+09:00", "author": "traveller",
         "caption": "other", "link": "/p/3"},
    ]  # fmt: skip
    monkeypatch.setattr(f"{__name__}.FEED", feed)
    root = tmp_path / "dropzone"
    config = _scraper_config(site, root, tmp_path / "data")

    result = ingest_day(config, "shibuya", DAY)

    # each post keeps its own file and row; the later copy of the same bytes is the duplicate
    assert result.counts == {"posts": 3, "ok": 2, "duplicate": 1, "quarantined": 0, "shards": 1}
    chelsea = hashlib.sha256(photos["/img/chelsea.png"]).hexdigest()
    names = sorted(p.name for p in (root / "shibuya" / DAY.isoformat()).iterdir())
    assert f"{chelsea}.png" in names and f"{chelsea}-2.png" in names
    path = partition_path(config.data_root, IMAGES.name, "shibuya", DAY, area="staging")
    rows = {r["author"]: r for r in storage.read_table(path).to_pylist()}
    assert rows["neko_fan"]["status"] == "ok"
    assert rows["copycat"]["status"] == "duplicate"
    assert rows["copycat"]["duplicate_of"] == rows["neko_fan"]["image_id"] == chelsea
    assert len({r["source_uri"] for r in rows.values()}) == 3  # one row per file: keys hold
