"""Constants shared by the end-to-end tests."""

from __future__ import annotations

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
