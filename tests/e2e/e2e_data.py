"""Constants shared by the end-to-end tests."""

from __future__ import annotations

import socket
from datetime import date
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
MODELS_DIR = REPO / "models"
DAY = date(2026, 11, 2)

# (file name, real photo, what a user would expect the pipeline to find)
SHIBUYA = [
    ("cat.png", "chelsea", "cat"),
    ("coffee.jpg", "coffee", "cup"),
    ("astronaut.jpg", "astronaut", "person"),
    ("bus.jpg", "bus", "bus"),
    ("zidane.jpg", "zidane", "person"),
    ("rocket.jpg", "rocket", None),
]


S3_CREDENTIALS = {
    "AWS_ACCESS_KEY_ID": "test-key",
    "AWS_SECRET_ACCESS_KEY": "test-secret",
    "AWS_DEFAULT_REGION": "us-east-1",
}
"""What a process talking to the test's S3 server needs in its environment."""


def free_port() -> int:
    """A free TCP port on localhost."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]
