"""Real processes for the integration and reliability tests: a private redis-server, Celery
workers on the test database, and waiting for them.

Never the shared Redis on 6379: each test starts its own server on a free port, and points
this process's Celery app at it for the test's duration (``celery_broker``). A worker runs in
its own process group and is ended by that group's id, never by name. Used by
tests/trial/step1/test_schedule_worker.py, tests/monitoring/dashboard/test_export_worker.py,
tests/monitoring/integration/test_outbox_broker_outage.py and, through
tests/reliability/processes.py, the worker crash tests.
"""

from __future__ import annotations

import email
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
import redis
from celery import current_app
from django.db import connection

ROOT = Path(__file__).resolve().parents[1]
DEADLINE_S = 120


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_for(
    predicate: Callable[[], object],
    what: str,
    *,
    process: subprocess.Popen | None = None,
    logs: tuple[Path, ...] = (),
    deadline_s: float = DEADLINE_S,
) -> None:
    """Poll ``predicate`` until it holds; fail with the tails of ``logs`` after ``deadline_s``,
    or at once when ``process`` (the worker doing the work) has exited."""
    deadline = time.monotonic() + deadline_s
    while time.monotonic() < deadline:
        if predicate():
            return
        if process is not None and process.poll() is not None:
            break
        time.sleep(0.1)
    tails = "\n".join(f"--- {log}\n{log.read_text()[-3000:]}" for log in logs if log.exists())
    pytest.fail(f"gave up waiting for {what}\n{tails}")


def database_url() -> str:
    """The test database, for a worker subprocess."""
    db = connection.settings_dict
    host, port = db["HOST"] or "127.0.0.1", db["PORT"] or 5432
    return f"postgresql://{db['USER']}@{host}:{port}/{db['NAME']}"


class RedisServer:
    """A private redis-server on a free port, without persistence. ``stop`` and ``start``
    again keep the port, so a test can take the broker down and bring it back."""

    def __init__(self, workdir: Path, *, start: bool = True) -> None:
        self.workdir = workdir
        self.port = free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.process: subprocess.Popen | None = None
        if start:
            self.start()

    def client(self) -> redis.Redis:
        return redis.Redis.from_url(self.url, socket_connect_timeout=1)

    def _up(self) -> bool:
        try:
            return bool(self.client().ping())
        except redis.RedisError:
            return False

    def start(self) -> None:
        binary = shutil.which("redis-server")
        if binary is None:
            pytest.fail("redis-server is required for the tests that run real workers")
        self.process = subprocess.Popen(  # noqa: S603
            [binary, "--port", str(self.port), "--bind", "127.0.0.1", "--save", ""]
            + ["--appendonly", "no"],
            cwd=self.workdir,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        wait_for(self._up, "redis-server to start", process=self.process)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            self.process.wait(timeout=30)
        self.process = None


@contextmanager
def celery_broker(workdir: Path) -> Iterator[RedisServer]:
    """A private redis-server, with this process's Celery app sending to it until the end."""
    server = RedisServer(workdir)
    app = current_app._get_current_object()
    previous = app.conf.broker_url
    app.conf.broker_url = server.url
    app._after_fork()  # drop pooled connections to the previous broker
    try:
        yield server
    finally:
        app.conf.broker_url = previous
        app._after_fork()
        server.stop()


class CeleryWorker:
    """``celery -A deploy worker`` on the test database and a private broker, logging to
    ``<workdir>/<name>.log``, in its own process group so that the whole worker is ended
    at once. ``env`` adds to (or overrides) the environment, e.g. the worker's settings."""

    def __init__(
        self,
        *,
        broker: RedisServer,
        workdir: Path,
        queues: str,
        name: str,
        settings: str = "deploy.settings",
        pool: str = "prefork",
        concurrency: int | None = 1,
        env: dict[str, str] | None = None,
    ) -> None:
        self.log = workdir / f"{name}.log"
        environment = {
            **os.environ,
            "DJANGO_SETTINGS_MODULE": settings,
            "REDIS_URL": broker.url,
            "DATABASE_URL": database_url(),
            "CONN_MAX_AGE": "0",
            **(env or {}),
        }
        pool_options = [f"--pool={pool}"]
        if concurrency is not None:
            pool_options.append(f"--concurrency={concurrency}")
        with self.log.open("w") as out:
            self.process = subprocess.Popen(  # noqa: S603
                [sys.executable, "-m", "celery", "-A", "deploy", "worker", *pool_options]
                + [f"--queues={queues}"]
                + ["--without-heartbeat", "--without-mingle", "--without-gossip"]
                + ["--loglevel=INFO", f"--hostname={name}-{broker.port}@%h"],
                cwd=ROOT,
                env=environment,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )

    def wait_for(self, predicate: Callable[[], object], what: str, **options) -> None:
        """``wait_for`` that gives up as soon as this worker has exited, showing its log."""
        wait_for(predicate, what, process=self.process, logs=(self.log,), **options)

    def stop(self) -> None:
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait(timeout=30)

    def __enter__(self) -> CeleryWorker:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()


def email_messages(mail_dir: Path) -> list[email.message.Message]:
    """The messages a worker's file e-mail backend wrote (one file per connection)."""
    messages = []
    for path in sorted(mail_dir.iterdir()):
        for chunk in path.read_bytes().split(b"-" * 79):
            if chunk.strip():
                messages.append(email.message_from_bytes(chunk.strip()))
    return messages
