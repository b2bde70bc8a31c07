"""Celery tasks of ctDNA monitoring: each takes ids or nothing, calls one service, is idempotent."""

from __future__ import annotations

from celery import shared_task
from django.db import OperationalError

from monitoring.services.outbox import outbox_drain, outbox_process


@shared_task(
    acks_late=True,
    ignore_result=True,
    autoretry_for=(OperationalError,),
    retry_backoff=True,
    max_retries=5,
)
def process_outbox_task(outbox_id: int) -> bool:
    """Open the Step 2 trigger of one outbox row and send the site's notice; a re-run finds
    the row claimed and sends only a notice still owed (a worker killed while sending it)."""
    return outbox_process(outbox_id=outbox_id).processed


@shared_task(acks_late=True, ignore_result=True)
def outbox_drain_task() -> int:
    """Beat, every 60 s: process outbox rows whose after-commit enqueue was lost, and send
    the notices still owed."""
    return outbox_drain()
