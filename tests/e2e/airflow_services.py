"""Real services for the end-to-end tests: a throwaway PostgreSQL and Airflow's four daemons.

PostgreSQL comes from Debian's ``postgresql`` package (``make setup`` installs it as root); it
refuses to run as root, so as root it runs as the ``postgres`` user. Every process is started in
its own process group and stopped with its children: terminate, then kill.
"""

from __future__ import annotations

import contextlib
import glob
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

AIRFLOW = str(Path(sys.executable).with_name("airflow"))
SERVICES = ("api-server", "scheduler", "dag-processor", "triggerer")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def postgres_bin() -> Path | None:
    """The directory with ``initdb`` and ``pg_ctl``: on PATH, or Debian's versioned one."""
    found = shutil.which("initdb")
    if found and shutil.which("pg_ctl"):
        return Path(found).resolve().parent
    versions = sorted(
        glob.glob("/usr/lib/postgresql/*/bin/pg_ctl"),
        key=lambda p: int(Path(p).parts[-3]) if Path(p).parts[-3].isdigit() else 0,
    )
    return Path(versions[-1]).parent if versions else None


def _as_postgres(cmd: list[str]) -> list[str]:
    return ["runuser", "-u", "postgres", "--", *cmd] if os.geteuid() == 0 else cmd


@contextmanager
def postgres() -> Iterator[str]:
    """A fresh cluster on a free localhost port; yields its SQLAlchemy URL (psycopg2)."""
    bindir = postgres_bin()
    if bindir is None:
        raise RuntimeError("PostgreSQL not found (make setup installs Debian's postgresql)")
    root = Path(tempfile.mkdtemp(prefix="trendscope-pg-"))
    if os.geteuid() == 0:
        shutil.chown(root, "postgres", "postgres")
    data, port = root / "data", free_port()
    run = {"capture_output": True, "text": True, "timeout": 120, "cwd": root}
    done = subprocess.run(
        _as_postgres([str(bindir / "initdb"), "-D", str(data), "-U", "airflow",
                      "--auth=trust", "-E", "UTF8", "--no-sync"]), **run,
    )  # fmt: skip
    if done.returncode:
        shutil.rmtree(root, ignore_errors=True)
        raise RuntimeError(f"initdb failed: {done.stdout[-2000:]}{done.stderr[-2000:]}")
    pg_ctl = [str(bindir / "pg_ctl"), "-D", str(data)]
    options = f"-p {port} -k {root} -c listen_addresses=127.0.0.1 -c fsync=off"
    try:
        done = subprocess.run(
            _as_postgres([*pg_ctl, "-o", options, "-l", str(root / "postgres.log"), "-w", "start"]),
            **run,
        )
        if done.returncode:
            log = (root / "postgres.log").read_text() if (root / "postgres.log").exists() else ""
            raise RuntimeError(f"pg_ctl start failed: {done.stderr[-2000:]}{log[-2000:]}")
        yield f"postgresql+psycopg2://airflow@127.0.0.1:{port}/postgres"
    finally:
        subprocess.run(_as_postgres([*pg_ctl, "-m", "immediate", "-w", "stop"]), **run)
        shutil.rmtree(root, ignore_errors=True)


def airflow_env(home: Path, sql_conn: str, api_port: int, extra: Mapping[str, str]) -> dict:
    """The environment of every Airflow process: LocalExecutor on ``sql_conn``, one API worker."""
    return {
        **os.environ,
        "AIRFLOW_HOME": str(home),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__CORE__UNIT_TEST_MODE": "False",
        "AIRFLOW__CORE__EXECUTOR": "LocalExecutor",
        "AIRFLOW__CORE__PARALLELISM": "4",
        "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_ALL_ADMINS": "True",
        "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": f"http://127.0.0.1:{api_port}/execution/",
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": sql_conn,
        "AIRFLOW__API__HOST": "127.0.0.1",
        "AIRFLOW__API__PORT": str(api_port),
        "AIRFLOW__API__BASE_URL": f"http://127.0.0.1:{api_port}",
        "AIRFLOW__API__WORKERS": "1",
        "AIRFLOW__API_AUTH__JWT_SECRET": "trendscope-e2e-secret",
        "AIRFLOW__LOGGING__BASE_LOG_FOLDER": str(home / "logs"),
        **extra,
    }


