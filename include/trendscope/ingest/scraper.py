"""Scrape the gallery page of one location-day into the drop zone layout.

Headless Chromium (Selenium) renders the page, JavaScript-built feeds and infinite scroll
included, and BeautifulSoup reads the rendered HTML. The browser loads no images: every image is
downloaded here with ``requests`` under the same politeness rules (robots.txt, a minimum interval
per host, retries with backoff on 429/5xx, a byte cap). Files are named by the SHA-256 of their
bytes plus an extension sniffed from those bytes, so nothing from the page reaches a path. One
``posts.jsonl`` manifest per day carries the metadata to the ingest step.
"""

from __future__ import annotations

import hashlib
import json
import logging
import re
import shutil
import threading
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass
from datetime import UTC, date, datetime
from email.utils import parsedate_to_datetime
from typing import TYPE_CHECKING, Any
from urllib.parse import quote, urldefrag, urljoin, urlsplit
from urllib.robotparser import RobotFileParser

import requests
from bs4 import BeautifulSoup

from trendscope.config import Location, ScraperConfig, ScraperSelectors, SourceConfig
from trendscope.ingest.dropzone import MANIFEST_NAME, local_date
from trendscope.tables import storage

if TYPE_CHECKING:
    from bs4 import Tag
    from selenium.webdriver.remote.webdriver import WebDriver

log = logging.getLogger(__name__)

MAX_RETRY_AFTER_S = 300.0  # a server asking for a longer pause fails the download instead
MAX_REDIRECTS = 5
ROBOTS_MAX_BYTES = 512 * 1024
_CHUNK = 64 * 1024
_CONTENT_NAME = re.compile(r"^[0-9a-f]{64}(-\d+)?\.[a-z0-9]{2,4}$")
_HASHTAG = re.compile(r"#(\w+)")

CHROMIUM_ARGS: tuple[str, ...] = (
    "--headless=new",
    "--no-sandbox",
    "--disable-dev-shm-usage",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-default-apps",
    "--disable-extensions",
    "--disable-features=Translate,OptimizationHints,MediaRouter",
    "--no-first-run",
    "--no-default-browser-check",
    "--password-store=basic",
    "--mute-audio",
    "--blink-settings=imagesEnabled=false",  # images are downloaded politely by this module
    "--window-size=1280,2000",
)


class ScrapeError(RuntimeError):
    """The page could not be scraped (setup or a transient failure); the task should fail."""


class DownloadError(Exception):
    """One file could not be fetched; ``kind`` is the report counter it adds to."""

    def __init__(self, kind: str, message: str, status: int | None = None) -> None:
        super().__init__(message)
        self.kind = kind  # bad_url | disallowed | too_large | failed_downloads
        self.status = status


@dataclass
class ScrapeReport:
    """What one scrape of a location-day found, kept and skipped (and why)."""

    location: str
    day: date
    pages: int = 0
    items_seen: int = 0
    kept: int = 0
    outside_date: int = 0
    no_time: int = 0
    no_image: int = 0
    bad_url: int = 0
    disallowed: int = 0
    duplicates_url: int = 0
    over_max_posts: int = 0
    too_large: int = 0
    failed_downloads: int = 0
    pruned: int = 0  # files of an earlier run that this run's manifest no longer names

    def summary(self) -> str:
        counts = {k: v for k, v in asdict(self).items() if k not in ("location", "day")}
        return " ".join(f"{k}={v}" for k, v in counts.items())


@dataclass(frozen=True)
class ScrapedItem:
    """One post as read from the page, before any check."""

    image_url: str | None
    taken_at: datetime | None
    caption: str | None = None
    author: str | None = None
    link: str | None = None


# --- rules (pure functions) -------------------------------------------------------------------


def page_url(template: str, location: str, day: date) -> str:
    """The gallery URL of ``location`` on ``day`` (``{location}`` and ``{date}`` filled in)."""
    return template.replace("{location}", quote(location, safe="")).replace(
        "{date}", day.isoformat()
    )


