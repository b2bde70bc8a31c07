"""Real processes for the crash tests: a private redis-server, Celery workers that can be
killed, and a PostgreSQL session that holds a row lock to stop a worker mid-transaction.

Never the shared Redis on 6379: each test starts its own server on a free port. Processes are
ended by their own ids (or the process group the worker was started in), never by name.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import psycopg
import pytest
import redis
from django.db import connection

ROOT = Path(__file__).resolve().parents[2]
DEADLINE_S = 120


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_for(predicate: Callable[[], object], what: str, *, logs: tuple[Path, ...] = ()) -> None:
    deadline = time.monotonic() + DEADLINE_S
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.1)
    tails = "\n".join(f"--- {log}\n{log.read_text()[-3000:]}" for log in logs if log.exists())
    pytest.fail(f"gave up waiting for {what}\n{tails}")


class RedisServer:
    def __init__(self, workdir: Path) -> None:
        self.port = free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        binary = shutil.which("redis-server")
        if binary is None:
            pytest.fail("redis-server is required for the worker crash tests")
        self.process = subprocess.Popen(  # noqa: S603
            [binary, "--port", str(self.port), "--bind", "127.0.0.1", "--save", ""]
            + ["--appendonly", "no"],
            cwd=workdir,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        wait_for(self._up, "redis-server to start")

    def client(self) -> redis.Redis:
        return redis.Redis.from_url(self.url, socket_connect_timeout=1)

    def _up(self) -> bool:
        try:
            return bool(self.client().ping())
        except redis.RedisError:
            return False

    def stop(self) -> None:
        self.process.terminate()
        self.process.wait(timeout=30)


def database_url() -> str:
    db = connection.settings_dict
    host, port = db["HOST"] or "127.0.0.1", db["PORT"] or 5432
    return f"postgresql://{db['USER']}@{host}:{port}/{db['NAME']}"


class Worker:
    """``celery worker --pool=prefork --concurrency=1`` on the test database and a private
    broker, in its own process group so that the whole worker can be killed at once."""

    def __init__(self, *, broker: RedisServer, workdir: Path, queues: str, name: str, **env):
        self.markers = workdir / "markers"
        self.mail = workdir / "mail"
        self.markers.mkdir(exist_ok=True)
        self.mail.mkdir(exist_ok=True)
        self.log = workdir / f"{name}.log"
        environment = {
            **os.environ,
            "DJANGO_SETTINGS_MODULE": "tests.reliability.worker_settings",
            "REL_MAIL_DIR": str(self.mail),
            "REL_MARKER_DIR": str(self.markers),
            "REDIS_URL": broker.url,
            "DATABASE_URL": database_url(),
            "CONN_MAX_AGE": "0",
            **env,
        }
        with self.log.open("w") as out:
            self.process = subprocess.Popen(  # noqa: S603
                [sys.executable, "-m", "celery", "-A", "deploy", "worker"]
                + ["--pool=prefork", "--concurrency=1", f"--queues={queues}"]
                + ["--without-heartbeat", "--without-mingle", "--without-gossip"]
                + ["--loglevel=INFO", f"--hostname={name}-{broker.port}@%h"],
                cwd=ROOT,
                env=environment,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )

    def starts(self, task_id: str) -> list[int]:
        """Pool processes that started the task, in no particular order."""
        return [
            int(path.name.rsplit("-", 1)[1]) for path in self.markers.glob(f"start-*-{task_id}-*")
        ]

    def kill_pool_process(self, pid: int) -> None:
        """SIGKILL one prefork pool process; the worker's main process stays up."""
        assert pid != self.process.pid
        os.kill(pid, signal.SIGKILL)

    def kill_everything(self) -> None:
        """SIGKILL the main process and its pool at once, as a lost node would."""
        os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait(timeout=30)

    def stop(self) -> None:
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait(timeout=30)


class RowLock:
    """A separate PostgreSQL session holding ``SELECT ... FOR UPDATE`` on one row, so that a
    worker's transaction waits at a known point until the test releases it; and a second,
    autocommit session that watches (a session inside a transaction keeps seeing the same
    pg_stat_activity snapshot)."""

    def __init__(self, table: str, pk: int) -> None:
        self.holder = psycopg.connect(database_url())
        self.holder.execute(f"SELECT 1 FROM {table} WHERE id = %s FOR UPDATE", [pk])  # noqa: S608
        self.pid = self.holder.info.backend_pid
        self.watcher = psycopg.connect(database_url(), autocommit=True)

    def waiting(self, statement_prefix: str) -> list[str]:
        """Statements of the sessions waiting on this lock that start with the prefix."""
        rows = self.watcher.execute(
            "SELECT query FROM pg_stat_activity WHERE %s = ANY(pg_blocking_pids(pid))",
            [self.pid],
        ).fetchall()
        return [query for (query,) in rows if query.lstrip().startswith(statement_prefix)]

    def row_is_locked(self, table: str, pk: int) -> bool:
        """Whether another session holds a lock on the row (here: an uncommitted claim)."""
        try:
            with self.watcher.transaction():
                self.watcher.execute(
                    f"SELECT 1 FROM {table} WHERE id = %s FOR UPDATE NOWAIT",  # noqa: S608
                    [pk],
                )
        except psycopg.errors.LockNotAvailable:
            return True
        return False

    def release(self) -> None:
        """Idempotent: also run at the test's teardown, before the database is flushed."""
        for conn in (self.holder, self.watcher):
            if not conn.closed:
                conn.rollback()
                conn.close()