def airflow(env: Mapping[str, str], *args: str, timeout: int = 300) -> str:
    """Run one ``airflow`` CLI command; its stdout, or an error with its output."""
    done = subprocess.run(
        [AIRFLOW, *args], env=dict(env), capture_output=True, text=True, timeout=timeout
    )
    if done.returncode:
        raise RuntimeError(f"airflow {' '.join(args)}: {done.stdout[-3000:]}{done.stderr[-3000:]}")
    return done.stdout


@dataclass
class Services:
    """The running daemons, their logs and a REST client of the API server."""

    env: dict[str, str]
    home: Path
    api: str
    procs: dict[str, subprocess.Popen] = field(default_factory=dict)
    token: str | None = None

    def get(self, path: str, timeout: float = 30) -> Any:
        request = urllib.request.Request(self.api + path)
        if self.token:
            request.add_header("Authorization", f"Bearer {self.token}")
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return json.loads(response.read())

    def check_alive(self) -> None:
        for name, proc in self.procs.items():
            if proc.poll() is not None:
                raise RuntimeError(
                    f"airflow {name} exited with {proc.returncode}:\n{self.tail(name)}"
                )

    def tail(self, name: str, chars: int = 6000) -> str:
        log = self.home / f"{name}.log"
        return log.read_text(errors="replace")[-chars:] if log.exists() else ""

    def logs_tail(self) -> str:
        return "\n".join(f"===== {n} =====\n{self.tail(n)}" for n in SERVICES)

    def wait_ready(self, timeout: float = 240) -> None:
        """Until the API server answers and hands out a token (all users are admins)."""
        deadline = time.monotonic() + timeout
        while True:
            self.check_alive()
            try:
                self.get("/api/v2/monitor/health", timeout=5)
                self.token = self.get("/auth/token", timeout=10)["access_token"]
                return
            except (urllib.error.URLError, ConnectionError, TimeoutError):
                if time.monotonic() > deadline:
                    raise TimeoutError(f"API server not up:\n{self.tail('api-server')}") from None
                time.sleep(2)

    def wait_dags(self, dag_ids: list[str], timeout: float = 240) -> None:
        """Until the dag-processor has serialized every DAG in ``dag_ids``."""
        deadline = time.monotonic() + timeout
        for dag_id in dag_ids:
            while True:
                self.check_alive()
                try:
                    self.get(f"/api/v2/dags/{dag_id}/details")
                    break
                except urllib.error.HTTPError as err:
                    if err.code != 404 or time.monotonic() > deadline:
                        raise
                    time.sleep(3)

    def dag_runs(self, dag_id: str) -> list[dict]:
        return self.get(f"/api/v2/dags/{dag_id}/dagRuns?limit=100&order_by=logical_date")[
            "dag_runs"
        ]


def _stop(proc: subprocess.Popen, grace: float = 20) -> None:
    """Terminate a process group, then kill what is left of it."""
    for sig, wait in ((signal.SIGTERM, grace), (signal.SIGKILL, 10)):
        try:
            os.killpg(proc.pid, sig)
        except ProcessLookupError:
            return
        try:
            proc.wait(timeout=wait)
        except subprocess.TimeoutExpired:
            continue
        # the leader is gone; its children (task runners, API workers) may not be
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        return


@contextmanager
def airflow_services(env: dict[str, str], home: Path) -> Iterator[Services]:
    """``airflow db migrate``, then the API server, scheduler, dag-processor and triggerer."""
    home.mkdir(parents=True, exist_ok=True)
    airflow(env, "db", "migrate", timeout=600)
    services = Services(env=env, home=home, api=env["AIRFLOW__API__BASE_URL"])
    try:
        for name in SERVICES:
            with (home / f"{name}.log").open("w") as log:
                services.procs[name] = subprocess.Popen(
                    [AIRFLOW, name], env=env, cwd=home, stdout=log, stderr=subprocess.STDOUT,
                    start_new_session=True,
                )  # fmt: skip
        yield services
    finally:
        for proc in services.procs.values():
            _stop(proc)
