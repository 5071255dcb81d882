"""A real S3 API server on localhost (moto) and a fault-injecting HTTP proxy in front of it.

The proxy forwards every request to the server and, for the requests a test picks (method and a
pattern on the path), answers an S3 error (500 ``InternalError``, 503 ``SlowDown``) instead,
answers only after a delay, or stalls half way through the body. It counts what it saw, so a
test can tell how often the client tried.
"""

from __future__ import annotations

import http.client
import re
import socket
import threading
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Literal

CREDENTIALS = {
    "AWS_ACCESS_KEY_ID": "test-key",
    "AWS_SECRET_ACCESS_KEY": "test-secret",
    "AWS_DEFAULT_REGION": "us-east-1",
}
"""What a process talking to the test's S3 server needs in its environment."""

Kind = Literal["500", "503", "slow", "stall"]

_ERRORS = {
    "500": (500, "InternalError", "We encountered an internal error. Please try again."),
    "503": (503, "SlowDown", "Please reduce your request rate."),
}
_HOP_BY_HOP = {"connection", "keep-alive", "transfer-encoding", "expect", "content-length"}


def free_port() -> int:
    """A free TCP port on localhost."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def reset_moto(endpoint: str) -> None:
    """Empty moto's state: every moto server of one process shares one set of buckets."""
    request = urllib.request.Request(f"{endpoint}/moto-api/reset", method="POST")
    urllib.request.urlopen(request, timeout=30).read()


@contextmanager
def moto_server() -> Iterator[str]:
    """moto's standalone S3 server on a free port, empty; yields its endpoint URL."""
    from moto.server import ThreadedMotoServer

    port = free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    endpoint = f"http://127.0.0.1:{port}"
    reset_moto(endpoint)  # nothing another test module left
    try:
        yield endpoint
    finally:
        reset_moto(endpoint)  # and nothing for the next one
        server.stop()


@dataclass
class Fault:
    method: str
    pattern: re.Pattern[str]
    kind: Kind
    times: int | None  # None: every matching request
    delay_s: float


class FaultProxy:
    """An HTTP proxy on localhost in front of ``upstream`` that fails the requests it is told to."""

    def __init__(self, upstream: str) -> None:
        host, port = upstream.removeprefix("http://").split(":")
        self.upstream = (host, int(port))
        self.faults: list[Fault] = []
        self.seen: list[tuple[str, str]] = []  # (method, path with query) of every request
        self._lock = threading.Lock()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
        self._server.daemon_threads = True
        self._server.proxy = self  # type: ignore[attr-defined]
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def __enter__(self) -> FaultProxy:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()

    def fail(
        self,
        method: str,
        pattern: str,
        kind: Kind,
        times: int | None = None,
        delay_s: float = 0.0,
    ) -> None:
        """Fault the next ``times`` requests (all when ``None``) of ``method`` whose path with
        query matches ``pattern`` (a regular expression, searched)."""
        with self._lock:
            self.faults.append(Fault(method, re.compile(pattern), kind, times, delay_s))

    def count(self, method: str, pattern: str = "") -> int:
        """How many ``method`` requests matching ``pattern`` the proxy saw."""
        rx = re.compile(pattern)
        with self._lock:
            return sum(1 for m, path in self.seen if m == method and rx.search(path))

    def reset(self) -> None:
        with self._lock:
            self.faults.clear()
            self.seen.clear()

    def _take(self, method: str, path: str) -> Fault | None:
        with self._lock:
            self.seen.append((method, path))
            for fault in self.faults:
                if fault.method == method and fault.pattern.search(path) and fault.times != 0:
                    if fault.times is not None:
                        fault.times -= 1
                    return fault
        return None

    def _forward(
        self, method: str, path: str, headers: list[tuple[str, str]], body: bytes
    ) -> tuple[int, list[tuple[str, str]], bytes]:
        conn = http.client.HTTPConnection(*self.upstream, timeout=30)
        try:
            conn.putrequest(method, path, skip_host=True, skip_accept_encoding=True)
            for name, value in headers:
                if name.lower() not in _HOP_BY_HOP:
                    conn.putheader(name, value)
            conn.putheader("Content-Length", str(len(body)))
            conn.endheaders(body)
            response = conn.getresponse()
            return response.status, response.getheaders(), response.read()
        finally:
            conn.close()


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, as botocore's pool expects; 100-continue

    def log_message(self, format: str, *args: object) -> None:
        pass

    def _body(self) -> bytes:
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            chunks = []
            while True:
                size = int(self.rfile.readline().split(b";")[0].strip(), 16)
                if size == 0:
                    while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                        pass  # trailers
                    return b"".join(chunks)
                chunks.append(self.rfile.read(size))
                self.rfile.readline()
        return self.rfile.read(int(self.headers.get("Content-Length") or 0))

    def _handle(self) -> None:
        proxy: FaultProxy = self.server.proxy  # type: ignore[attr-defined]
        body = self._body()
        fault = proxy._take(self.command, self.path)
        if fault is not None and fault.kind in _ERRORS:
            status, code, message = _ERRORS[fault.kind]
            xml = (
                '<?xml version="1.0" encoding="UTF-8"?>\n'
                f"<Error><Code>{code}</Code><Message>{message}</Message>"
                "<RequestId>fault-proxy</RequestId></Error>"
            ).encode()
            self.send_response_only(status)
            self.send_header("Content-Type", "application/xml")
            self.send_header("Content-Length", "0" if self.command == "HEAD" else str(len(xml)))
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(xml)
            return
        status, headers, data = proxy._forward(self.command, self.path, self.headers.items(), body)
        try:
            if fault is not None and fault.kind == "slow":
                time.sleep(fault.delay_s)  # the server did the work; the answer comes too late
            self.send_response_only(status)
            length = None
            for name, value in headers:
                if name.lower() == "content-length":
                    length = value
                elif name.lower() not in _HOP_BY_HOP:
                    self.send_header(name, value)
            keep = length if self.command == "HEAD" and length is not None else str(len(data))
            self.send_header("Content-Length", keep)
            self.end_headers()
            if fault is not None and fault.kind == "stall":  # headers, half the body, silence
                self.wfile.write(data[: len(data) // 2])
                self.wfile.flush()
                time.sleep(fault.delay_s)
                self.close_connection = True
                return
            if self.command != "HEAD":
                self.wfile.write(data)
        except OSError:  # the client gave up waiting
            self.close_connection = True

    do_GET = do_PUT = do_POST = do_DELETE = do_HEAD = _handle


@contextmanager
def lake_behind_proxy(bucket: str = "lake") -> Iterator[FaultProxy]:
    """moto with ``bucket``, behind a :class:`FaultProxy` (no faults until a test adds them).

    The test's credentials are set for the duration; the storage module is pointed back at the
    default endpoint afterwards.
    """
    import os

    import boto3

    from trendscope.tables import storage

    saved = {var: os.environ.get(var) for var in CREDENTIALS}
    os.environ.update(CREDENTIALS)
    try:
        with moto_server() as endpoint, FaultProxy(endpoint) as proxy:
            boto3.client("s3", endpoint_url=endpoint, region_name="us-east-1").create_bucket(
                Bucket=bucket
            )
            yield proxy
    finally:
        storage.configure(None, None)
        for var, value in saved.items():
            if value is None:
                os.environ.pop(var, None)
            else:
                os.environ[var] = value