def url_problem(url: str | None) -> str | None:
    """Why ``url`` may not be fetched, or None: only absolute http(s) URLs with a host."""
    if not url:
        return "no URL"
    try:
        parts = urlsplit(url)
        host = parts.hostname
    except ValueError:
        return "malformed URL"
    if parts.scheme not in ("http", "https"):
        return f"scheme {parts.scheme or '(none)'!r} is not http or https"
    if not host:
        return "URL has no host"
    return None


def _srcset_candidates(srcset: str) -> list[tuple[str, str]]:
    """``(url, descriptor)`` pairs of a ``srcset``, split as the HTML standard does."""
    out: list[tuple[str, str]] = []
    pos, n = 0, len(srcset)
    while pos < n:
        while pos < n and (srcset[pos].isspace() or srcset[pos] == ","):
            pos += 1
        start = pos
        while pos < n and not srcset[pos].isspace():
            pos += 1
        url = srcset[start:pos]
        if not url:
            break
        if url.endswith(","):
            out.append((url.rstrip(","), ""))
            continue
        start = pos
        while pos < n and srcset[pos] != ",":
            pos += 1
        out.append((url, srcset[start:pos].strip()))
    return out


def _descriptor_rank(descriptor: str) -> tuple[int, float]:
    """Width descriptors rank above density ones; no (or a bad) descriptor means ``1x``."""
    token = descriptor.split()[0].lower() if descriptor.split() else "1x"
    try:
        if token.endswith("w"):
            return (1, float(token[:-1]))
        if token.endswith("x"):
            return (0, float(token[:-1]))
    except ValueError:
        pass
    return (0, 1.0)


def largest_srcset_candidate(srcset: str | None) -> str | None:
    """The URL of the largest candidate in a ``srcset`` (widest ``w``, else densest ``x``)."""
    candidates = _srcset_candidates(srcset or "")
    if not candidates:
        return None
    return max(candidates, key=lambda c: _descriptor_rank(c[1]))[0]


def _attr(tag: Tag | None, name: str) -> str | None:
    if tag is None:
        return None
    value = tag.get(name)
    if isinstance(value, list):
        value = " ".join(value)
    value = (value or "").strip()
    return value or None


def image_url(img: Tag | None, attr: str, base: str) -> str | None:
    """The absolute image URL from ``attr`` (``srcset``: its largest candidate), else ``src``."""
    raw = _attr(img, attr)
    value = largest_srcset_candidate(raw) if attr == "srcset" else raw
    value = value or _attr(img, "src")
    return urljoin(base, value) if value else None


def parse_time(value: str | None, fmt: str | None = None) -> datetime | None:
    """A post time from ISO 8601 text, or from ``fmt`` (strptime) when given; None if unreadable."""
    text = " ".join((value or "").split())
    if not text:
        return None
    try:
        return datetime.strptime(text, fmt) if fmt else datetime.fromisoformat(text)
    except ValueError:
        return None


def parse_retry_after(value: str | None, now: datetime | None = None) -> float | None:
    """Seconds to wait from a ``Retry-After`` header (seconds or an HTTP date); None if absent."""
    text = (value or "").strip()
    if not text:
        return None
    if text.isdigit():
        return float(text)
    try:
        when = parsedate_to_datetime(text)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - (now or datetime.now(UTC))).total_seconds())


def retry_delay(attempt: int, backoff_s: float, retry_after: float | None) -> float:
    """Pause before retry ``attempt`` (0-based): the server's ``Retry-After``, else exponential."""
    return retry_after if retry_after is not None else backoff_s * 2**attempt


_MAGIC: tuple[tuple[bytes, str], ...] = (
    (b"\xff\xd8\xff", "jpg"),
    (b"\x89PNG\r\n\x1a\n", "png"),
    (b"GIF87a", "gif"),
    (b"GIF89a", "gif"),
    (b"II*\x00", "tif"),
    (b"MM\x00*", "tif"),
    (b"BM", "bmp"),
)


def sniff_extension(data: bytes) -> str:
    """A file extension from the leading bytes; ``bin`` when not a known image format."""
    for magic, ext in _MAGIC:
        if data.startswith(magic):
            return ext
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "webp"
    if data[4:8] == b"ftyp":
        brand = data[8:12]
        if brand in (b"avif", b"avis"):
            return "avif"
        if brand in (b"heic", b"heix", b"mif1", b"msf1", b"hevc"):
            return "heic"
    return "bin"


