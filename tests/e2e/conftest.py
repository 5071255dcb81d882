"""End-to-end fixtures: a small drop zone of real packaged photos, the real models, an SMTP server."""

from __future__ import annotations

import json
import shutil
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from e2e_data import DAY, MODELS_DIR, S3_CREDENTIALS, SHIBUYA, Inbox, free_port, smtp_connection
from trendscope.config import TrendscopeConfig, load_config
from trendscope.tables import storage


@pytest.fixture(scope="session")
def models_dir() -> Path:
    from trendscope.models.fetch import fetch_models

    fetch_models(MODELS_DIR)
    return MODELS_DIR


def _save(photo: str, path: Path) -> None:
    from PIL import Image

    from trendscope.photos import sample_photo

    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(sample_photo(photo)).save(path)


@pytest.fixture(scope="session")
def dropzone(tmp_path_factory) -> Path:
    """shibuya via the folder layout (plus a repost and two hostile files), brooklyn via a manifest."""
    root = tmp_path_factory.mktemp("e2e") / "dropzone"
    day_dir = root / "shibuya" / DAY.isoformat()
    for name, photo, _ in SHIBUYA:
        _save(photo, day_dir / name)
    shutil.copy(day_dir / "cat.png", day_dir / "cat_repost.png")
    (day_dir / "page.jpg").write_text("<!DOCTYPE html><html><body>login required</body></html>")
    data = (day_dir / "coffee.jpg").read_bytes()
    (day_dir / "truncated.jpg").write_bytes(data[: len(data) // 3])
    export = root / "brooklyn-export"
    posts = []
    for i, photo in enumerate(["chelsea", "china", "grace_hopper"]):
        _save(photo, export / "media" / f"{photo}.jpg")
        posts.append(
            {
                "image": f"media/{photo}.jpg",
                "location": "brooklyn",
                # 23:30 in New York is already the next day in UTC: still the 2nd in Brooklyn
                "taken_at": f"2026-11-02T2{i + 1}:30:00-05:00",
                "post_id": f"bk-{i}",
                "author": "nyc_photos",
                "hashtags": ["brooklyn", photo],
                "likes": 10 * i,
            }
        )
    (export / "posts.jsonl").write_text("\n".join(json.dumps(p) for p in posts) + "\n")
    return root


@pytest.fixture
def e2e_config(tmp_path: Path, dropzone: Path, models_dir: Path) -> TrendscopeConfig:
    return load_config(
        environ={},
        overrides={
            "data_dir": str(tmp_path / "data"),
            "source.path": str(dropzone),
            "models_dir": str(models_dir),
        },
    )


@pytest.fixture(scope="module")
def s3_endpoint():
    """A real S3 API server on localhost (moto's standalone server); storage pointed at it."""
    from moto.server import ThreadedMotoServer

    mp = pytest.MonkeyPatch()
    for var, value in S3_CREDENTIALS.items():
        mp.setenv(var, value)
    port = free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    endpoint = f"http://127.0.0.1:{port}"
    # every moto server of this process shares one state: start empty, leave nothing behind
    reset = urllib.request.Request(f"{endpoint}/moto-api/reset", method="POST")
    urllib.request.urlopen(reset, timeout=30).read()
    storage.configure(endpoint, "us-east-1")
    yield endpoint
    urllib.request.urlopen(reset, timeout=30).read()
    server.stop()
    storage.configure(None, None)
    mp.undo()


@pytest.fixture
def inbox(monkeypatch) -> Iterator[Inbox]:
    """An SMTP server on localhost, given to Airflow as ``AIRFLOW_CONN_SMTP_DEFAULT``."""
    from aiosmtpd.controller import Controller

    received = Inbox()
    controller = Controller(received, hostname="127.0.0.1", port=free_port())
    controller.start()
    monkeypatch.setenv("AIRFLOW_CONN_SMTP_DEFAULT", smtp_connection(controller.port))
    try:
        yield received
    finally:
        controller.stop()
