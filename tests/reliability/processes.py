"""Real processes for the crash tests: a private redis-server and Celery workers that can be
killed (tests/processes.py), and a PostgreSQL session that holds a row lock to stop a worker
mid-transaction.

Never the shared Redis on 6379: each test starts its own server on a free port. Processes are
ended by their own ids (or the process group the worker was started in), never by name.
"""

from __future__ import annotations

import os
import signal
from pathlib import Path

import psycopg

from tests.processes import CeleryWorker, RedisServer, database_url, wait_for

__all__ = ["RedisServer", "RowLock", "Worker", "wait_for"]


class Worker(CeleryWorker):
    """``celery worker --pool=prefork --concurrency=1`` with the crash tests' settings: e-mail
    and task start markers written to files, so that deliveries and redeliveries can be
    counted across processes."""

    def __init__(self, *, broker: RedisServer, workdir: Path, queues: str, name: str, **env):
        self.markers = workdir / "markers"
        self.mail = workdir / "mail"
        self.markers.mkdir(exist_ok=True)
        self.mail.mkdir(exist_ok=True)
        super().__init__(
            broker=broker,
            workdir=workdir,
            queues=queues,
            name=name,
            settings="tests.reliability.worker_settings",
            env={"REL_MAIL_DIR": str(self.mail), "REL_MARKER_DIR": str(self.markers), **env},
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