def content_name(data: bytes, copy: int = 1) -> str:
    """``<sha256>.<ext>``: the file name of downloaded bytes, from the bytes alone.

    The ``copy``-th post of the same bytes on a day (a repost under another URL) is saved as
    ``<sha256>-<copy>.<ext>``, so each post keeps its own file and ``images`` row and ingest marks
    the later ones exact duplicates of the first.
    """
    suffix = "" if copy == 1 else f"-{copy}"
    return f"{hashlib.sha256(data).hexdigest()}{suffix}.{sniff_extension(data)}"


def _text(item: Tag, selector: str | None) -> str | None:
    node = item.select_one(selector) if selector else None
    text = " ".join(node.get_text(" ").split()) if node is not None else ""
    return text or None


def parse_items(html: str, base_url: str, selectors: ScraperSelectors) -> list[ScrapedItem]:
    """Every post on a rendered page, in page order, with absolute URLs."""
    soup = BeautifulSoup(html, "html.parser")
    items = []
    for node in soup.select(selectors.item):
        time_node = node.select_one(selectors.time) if selectors.time else None
        raw_time = _attr(time_node, selectors.time_attr) if selectors.time_attr else None
        if raw_time is None and time_node is not None:
            raw_time = time_node.get_text(" ")
        link = _attr(node.select_one(selectors.link), "href") if selectors.link else None
        link = urljoin(base_url, link) if link else None
        items.append(
            ScrapedItem(
                image_url=image_url(
                    node.select_one(selectors.image), selectors.image_attr, base_url
                ),
                taken_at=parse_time(raw_time, selectors.time_format),
                caption=_text(node, selectors.caption),
                author=_text(node, selectors.author),
                link=link if url_problem(link) is None else None,
            )
        )
    return items


def next_page_url(html: str, base_url: str, selector: str) -> str | None:
    """The absolute URL of the page's "next" link, or None on the last page."""
    href = _attr(BeautifulSoup(html, "html.parser").select_one(selector), "href")
    return urldefrag(urljoin(base_url, href)).url if href else None


# --- polite HTTP --------------------------------------------------------------------------------


