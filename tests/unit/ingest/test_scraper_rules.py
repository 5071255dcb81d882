from __future__ import annotations

import hashlib
from datetime import UTC, date, datetime, timedelta, timezone

import pytest
from bs4 import BeautifulSoup

from trendscope.config import Location, ScraperConfig, ScraperSelectors
from trendscope.ingest.scraper import (
    ScrapedItem,
    ScrapeError,
    ScrapeReport,
    content_name,
    day_dir,
    image_url,
    largest_srcset_candidate,
    page_url,
    parse_items,
    parse_retry_after,
    parse_time,
    retry_delay,
    select_items,
    sniff_extension,
    start_browser,
    url_problem,
)

BASE = "https://example.com/gallery/shibuya/2026-11-02"
TOKYO = Location(slug="shibuya", timezone="Asia/Tokyo")
DAY = date(2026, 11, 2)


@pytest.mark.parametrize(
    ("srcset", "expected"),
    [
        ("a.jpg 320w, b.jpg 1024w, c.jpg 640w", "b.jpg"),
        ("a.jpg 1x, b.jpg 2x, c.jpg 1.5x", "b.jpg"),
        ("a.jpg, b.jpg 2x", "b.jpg"),  # no descriptor means 1x
        ("a.jpg 3x, b.jpg 100w", "b.jpg"),  # width descriptors rank above densities
        ("  only.jpg  ", "only.jpg"),
        ("a.jpg 1x,b.jpg 2x", "b.jpg"),  # a comma after descriptors needs no space
        ("a.jpg,, b.jpg 2x", "b.jpg"),  # trailing commas end a URL
        ("img/a,b.jpg 400w, c.jpg 200w", "img/a,b.jpg"),  # commas inside a URL
        ("a.jpg 2x, b.jpg bogus", "a.jpg"),  # a bad descriptor counts as 1x
        ("", None),
        (" , ", None),
        (None, None),
    ],
)
def test_largest_srcset_candidate(srcset: str | None, expected: str | None) -> None:
    assert largest_srcset_candidate(srcset) == expected


@pytest.mark.parametrize(
    ("img", "attr", "expected"),
    [
        ('<img src="/p.gif" data-src="/big.jpg">', "data-src", "https://example.com/big.jpg"),
        ('<img src="/p.gif" data-src="">', "data-src", "https://example.com/p.gif"),
        ('<img src="/p.gif">', "srcset", "https://example.com/p.gif"),
        (
            '<img src="s.jpg" srcset="m.jpg 2x, l.jpg 3x">',
            "srcset",
            f"{BASE.rsplit('/', 1)[0]}/l.jpg",
        ),
        ('<img src="https://cdn.example.net/x.jpg">', "src", "https://cdn.example.net/x.jpg"),
        ("<img>", "src", None),
    ],
)
def test_image_url(img: str, attr: str, expected: str | None) -> None:
    tag = BeautifulSoup(img, "html.parser").img
    assert image_url(tag, attr, BASE) == expected


@pytest.mark.parametrize(
    ("value", "fmt", "expected"),
    [
        (
            "2026-11-02T10:00:00+09:00",
            None,
            datetime(2026, 11, 2, 10, tzinfo=timezone(timedelta(hours=9))),
        ),
        ("2026-11-02T01:00:00Z", None, datetime(2026, 11, 2, 1, tzinfo=UTC)),
        ("2026-11-02 10:00", None, datetime(2026, 11, 2, 10)),
        ("  02.11.2026\n 09:05 ", "%d.%m.%Y %H:%M", datetime(2026, 11, 2, 9, 5)),
        ("Nov 2, 2026 9:05 PM", "%b %d, %Y %I:%M %p", datetime(2026, 11, 2, 21, 5)),
        ("2026-11-02T10:00:00+09:00", "%d.%m.%Y", None),  # format does not match
        ("yesterday", None, None),
        ("", None, None),
        (None, None, None),
    ],
)
def test_parse_time(value: str | None, fmt: str | None, expected: datetime | None) -> None:
    assert parse_time(value, fmt) == expected


