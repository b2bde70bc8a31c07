"""A real Celery worker against a real Redis: reminders go out exactly once when the daily
job is enqueued twice at the same time, and a later re-run sends nothing.

The test starts a private redis-server on a free port (never the shared one) and a prefork
worker with two processes on the test database, consuming a queue of its own; the worker
writes e-mail to files so that deliveries can be counted across processes.
"""

from __future__ import annotations

from collections import Counter

import pytest
import redis
from django.utils import timezone

from tests.processes import CeleryWorker, celery_broker, email_messages
from tests.trial import factories as f
from trial.models import AuditEvent, ItemStatus, ScheduleItem
from trial.tasks import schedule_daily_task

pytestmark = [
    pytest.mark.redis,
    pytest.mark.postgres,
    pytest.mark.integration,
    pytest.mark.django_db(transaction=True),
]

QUEUE = "schedule-daily-test"


@pytest.fixture
def broker(tmp_path):
    with celery_broker(tmp_path) as server:
        yield server


@pytest.fixture
def mail_dir(tmp_path):
    path = tmp_path / "mail"
    path.mkdir()
    return path


@pytest.fixture
def worker(broker, mail_dir, tmp_path):
    with CeleryWorker(
        broker=broker,
        workdir=tmp_path,
        queues=QUEUE,
        name="schedule-daily",
        settings="tests.trial.step1.worker_settings",
        concurrency=2,
        env={"TRIAL_TEST_EMAIL_DIR": str(mail_dir)},
    ) as worker:
        yield worker


def _runs() -> int:
    return AuditEvent.objects.filter(action="schedule_daily_run").count()


def _drained(client: redis.Redis) -> bool:
    return client.llen(QUEUE) == 0 and client.hlen("unacked") == 0


def test_concurrent_daily_jobs_send_each_reminder_exactly_once(
    broker, worker, mail_dir, investigator_a, coordinator_a, investigator_b, site_a, site_b, pada1
):
    client = broker.client()
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
    worker.wait_for(lambda: _runs() >= 2, "both runs")
    worker.wait_for(lambda: _drained(client), "the queue to drain")

    messages = email_messages(mail_dir)
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
    worker.wait_for(lambda: _runs() >= 3, "the third run")
    worker.wait_for(lambda: _drained(client), "the queue to drain")
    assert len(email_messages(mail_dir)) == sent
