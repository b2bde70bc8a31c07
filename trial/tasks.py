"""Celery tasks of the trial app: each takes ids or nothing, calls one service, is idempotent."""

from __future__ import annotations

from celery import shared_task
from django.utils import timezone

from trial.services.step2 import step2_expire_windows


@shared_task(acks_late=True, ignore_result=True)
def step2_expire_windows_task() -> int:
    return step2_expire_windows(today=timezone.localdate())