@pytest.mark.parametrize(
    ("url", "ok"),
    [
        ("https://example.com/a.jpg", True),
        ("http://127.0.0.1:8080/a.jpg", True),
        ("ftp://example.com/a.jpg", False),
        ("file:///etc/passwd", False),
        ("javascript:alert(1)", False),
        ("data:image/png;base64,AAAA", False),
        ("/relative/a.jpg", False),
        ("https:///no-host", False),
        ("http://[::1", False),  # malformed
        ("", False),
        (None, False),
    ],
)
def test_url_problem(url: str | None, ok: bool) -> None:
    assert (url_problem(url) is None) is ok


@pytest.mark.parametrize(
    ("head", "ext"),
    [
        (b"\xff\xd8\xff\xe0\x00\x10JFIF", "jpg"),
        (b"\x89PNG\r\n\x1a\n\x00\x00", "png"),
        (b"GIF89a\x01\x00", "gif"),
        (b"RIFF\x10\x00\x00\x00WEBPVP8 ", "webp"),
        (b"\x00\x00\x00\x1cftypavif", "avif"),
        (b"\x00\x00\x00\x18ftypheic", "heic"),
        (b"II*\x00\x08\x00", "tif"),
        (b"<!DOCTYPE html><html>", "bin"),  # never an extension from the page or the URL
        (b"", "bin"),
    ],
)
def test_sniff_extension(head: bytes, ext: str) -> None:
    assert sniff_extension(head) == ext


def test_content_name_is_the_sha256_of_the_bytes() -> None:
    from trendscope.photos import sample_photo_path

    data = sample_photo_path("grace_hopper").read_bytes()
    assert content_name(data) == hashlib.sha256(data).hexdigest() + ".jpg"
    assert content_name(data, 3) == hashlib.sha256(data).hexdigest() + "-3.jpg"  # a repost
    assert day_dir("/dz/", "shibuya", DAY) == "/dz/shibuya/2026-11-02"


@pytest.mark.parametrize(
    ("template", "expected"),
    [
        ("https://g.example/{location}/{date}", "https://g.example/shibuya/2026-11-02"),
        (
            "https://g.example/feed?place={location}&day={date}&x={other}",
            "https://g.example/feed?place=shibuya&day=2026-11-02&x={other}",
        ),
    ],
)
def test_page_url(template: str, expected: str) -> None:
    assert page_url(template, "shibuya", DAY) == expected


NOW = datetime(2026, 11, 2, 12, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        ("0", 0.0),
        ("120", 120.0),
        ("Mon, 02 Nov 2026 12:00:30 GMT", 30.0),
        ("Mon, 02 Nov 2026 11:00:00 GMT", 0.0),  # a date in the past: retry now
        ("soon", None),
        ("-5", None),
        ("", None),
        (None, None),
    ],
)
def test_parse_retry_after(header: str | None, expected: float | None) -> None:
    assert parse_retry_after(header, now=NOW) == expected


@pytest.mark.parametrize(
    ("attempt", "backoff", "retry_after", "expected"),
    [
        (0, 2.0, None, 2.0),
        (1, 2.0, None, 4.0),
        (3, 0.5, None, 4.0),
        (2, 2.0, 0.0, 0.0),  # Retry-After wins over the backoff
        (0, 2.0, 30.0, 30.0),
    ],
)
def test_retry_delay(
    attempt: int, backoff: float, retry_after: float | None, expected: float
) -> None:
    assert retry_delay(attempt, backoff, retry_after) == expected


