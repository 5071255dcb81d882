"""Constants and small helpers shared by the end-to-end tests."""

from __future__ import annotations

import email
import html
import json
import re
import socket
from datetime import date
from email.message import EmailMessage
from email.policy import default as default_policy
from pathlib import Path
from typing import Any

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


RECIPIENT = "data-team@example.com"
SENDER = "trendscope@example.com"


class Inbox:
    """What the test's SMTP server on localhost (aiosmtpd) accepted."""

    def __init__(self) -> None:
        self.messages: list[tuple[list[str], EmailMessage]] = []

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        message = email.message_from_bytes(envelope.content, policy=default_policy)
        self.messages.append((list(envelope.rcpt_tos), message))
        return "250 Message accepted for delivery"

    def take(self) -> list[tuple[list[str], EmailMessage]]:
        taken, self.messages = self.messages, []
        return taken


def readable(message: EmailMessage) -> str:
    """The body as a mail client shows it: the HTML part's text, one space between cells."""
    body = message.get_body(("html", "plain")).get_content()
    return re.sub(r"\s+", " ", html.unescape(re.sub(r"<[^>]+>", " ", body)))


def smtp_connection(port: int) -> str:
    """The connection a user creates for a plain SMTP relay (no TLS, no login) on ``port``."""
    return json.dumps(
        {
            "conn_type": "smtp",
            "host": "127.0.0.1",
            "port": port,
            "extra": {
                "disable_ssl": True,
                "disable_tls": True,
                "from_email": SENDER,
                "retry_limit": 0,
                "timeout": 10,
            },
        }
    )
