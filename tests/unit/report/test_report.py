"""The HTML report: self-contained, with the planted rising label and thumbnails of its examples,
and a page for no data."""

from __future__ import annotations

import base64
import io
import re
import shutil
import socket
from datetime import date
from pathlib import Path

import pyarrow as pa
import pytest
from PIL import Image

from published_history import WEEK45, published_history
from trendscope.photos import sample_photo_path
from trendscope.pipeline.trends import trends_day
from trendscope.report import build_report
from trendscope.report.html import THUMB_SIDE, _table, binomial_band, thumbnail_uri
from trendscope.tables import storage
from trendscope.tables.paths import partition_path
from trendscope.tables.schemas import DETECTIONS, IMAGES
from trendscope.trends.explain import MAX_EXAMPLES, example_images


def test_report_is_self_contained_and_shows_the_rise(config, tmp_path) -> None:
    published_history(config, trend_days=WEEK45[:3])
    out = build_report(config, WEEK45[0], WEEK45[2], None, tmp_path / "r" / "report.html")
    text = out.read_text(encoding="utf-8")
    assert not re.search(r"""(src|href)\s*=\s*["']?\s*(https?:)?//""", text, re.I)
    assert "http://" not in text and "https://" not in text
    assert text.count("data:image/png;base64,") == 2  # share over time + locations
    rising = re.findall(r'<tr class="rising">(.*?)</tr>', text)
    cells = [re.findall(r"<td[^>]*>(.*?)</td>", r) for r in rising]
    # date, location, kind, label, fine_label, ...: cats at shibuya on each of the 3 days
    cat_days = {c[0] for c in cells if c[1] == "shibuya" and c[3] == "cat" and c[4] == "-"}
    assert cat_days == {d.isoformat() for d in WEEK45[:3]}
    assert not any(c[1] == "brooklyn" and c[3] == "cat" for c in cells)
    assert re.search(r'<tr class="higher"><td>shibuya</td><td>cat</td><td>-</td>', text)


def test_report_for_one_location(config, tmp_path) -> None:
    published_history(config, trend_days=WEEK45[:1])
    text = build_report(config, WEEK45[0], WEEK45[0], "shibuya", tmp_path / "r.html").read_text()
    assert "Trendscope report: shibuya, 2026-11-02 to 2026-11-02" in text
    assert "data:image/png;base64," in text and "<td>cat</td>" in text


def test_empty_range_gives_a_message_page(config, tmp_path) -> None:
    published_history(config)
    out = build_report(config, date(2025, 1, 1), date(2025, 1, 31), None, tmp_path / "e.html")
    text = out.read_text(encoding="utf-8")
    assert "No published data for all locations between 2025-01-01 and 2025-01-31" in text
    assert "<img" not in text


def test_text_is_escaped_and_band_is_binomial() -> None:
    html = _table([{"label": "<script>x</script>", "share": 0.5}], ["label", "share"])
    assert "<script>" not in html and "&lt;script&gt;" in html
    low, high = binomial_band(0.1, 100)
    assert round(low, 4) == round(0.1 - 1.959964 * 0.03, 4) and round(high, 4) == 0.1588
    assert binomial_band(None, 10) is None and binomial_band(0.2, 0) is None


# --- example thumbnails ----------------------------------------------------------------------

PHOTOS = ("chelsea", "coffee", "astronaut", "rocket", "motorcycle")


def _with_photo_files(config, tmp_path) -> str:
    """Point shibuya's step-day images at real packaged photos; delete the best cat's file.

    Returns:
        The source path of the missing file.
    """
    day = WEEK45[0]
    path = partition_path(config.data_root, IMAGES.name, "shibuya", day)
    images = storage.read_table(path, IMAGES)
    folder = tmp_path / "photos"
    folder.mkdir()
    uris = []
    for i in range(images.num_rows):
        photo = sample_photo_path(PHOTOS[i % len(PHOTOS)])
        target = folder / f"{i}{photo.suffix}"
        shutil.copyfile(photo, target)
        uris.append(str(target))
    i = images.schema.get_field_index("source_uri")
    images = images.set_column(i, images.schema.field(i), pa.array(uris, pa.string()))
    storage.write_table_atomic(images, path)
    detections = storage.read_table(
        partition_path(config.data_root, DETECTIONS.name, "shibuya", day), DETECTIONS
    )
    missing = example_images(images, detections, "object", "cat")[0].source_uri
    Path(missing).unlink()
    return missing