class PoliteClient:
    """HTTP GETs that honour robots.txt, a per-host interval, retries and a byte cap."""

    def __init__(self, settings: ScraperConfig) -> None:
        self.settings = settings
        self._session = requests.Session()
        self._session.headers.update({"User-Agent": settings.user_agent})
        self._lock = threading.Lock()
        self._next_slot: dict[str, float] = {}
        self._robots: dict[str, RobotFileParser] = {}
        self.robots_errors: dict[str, str] = {}  # origin -> why its robots.txt was unreadable

    def close(self) -> None:
        self._session.close()

    def wait_turn(self, url: str) -> None:
        """Sleep until ``min_interval_s`` has passed since the last request to this host."""
        host = urlsplit(url).netloc.lower()
        with self._lock:
            now = time.monotonic()
            slot = max(now, self._next_slot.get(host, now))
            self._next_slot[host] = slot + self.settings.min_interval_s
        if slot > now:
            time.sleep(slot - now)

    def allowed(self, url: str) -> bool:
        """Whether robots.txt of the URL's site lets our user agent fetch it."""
        if not self.settings.respect_robots:
            return True
        parts = urlsplit(url)
        origin = f"{parts.scheme}://{parts.netloc}"
        with self._lock:
            robots = self._robots.get(origin)
        if robots is None:
            robots = self._read_robots(origin)
            with self._lock:
                robots = self._robots.setdefault(origin, robots)
        return robots.can_fetch(self.settings.user_agent, url)

    def _read_robots(self, origin: str) -> RobotFileParser:
        robots = RobotFileParser(f"{origin}/robots.txt")
        try:
            text = self.fetch(robots.url, ROBOTS_MAX_BYTES, check_robots=False)
        except DownloadError as exc:
            if exc.status in (401, 403) or exc.status is None or exc.status >= 500:
                robots.disallow_all = True  # unreadable robots.txt: assume nothing is allowed
                self.robots_errors[origin] = str(exc)
                log.warning("robots.txt of %s unreadable (%s): not fetching there", origin, exc)
            else:
                robots.allow_all = True  # no robots.txt (404 and other 4xx): no rules
            return robots
        robots.parse(text.decode("utf-8", errors="replace").splitlines())
        return robots

    def _get(self, url: str) -> requests.Response:
        """One GET (redirects not followed), retried on network errors, 429 and 5xx."""
        retries = self.settings.retries
        for attempt in range(retries + 1):
            self.wait_turn(url)
            try:
                resp = self._session.get(
                    url, stream=True, timeout=self.settings.page_timeout_s, allow_redirects=False
                )
            except requests.RequestException as exc:
                if attempt == retries:
                    raise DownloadError("failed_downloads", f"{url}: {exc}") from exc
                wait = retry_delay(attempt, self.settings.backoff_s, None)
                reason = type(exc).__name__
            else:
                if (resp.status_code != 429 and resp.status_code < 500) or attempt == retries:
                    return resp
                after = parse_retry_after(resp.headers.get("Retry-After"))
                resp.close()
                if after is not None and after > MAX_RETRY_AFTER_S:
                    raise DownloadError(
                        "failed_downloads",
                        f"{url}: HTTP {resp.status_code} asks to retry after {after:.0f}s",
                        resp.status_code,
                    )
                wait = retry_delay(attempt, self.settings.backoff_s, after)
                reason = f"HTTP {resp.status_code}"
            log.info("%s for %s; retry %d/%d in %.1fs", reason, url, attempt + 1, retries, wait)
            time.sleep(wait)
        raise AssertionError("unreachable")

    def fetch(self, url: str, max_bytes: int, check_robots: bool = True) -> bytes:
        """The body of ``url`` (redirects followed, each hop checked), at most ``max_bytes``."""
        for _ in range(MAX_REDIRECTS + 1):
            problem = url_problem(url)
            if problem:
                raise DownloadError("bad_url", f"{url}: {problem}")
            if check_robots and not self.allowed(url):
                raise DownloadError("disallowed", f"robots.txt disallows {url}")
            with self._get(url) as resp:
                if resp.is_redirect:
                    url = urljoin(url, resp.headers["Location"])
                    continue
                if resp.status_code != 200:
                    raise DownloadError(
                        "failed_downloads", f"{url}: HTTP {resp.status_code}", resp.status_code
                    )
                return _read_capped(resp, url, max_bytes)
        raise DownloadError("failed_downloads", f"{url}: more than {MAX_REDIRECTS} redirects")


def _read_capped(resp: requests.Response, url: str, max_bytes: int) -> bytes:
    length = resp.headers.get("Content-Length", "")
    if length.isdigit() and int(length) > max_bytes:
        raise DownloadError("too_large", f"{url}: {length} bytes (limit {max_bytes})")
    body = bytearray()
    try:
        for chunk in resp.iter_content(_CHUNK):
            body += chunk
            if len(body) > max_bytes:
                raise DownloadError("too_large", f"{url}: over {max_bytes} bytes, aborted")
    except requests.RequestException as exc:
        raise DownloadError("failed_downloads", f"{url}: {exc}") from exc
    return bytes(body)


# --- the browser ----------------------------------------------------------------------------------


def _executable(configured: str | None, names: tuple[str, ...], what: str, key: str) -> str:
    found = shutil.which(configured) if configured else None
    if not configured:
        found = next((p for p in map(shutil.which, names) if p), None)
    if found:
        return found
    looked = repr(configured) if configured else f"{' / '.join(names)} on PATH"
    raise ScrapeError(
        f"{what} not found ({looked}): install it (Debian: apt-get install chromium "
        f"chromium-driver, which `make setup` does) or set source.scraper.{key}"
    )


