"""A real Celery worker against a real Redis: reminders go out exactly once when the daily
job is enqueued twice at the same time, and a later re-run sends nothing.

The test starts a private redis-server on a free port (never the shared one) and a prefork
worker with two processes on the test database, consuming a queue of its own; the worker
writes e-mail to files so that deliveries can be counted across processes.
"""

from __future__ import annotations

import email
import os
import shutil
import socket
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import pytest
import redis
from celery import current_app
from django.db import connection
from django.utils import timezone

from tests.trial import factories as f
from trial.models import AuditEvent, ItemStatus, ScheduleItem
from trial.tasks import schedule_daily_task

pytestmark = [
    pytest.mark.redis,
    pytest.mark.postgres,
    pytest.mark.integration,
    pytest.mark.django_db(transaction=True),
]

ROOT = Path(__file__).resolve().parents[3]
DEADLINE_S = 120
QUEUE = "schedule-daily-test"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _wait_for(predicate, what: str, process: subprocess.Popen, log: Path) -> None:
    deadline = time.monotonic() + DEADLINE_S
    while time.monotonic() < deadline:
        if predicate():
            return
        if process.poll() is not None:
            break
        time.sleep(0.2)
    pytest.fail(f"gave up waiting for {what}\n{log.read_text()[-4000:] if log.exists() else ''}")


@pytest.fixture
def broker(tmp_path):
    binary = shutil.which("redis-server")
    if binary is None:
        pytest.fail("redis-server is required for this integration test")
    port = _free_port()
    process = subprocess.Popen(  # noqa: S603
        [binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"],
        cwd=tmp_path,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"redis://127.0.0.1:{port}/0"
    client = redis.Redis.from_url(url, socket_connect_timeout=1)
    deadline = time.monotonic() + DEADLINE_S
    while True:
        try:
            if client.ping():
                break
        except redis.RedisError:
            if time.monotonic() > deadline:
                pytest.fail("redis-server did not start")
            time.sleep(0.1)
    app = current_app._get_current_object()
    previous = app.conf.broker_url
    app.conf.broker_url = url
    app._after_fork()  # drop pooled connections to the previous broker
    yield client, url
    app.conf.broker_url = previous
    app._after_fork()
    process.terminate()
    process.wait(timeout=30)


@pytest.fixture
def mail_dir(tmp_path):
    path = tmp_path / "mail"
    path.mkdir()
    return path


@pytest.fixture
def worker(broker, mail_dir, tmp_path):
    _, url = broker
    db = connection.settings_dict
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "tests.trial.step1.worker_settings",
        "TRIAL_TEST_EMAIL_DIR": str(mail_dir),
        "REDIS_URL": url,
        "DATABASE_URL": (
            f"postgresql://{db['USER']}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/{db['NAME']}"
        ),
        "CONN_MAX_AGE": "0",
    }
    log = tmp_path / "worker.log"
    with log.open("w") as out:
        process = subprocess.Popen(  # noqa: S603
            [
                sys.executable,
                "-m",
                "celery",
                "-A",
                "deploy",
                "worker",
                "--pool=prefork",
                "--concurrency=2",
                f"--queues={QUEUE}",
                "--without-heartbeat",
                "--without-mingle",
                "--without-gossip",
                "--loglevel=INFO",
                f"--hostname=schedule-daily-{os.getpid()}@%h",
            ],
            cwd=ROOT,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    process.log = log  # type: ignore[attr-defined]
    yield process
    process.terminate()
    try:
        process.wait(timeout=30)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(timeout=30)


def _messages(mail_dir: Path) -> list[email.message.Message]:
    messages = []
    for path in sorted(mail_dir.iterdir()):
        for chunk in path.read_bytes().split(b"-" * 79):
            if chunk.strip():
                messages.append(email.message_from_bytes(chunk.strip()))
    return messages


def _runs() -> int:
    return AuditEvent.objects.filter(action="schedule_daily_run").count()


def _drained(client: redis.Redis) -> bool:
    return client.llen(QUEUE) == 0 and client.hlen("unacked") == 0


def test_concurrent_daily_jobs_send_each_reminder_exactly_once(
    broker, worker, mail_dir, investigator_a, coordinator_a, investigator_b, site_a, site_b, pada1
):
    client, _ = broker
    for user in (investigator_a, coordinator_a, investigator_b):
        user.email = f"{user.username}@example.org"
        user.save(update_fields=["email"])
    today = timezone.localdate()
    patients = [
        f.enrolled(by=investigator_a, site=site_a, version=pada1, today=today, number=f"A{n}")
        for n in range(4)
    ] + [
        f.enrolled(by=investigator_b, site=site_b, version=pada1, today=today, number=f"B{n}")
        for n in range(3)
    ]
    due = ScheduleItem.objects.filter(status=ItemStatus.DUE, remind_from__lte=today)
    expected = {(str(item.patient), item.key.split(":", 1)[1], item.kind) for item in due}
    assert len(expected) == 3 * len(patients)  # baseline count, ctDNA and QoL of each patient

    # Twice at once, as two beats or a beat and a manual run would.
    schedule_daily_task.apply_async(queue=QUEUE)
    schedule_daily_task.apply_async(queue=QUEUE)
    _wait_for(lambda: _runs() >= 2, "both runs", worker, worker.log)
    _wait_for(lambda: _drained(client), "the queue to drain", worker, worker.log)

    messages = _messages(mail_dir)
    lines = Counter(
        line
        for message in messages
        for line in message.get_payload(decode=True).decode().splitlines()
        if line.startswith("- ")
    )
    assert sum(lines.values()) == len(expected), lines
    assert set(lines.values()) == {1}
    for message in messages:
        recipients = {address.strip() for address in message["To"].split(",")}
        site = "FR01" if "FR01" in message["Subject"] else "FR02"
        assert recipients == (
            {"inv_a@example.org", "coord_a@example.org"}
            if site == "FR01"
            else {"inv_b@example.org"}
        )
    reminded = Counter(
        AuditEvent.objects.filter(action="schedule_reminder_due").values_list(
            "object_id", flat=True
        )
    )
    assert len(reminded) == len(expected) and set(reminded.values()) == {1}
    assert not due.filter(reminded_due_at__isnull=True).exists()
    runs = AuditEvent.objects.filter(action="schedule_daily_run")
    assert sum(run.details["due_reminders"] for run in runs) == len(expected)

    # A third run later: nothing left to send.
    sent = len(messages)
    schedule_daily_task.apply_async(queue=QUEUE)
    _wait_for(lambda: _runs() >= 3, "the third run", worker, worker.log)
    _wait_for(lambda: _drained(client), "the queue to drain", worker, worker.log)
    assert len(_messages(mail_dir)) == sent