def _section(text: str, label: str) -> str:
    (section,) = re.findall(
        rf'<section class="examples" data-location="shibuya" data-date="2026-11-02" '
        rf'data-label="{re.escape(label)}">(.*?)</section>',
        text,
    )
    return section


def test_rising_labels_show_jpeg_thumbnails_and_a_placeholder(config, tmp_path) -> None:
    published_history(config)
    missing = _with_photo_files(config, tmp_path)
    trends_day(config, "shibuya", WEEK45[0])
    out = build_report(config, WEEK45[0], WEEK45[0], "shibuya", tmp_path / "r.html")
    text = out.read_text(encoding="utf-8")

    cat = _section(text, "cat")
    sources = re.findall(r'<img class="thumb" alt="[^"]*" title="[^"]*" src="([^"]+)"', cat)
    assert len(sources) == MAX_EXAMPLES - 1  # the sixth is the missing file
    for src in sources:
        assert src.startswith("data:image/jpeg;base64,")
        with Image.open(io.BytesIO(base64.b64decode(src.split(",", 1)[1]))) as thumb:
            assert thumb.format == "JPEG" and max(thumb.size) == THUMB_SIDE
    placeholder = re.findall(r'<figure class="thumb missing">(.*?)</figure>', cat)
    assert placeholder == [
        f'<div class="placeholder">image not available</div><figcaption>{missing}</figcaption>'
    ]
    # fine labels that rose have their own examples; stable labels have none
    assert _section(text, "cat / tabby").count("<figure") > 0
    assert 'data-label="person"' not in text and 'data-label="dog"' not in text
    assert not re.search(r"""(src|href)\s*=\s*["']?\s*(https?:)?//""", text, re.I)
    _check_in_chromium(out, len(re.findall(r'<img class="thumb"', text)))


def _check_in_chromium(page: Path, thumbnails: int) -> None:
    """Every thumbnail decodes in real headless Chromium (the file references nothing else)."""
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    missing = [n for n in ("chromium", "chromedriver") if shutil.which(n) is None]
    if missing:
        pytest.fail(
            f"{' and '.join(missing)} not on PATH: run `make setup` (installs the Debian "
            "packages chromium and chromium-driver) or apt-get install chromium chromium-driver"
        )
    options = webdriver.ChromeOptions()
    options.binary_location = shutil.which("chromium")
    for arg in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu"):
        options.add_argument(arg)
    driver = webdriver.Chrome(service=Service(shutil.which("chromedriver")), options=options)
    try:
        driver.get(page.as_uri())
        sizes = driver.execute_script(
            "return [...document.querySelectorAll('img.thumb')]"
            ".map(i => [i.complete, i.naturalWidth, i.naturalHeight])"
        )
        placeholders = driver.execute_script(
            "return document.querySelectorAll('figure.missing .placeholder').length"
        )
    finally:
        driver.quit()
    assert len(sizes) == thumbnails > 0 and placeholders >= 1
    assert all(done and 0 < w <= THUMB_SIDE and 0 < h <= THUMB_SIDE for done, w, h in sizes), sizes


@pytest.fixture
def s3_endpoint(monkeypatch):
    """moto's S3 server on localhost, with storage pointed at it."""
    from moto.server import ThreadedMotoServer

    for var, value in {
        "AWS_ACCESS_KEY_ID": "test-key",
        "AWS_SECRET_ACCESS_KEY": "test-secret",
        "AWS_DEFAULT_REGION": "us-east-1",
    }.items():
        monkeypatch.setenv(var, value)
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    storage.configure(f"http://127.0.0.1:{port}", "us-east-1")
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.stop()
        storage.configure(None, None)


def test_thumbnails_read_s3_sources(s3_endpoint) -> None:
    import boto3

    boto3.client("s3", endpoint_url=s3_endpoint).create_bucket(Bucket="drop")
    photo = sample_photo_path("chelsea")
    storage.write_bytes_atomic(photo.read_bytes(), "s3://drop/zone/chelsea.png")
    uri = thumbnail_uri("s3://drop/zone/chelsea.png")
    with (
        Image.open(io.BytesIO(base64.b64decode(uri.split(",", 1)[1]))) as thumb,
        Image.open(photo) as original,
    ):
        assert thumb.format == "JPEG" and thumb.width == THUMB_SIDE
        assert thumb.height == round(THUMB_SIDE * original.height / original.width)
    with pytest.raises(FileNotFoundError):
        thumbnail_uri("s3://drop/zone/gone.jpg")
