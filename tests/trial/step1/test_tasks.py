"""The daily schedule task: wired into the beat schedule, acknowledged late, idempotent."""

from __future__ import annotations

import pytest

from deploy.celery import app
from trial.models import AuditEvent
from trial.tasks import schedule_daily_task

from .conftest import T0

pytestmark = pytest.mark.django_db


def test_beat_runs_the_task_twice_a_day():
    entries = [e for e in app.conf.beat_schedule.values() if e["task"] == schedule_daily_task.name]
    assert len(entries) == 2
    assert schedule_daily_task.name == "trial.tasks.schedule_daily_task"
    assert schedule_daily_task.acks_late is True
    assert OSError in schedule_daily_task.autoretry_for


def test_task_body_runs_for_today_and_records_the_run(clock, clocked_patient):
    first = schedule_daily_task()
    again = schedule_daily_task()
    assert first["due_reminders"] == 3 and again["due_reminders"] == 0
    runs = AuditEvent.objects.filter(action="schedule_daily_run").order_by("at", "pk")
    assert [r.details["today"] for r in runs] == [str(T0), str(T0)]