def test_parse_items_reads_every_part() -> None:
    html = """
    <div class="post"><a class="l" href="/p/1"><img data-src="/a.jpg" src="/ph.gif"></a>
      <time datetime="2026-11-02T10:00:00+09:00">10am</time>
      <span class="by"> neko </span><p class="cap">Cat   #cat</p></div>
    <div class="post"><img src="/b.jpg"><time>2026-11-02T11:00:00</time>
      <a class="l" href="javascript:void(0)">x</a></div>
    """
    selectors = ScraperSelectors(
        item=".post", image_attr="data-src", caption=".cap", author=".by", link="a.l"
    )
    assert parse_items(html, BASE, selectors) == [
        ScrapedItem(
            image_url="https://example.com/a.jpg",
            taken_at=datetime(2026, 11, 2, 10, tzinfo=timezone(timedelta(hours=9))),
            caption="Cat #cat",
            author="neko",
            link="https://example.com/p/1",
        ),
        # no datetime attribute: the element's text; a javascript: link is dropped
        ScrapedItem(image_url="https://example.com/b.jpg", taken_at=datetime(2026, 11, 2, 11)),
    ]


def test_select_items_counts_every_reason() -> None:
    t = datetime(2026, 11, 2, 12, tzinfo=TOKYO.tz)
    items = [
        ScrapedItem("https://x.example/1.jpg", t),
        ScrapedItem("https://x.example/2.jpg", None),
        ScrapedItem(
            "https://x.example/3.jpg", datetime(2026, 11, 2, 16, tzinfo=UTC)
        ),  # 3rd in Tokyo
        ScrapedItem(None, t),
        ScrapedItem("ftp://x.example/4.jpg", t),
        ScrapedItem("https://x.example/1.jpg", t),
        ScrapedItem("https://x.example/5.jpg", datetime(2026, 11, 2, 23, 59)),  # naive: local
        ScrapedItem("https://x.example/6.jpg", t),
    ]
    report = ScrapeReport(location="shibuya", day=DAY)
    chosen = select_items(items, TOKYO, DAY, max_posts=2, report=report)
    assert [i.image_url for i in chosen] == ["https://x.example/1.jpg", "https://x.example/5.jpg"]
    assert report == ScrapeReport(
        location="shibuya",
        day=DAY,
        items_seen=8,
        no_time=1,
        outside_date=1,
        no_image=1,
        bad_url=1,
        duplicates_url=1,
        over_max_posts=1,
    )


@pytest.mark.parametrize(
    ("overrides", "names"),
    [
        ({"chromedriver": "/nonexistent/chromedriver"}, "source.scraper.chromedriver"),
        (
            {"chromedriver": "/bin/true", "chromium_binary": "/nonexistent/chromium"},
            "source.scraper.chromium_binary",
        ),
    ],
)
def test_missing_browser_names_the_setting(overrides: dict[str, str], names: str) -> None:
    settings = ScraperConfig(
        url_template="https://g.example/{date}",
        selectors=ScraperSelectors(item=".post"),
        **overrides,
    )
    with pytest.raises(ScrapeError, match=names.replace(".", r"\.")):
        start_browser(settings)


def test_unreachable_site_fails_without_touching_the_day(tmp_path) -> None:
    """robots.txt cannot be read (nothing listens): the scrape fails, earlier files stay."""
    import socket

    from trendscope.config import SourceConfig
    from trendscope.ingest.scraper import scrape_day

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]  # closed again: connections are refused
    source = SourceConfig(
        type="scraper",
        scraper=ScraperConfig(
            url_template=f"http://127.0.0.1:{port}/{{date}}",
            selectors=ScraperSelectors(item=".post"),
            retries=1,
            backoff_s=0.0,
            min_interval_s=0.0,
        ),
    )
    folder = tmp_path / "shibuya" / DAY.isoformat()
    folder.mkdir(parents=True)
    (folder / "posts.jsonl").write_text("earlier\n")
    with pytest.raises(ScrapeError, match=r"robots\.txt"):
        scrape_day(source, TOKYO, DAY, str(tmp_path))
    assert (folder / "posts.jsonl").read_text() == "earlier\n"