def start_browser(settings: ScraperConfig) -> WebDriver:
    """Headless Chromium with the given driver and binary (Selenium Manager never runs)."""
    from selenium import webdriver
    from selenium.common.exceptions import WebDriverException
    from selenium.webdriver.chrome.service import Service

    driver_path = _executable(
        settings.chromedriver, ("chromedriver",), "chromedriver", "chromedriver"
    )
    binary = _executable(
        settings.chromium_binary,
        ("chromium", "chromium-browser", "google-chrome"),
        "Chromium",
        "chromium_binary",
    )
    options = webdriver.ChromeOptions()
    options.binary_location = binary
    for arg in (*CHROMIUM_ARGS, f"--user-agent={settings.user_agent}"):
        options.add_argument(arg)
    options.add_experimental_option("prefs", {"profile.managed_default_content_settings.images": 2})
    try:
        driver = webdriver.Chrome(service=Service(executable_path=driver_path), options=options)
    except WebDriverException as exc:
        raise ScrapeError(f"cannot start Chromium ({binary}) with {driver_path}: {exc}") from exc
    driver.set_page_load_timeout(settings.page_timeout_s)
    return driver


def _count(driver: WebDriver, selector: str) -> int:
    from selenium.webdriver.common.by import By

    return len(driver.find_elements(By.CSS_SELECTOR, selector))


def _page_allowed(client: PoliteClient, url: str, report: ScrapeReport) -> bool:
    """Whether a page may be loaded; an unreadable robots.txt fails the scrape instead."""
    problem = url_problem(url)
    if problem:
        log.warning("skipping page %s: %s", url, problem)
        report.bad_url += 1
        return False
    if not client.allowed(url):
        parts = urlsplit(url)
        error = client.robots_errors.get(f"{parts.scheme}://{parts.netloc}")
        if error:  # an outage, not a rule: fail (and be retried) rather than empty the day
            raise ScrapeError(f"cannot read robots.txt for {url}: {error}")
        log.warning("robots.txt disallows page %s: skipped", url)
        report.disallowed += 1
        return False
    return True


def _open(driver: WebDriver, client: PoliteClient, url: str, report: ScrapeReport) -> bool:
    """Load one page (if its URL and robots.txt allow) and wait for ``wait_for``."""
    from selenium.common.exceptions import TimeoutException
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions
    from selenium.webdriver.support.ui import WebDriverWait

    settings = client.settings
    if not _page_allowed(client, url, report):
        return False
    client.wait_turn(url)
    driver.get(url)
    report.pages += 1
    wait_for = settings.selectors.wait_for
    if wait_for:
        try:
            WebDriverWait(driver, settings.page_timeout_s, poll_frequency=0.1).until(
                expected_conditions.presence_of_element_located((By.CSS_SELECTOR, wait_for))
            )
        except TimeoutException:
            log.warning("%r did not appear on %s; reading the page as it is", wait_for, url)
    return True


def _scroll_all(driver: WebDriver, client: PoliteClient, report: ScrapeReport) -> None:
    """Scroll to the bottom until no new items appear (at most ``max_pages`` rounds in all)."""
    from selenium.common.exceptions import TimeoutException
    from selenium.webdriver.support.ui import WebDriverWait

    settings = client.settings
    item = settings.selectors.item
    seen = _count(driver, item)
    while report.pages < settings.max_pages:
        client.wait_turn(driver.current_url)  # the page fetches more from the same host
        driver.execute_script("window.scrollTo(0, document.body.scrollHeight);")
        try:
            WebDriverWait(driver, max(settings.scroll_pause_s, 0.1), poll_frequency=0.1).until(
                lambda d, n=seen: _count(d, item) > n
            )
        except TimeoutException:
            return
        seen = _count(driver, item)
        report.pages += 1


def render_items(
    settings: ScraperConfig, start_url: str, client: PoliteClient, report: ScrapeReport
) -> list[ScrapedItem]:
    """Every item of the gallery: next-link pages, or one page scrolled to its end."""
    from selenium.common.exceptions import WebDriverException

    selectors = settings.selectors
    items: list[ScrapedItem] = []
    if not _page_allowed(client, start_url, report):  # before any browser starts
        return items
    driver = start_browser(settings)
    try:
        if selectors.next is None:
            if _open(driver, client, start_url, report):
                _scroll_all(driver, client, report)
                items = parse_items(driver.page_source, driver.current_url, selectors)
            return items
        url: str | None = start_url
        visited: set[str] = set()
        while url and url not in visited and report.pages < settings.max_pages:
            visited.add(url)
            if not _open(driver, client, url, report):
                break
            html, base = driver.page_source, driver.current_url
            items += parse_items(html, base, selectors)
            url = next_page_url(html, base, selectors.next)
        return items
    except WebDriverException as exc:
        raise ScrapeError(f"scraping {start_url} failed: {exc.msg or exc}") from exc
    finally:
        driver.quit()


