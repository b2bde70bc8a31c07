"""The benchmark's web server: gunicorn on a free loopback port, and its workers' memory."""

from __future__ import annotations

import http.client
import os
import signal
import socket
import subprocess  # noqa: S404 - starts gunicorn from our own virtualenv
import sys
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

HOST = "127.0.0.1"


def free_port() -> int:
    """A port the kernel just gave us on loopback (released before gunicorn binds it)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((HOST, 0))
        return int(sock.getsockname()[1])


@dataclass
class Gunicorn:
    """A running gunicorn master with sync workers; stop() ends it and its workers."""

    process: subprocess.Popen
    port: int
    workers: int
    log_path: Path
    # Statements or transactions the workers still have open in the database, when known.
    busy_in_database: Callable[[], int] | None = None

    @property
    def base_url(self) -> str:
        return f"http://{HOST}:{self.port}"

    def worker_pids(self) -> list[int]:
        return child_pids(self.process.pid)

    def drain(self, timeout_s: float = 120) -> float:
        """Wait until every worker is free: requests a load generator abandoned at the end of
        its run are still queued or running, and must not spill into the next measurement.
        One liveness probe per worker, all at once (the queue ahead of them is served), then
        the database must show no open statement or transaction three polls in a row (one free
        worker could have answered every probe). Returns the seconds it took."""
        started = time.monotonic()
        with ThreadPoolExecutor(max_workers=self.workers) as pool:
            answers = list(pool.map(lambda _: _answers(self, timeout_s), range(self.workers)))
        if not all(answers):
            raise RuntimeError(f"gunicorn did not drain within {timeout_s} s; see {self.log_path}")
        quiet = 0
        while self.busy_in_database is not None and quiet < 3:
            if time.monotonic() - started > timeout_s:
                raise RuntimeError(f"the database stayed busy for {timeout_s} s")
            quiet = quiet + 1 if self.busy_in_database() == 0 else 0
            time.sleep(0.1)
        return time.monotonic() - started

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=10)


def gunicorn_start(*, env: dict[str, str], workers: int, log_path: Path) -> Gunicorn:
    """Start ``deploy.wsgi`` under gunicorn with ``workers`` sync workers and wait until every
    worker answers the liveness probe."""
    port = free_port()
    gunicorn = Path(sys.executable).with_name("gunicorn")
    command = [
        str(gunicorn),
        "deploy.wsgi:application",
        f"--bind={HOST}:{port}",
        f"--workers={workers}",
        "--worker-class=sync",
        "--timeout=60",
        "--graceful-timeout=10",
        "--log-level=warning",
    ]
    log = log_path.open("wb")
    process = subprocess.Popen(  # noqa: S603 - our virtualenv's gunicorn, arguments built here
        command,
        cwd=Path(__file__).resolve().parent.parent,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    server = Gunicorn(process=process, port=port, workers=workers, log_path=log_path)
    _wait_until_ready(server)
    return server


def _wait_until_ready(server: Gunicorn, timeout_s: float = 60) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if server.process.poll() is not None:
            raise RuntimeError(f"gunicorn exited; see {server.log_path}")
        if len(server.worker_pids()) >= server.workers and _answers(server):
            return
        time.sleep(0.2)
    server.stop()
    raise RuntimeError(f"gunicorn did not start within {timeout_s} s; see {server.log_path}")


def _answers(server: Gunicorn, timeout_s: float = 2) -> bool:
    conn = http.client.HTTPConnection(HOST, server.port, timeout=timeout_s)
    try:
        conn.request("GET", "/health/live")
        return conn.getresponse().status == 200
    except (OSError, http.client.HTTPException):
        return False
    finally:
        conn.close()


def child_pids(pid: int) -> list[int]:
    """Direct children of ``pid``, read from /proc (Linux)."""
    children = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        if parent_pid_of_stat(stat) == pid:
            children.append(int(entry.name))
    return sorted(children)


def parent_pid_of_stat(stat: str) -> int:
    """The ppid field of /proc/<pid>/stat; the command name may hold spaces and parentheses."""
    return int(stat[stat.rindex(")") + 2 :].split()[1])


def peak_rss_mib(pid: int) -> float:
    """VmHWM (peak resident set size) of ``pid`` in MiB."""
    return vm_hwm_mib((Path("/proc") / str(pid) / "status").read_text())


def vm_hwm_mib(status: str) -> float:
    for line in status.splitlines():
        if line.startswith("VmHWM:"):
            value, unit = line.split()[1:3]
            if unit != "kB":
                raise ValueError(f"unexpected VmHWM unit {unit!r}")
            return int(value) / 1024
    raise ValueError("no VmHWM line in /proc/<pid>/status")


def process_environment(**overrides: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in {"DJANGO_SETTINGS_MODULE"}}
    env.update(overrides)
    return env
