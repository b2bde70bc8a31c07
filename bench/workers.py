"""Celery workers' memory: a day's jobs at 50k patients, and a full export at 50k patients.

A real worker (``celery -A deploy worker``, solo pool: the worker process runs the tasks, so
its VmHWM is the peak) is started with the bench environment for each measurement:

- the day: the beat schedule's daily tasks (expired Step 2 windows, the outbox drain, the
  schedule job) sent by name; the database is in yesterday's state (the schedule benchmark
  puts it back), so the schedule job does a whole day's work. Done when the job's audit event
  is written and the queues are empty;
- the export: a fresh worker on the ``exports`` queue, and the full CDISC ODM export (every
  patient, with audit records) requested through ``export_job_request`` by a data manager.
  Done when the job is done or failed.

Each waits at most a time limit; a worker still busy then is reported with its peak so far.
"""

from __future__ import annotations

import signal
import subprocess  # noqa: S404 - starts celery from our own virtualenv
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from .server import peak_rss_mib

ROOT = Path(__file__).resolve().parent.parent
MB_PER_MIB = 1.048576
DAILY_TASKS = (
    "trial.tasks.step2_expire_windows_task",
    "monitoring.tasks.outbox_drain_task",
    "trial.tasks.schedule_daily_task",
)


@dataclass(frozen=True)
class WorkerRun:
    what: str
    seconds: float
    peak_rss_mb: float
    finished: bool
    limit_s: float
    detail: str


def _start_worker(env: dict[str, str], queues: str, log_path: Path) -> subprocess.Popen:
    command = [
        str(Path(sys.executable).with_name("celery")),
        "-A",
        "deploy",
        "worker",
        "--pool=solo",
        f"--queues={queues}",
        "--without-heartbeat",
        "--without-gossip",
        "--without-mingle",
        "--loglevel=WARNING",
    ]
    log = log_path.open("wb")
    return subprocess.Popen(  # noqa: S603 - our virtualenv's celery, arguments built here
        command, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT
    )


def _stop(process: subprocess.Popen) -> None:
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)


def _measure(
    *,
    what: str,
    env: dict[str, str],
    queues: str,
    log_path: Path,
    start: Callable[[], None],
    done: Callable[[], str | None],
    limit_s: float,
) -> WorkerRun:
    """Start a worker, ``start`` the work, poll ``done`` (a detail string once finished) until
    ``limit_s``, and read the worker's peak RSS before stopping it."""
    process = _start_worker(env, queues, log_path)
    try:
        started = time.monotonic()
        start()
        detail = None
        while detail is None and time.monotonic() - started < limit_s:
            if process.poll() is not None:
                raise RuntimeError(f"the celery worker exited; see {log_path}")
            time.sleep(0.5)
            detail = done()
        seconds = time.monotonic() - started
        peak = peak_rss_mib(process.pid) * MB_PER_MIB
    finally:
        _stop(process)
    return WorkerRun(
        what=what,
        seconds=seconds,
        peak_rss_mb=peak,
        finished=detail is not None,
        limit_s=limit_s,
        detail=detail or "still running at the limit",
    )


def _queues_empty(redis_url: str, queues: tuple[str, ...]) -> bool:
    import redis

    client = redis.Redis.from_url(redis_url)
    return all(client.llen(q) == 0 for q in queues) and not client.hlen("unacked")


def bench_day_worker(*, env: dict[str, str], work_dir: Path, limit_s: float) -> WorkerRun:
    from deploy.celery import app
    from trial.models import AuditEvent

    runs_before = AuditEvent.objects.filter(action="schedule_daily_run").count()

    def start() -> None:
        for name in DAILY_TASKS:
            app.send_task(name)

    def done() -> str | None:
        event = AuditEvent.objects.filter(action="schedule_daily_run").order_by("-pk").first()
        runs = AuditEvent.objects.filter(action="schedule_daily_run").count()
        if runs > runs_before and _queues_empty(env["REDIS_URL"], ("default", "reminders", "lab")):
            handled = {k: v for k, v in event.details.items() if k != "today"} if event else {}
            return ", ".join(f"{k.replace('_', ' ')} {v:,}" for k, v in handled.items())
        return None

    return _measure(
        what="a day's jobs",
        env=env,
        queues="default,reminders,lab",
        log_path=work_dir / "celery-day.log",
        start=start,
        done=done,
        limit_s=limit_s,
    )


def bench_export_worker(*, env: dict[str, str], work_dir: Path, limit_s: float) -> WorkerRun:
    from django.contrib.auth import get_user_model
    from django.http import QueryDict

    from monitoring.dashboard.filters import parse_filters
    from monitoring.dashboard.models import ExportJob, ExportKind, ExportStatus
    from monitoring.dashboard.services import export_job_request
    from trial.models import Role, StaffProfile

    user = get_user_model().objects.create_user(username="bench.export.dm", is_staff=True)
    StaffProfile.objects.create(user=user, role=Role.DATA_MANAGER, language="en")
    job: list[ExportJob] = []

    def start() -> None:
        filters = parse_filters(QueryDict(""), user=user)
        job.append(export_job_request(user=user, kind=ExportKind.ODM, filters=filters))

    def done() -> str | None:
        current = ExportJob.objects.get(pk=job[0].pk)
        if current.status == ExportStatus.DONE:
            return f"{current.rows_done:,} rows, {current.size_bytes / 1e6:,.0f} MB written"
        if current.status == ExportStatus.FAILED:
            return f"failed: {current.error}"
        return None

    return _measure(
        what="a full ODM export",
        env=env,
        queues="exports",
        log_path=work_dir / "celery-export.log",
        start=start,
        done=done,
        limit_s=limit_s,
    )
