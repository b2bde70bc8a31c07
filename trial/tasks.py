"""Celery tasks of the trial app: each takes ids or nothing, calls one service, is idempotent."""

from __future__ import annotations

from smtplib import SMTPException

from celery import shared_task
from django.utils import timezone

from trial.services.schedule import schedule_daily
from trial.services.step2 import step2_expire_windows


@shared_task(acks_late=True, ignore_result=True)
def step2_expire_windows_task() -> int:
    return step2_expire_windows(today=timezone.localdate())


@shared_task(
    acks_late=True,
    ignore_result=True,
    autoretry_for=(OSError, SMTPException),
    retry_backoff=60,
    retry_backoff_max=3600,
    max_retries=5,
)
def schedule_daily_task() -> dict[str, int]:
    """Mark schedule items due / overdue / missed and send the reminders (beat: 06:00 and
    12:00). Idempotent: a second, concurrent or retried run claims nothing twice; a failed
    e-mail gives its claims back and the task retries with backoff."""
    return vars(schedule_daily(today=timezone.localdate()))