# --- one location-day -------------------------------------------------------------------------------


def select_items(
    items: list[ScrapedItem], loc: Location, day: date, max_posts: int, report: ScrapeReport
) -> list[ScrapedItem]:
    """The items worth downloading: timed on ``day`` at ``loc``, a fetchable image, no repeats."""
    chosen: list[ScrapedItem] = []
    urls: set[str] = set()
    for item in items:
        report.items_seen += 1
        if item.taken_at is None:
            report.no_time += 1
        elif local_date(item.taken_at, loc) != day:
            report.outside_date += 1
        elif item.image_url is None:
            report.no_image += 1
        elif problem := url_problem(item.image_url):
            log.info("skipping image %s: %s", item.image_url, problem)
            report.bad_url += 1
        elif item.image_url in urls:
            report.duplicates_url += 1
        elif len(chosen) >= max_posts:
            report.over_max_posts += 1
        else:
            urls.add(item.image_url)
            chosen.append(item)
    return chosen


def _manifest_line(item: ScrapedItem, name: str, location: str) -> str:
    post: dict[str, Any] = {
        "image": name,
        "location": location,
        "taken_at": item.taken_at.isoformat() if item.taken_at else None,
        "author": item.author,
        "caption": item.caption,
        "hashtags": _HASHTAG.findall(item.caption or "") or None,
        "source_url": item.link or item.image_url,
        "image_url": item.image_url,
    }
    return json.dumps({k: v for k, v in post.items() if v is not None}, ensure_ascii=False)


def day_dir(root: str, location: str, day: date) -> str:
    """``<root>/<location>/<YYYY-MM-DD>``: where a location-day's downloads and manifest go."""
    return f"{root.rstrip('/')}/{location}/{day.isoformat()}"


def scrape_day(source: SourceConfig, loc: Location, day: date, root: str) -> ScrapeReport:
    """Scrape ``loc`` on ``day`` into ``<root>/<location>/<date>/`` with a fresh manifest.

    Raises:
        ScrapeError: Chromium or chromedriver is missing, or the page failed to load; the
            previous manifest of the day is then left as it was.
    """
    settings = source.scraper
    if settings is None:
        raise ScrapeError("source.scraper is required when source.type is scraper")
    report = ScrapeReport(location=loc.slug, day=day)
    url = page_url(settings.url_template, loc.slug, day)
    client = PoliteClient(settings)
    try:
        items = render_items(settings, url, client, report)
        chosen = select_items(items, loc, day, settings.max_posts, report)

        def download(item: ScrapedItem) -> bytes | DownloadError:
            assert item.image_url is not None
            try:
                return client.fetch(item.image_url, source.max_file_bytes)
            except DownloadError as exc:
                return exc

        with ThreadPoolExecutor(max_workers=settings.concurrency) as pool:
            results = list(pool.map(download, chosen))
    finally:
        client.close()

    folder = day_dir(root, loc.slug, day)
    lines: list[str] = []
    names: set[str] = set()
    copies: Counter[str] = Counter()
    for item, result in zip(chosen, results, strict=True):
        if isinstance(result, DownloadError):
            log.warning("not downloaded: %s", result)
            setattr(report, result.kind, getattr(report, result.kind) + 1)
            continue
        digest = hashlib.sha256(result).hexdigest()
        copies[digest] += 1
        name = content_name(result, copies[digest])
        if name not in names and not storage.exists(f"{folder}/{name}"):
            storage.write_bytes_atomic(result, f"{folder}/{name}")
        names.add(name)
        lines.append(_manifest_line(item, name, loc.slug))
        report.kept += 1
    manifest = f"{folder}/{MANIFEST_NAME}"
    storage.write_bytes_atomic("".join(f"{line}\n" for line in lines).encode(), manifest)
    for path in storage.list_files(folder):
        name = path.rsplit("/", 1)[-1]
        if _CONTENT_NAME.match(name) and name not in names:
            storage.remove(path)
            report.pruned += 1
    log.info("scrape %s %s (%s): %s", loc.slug, day, url, report.summary())
    return report
