"""Celery tasks of the central-monitoring exports (queue ``exports``)."""

from __future__ import annotations

from celery import shared_task
from django.db import OperationalError

from .services import export_job_run
from .snapshots import snapshots_refresh


@shared_task(
    name="monitoring.dashboard.tasks.export_run_task",
    acks_late=True,
    ignore_result=True,
    autoretry_for=(OperationalError,),
    retry_backoff=True,
    max_retries=5,
)
def export_run_task(job_id: int) -> bool:
    """Write one export job's file; a re-delivery finds the job claimed and does nothing."""
    return export_job_run(job_id=job_id)


@shared_task(name="monitoring.dashboard.tasks.dashboard_snapshots_refresh_task", ignore_result=True)
def dashboard_snapshots_refresh_task() -> int:
    """Beat, every minute: refresh the heavy dashboard pages' default snapshots older than half
    ``DASHBOARD_SNAPSHOT_MAX_AGE`` for every access scope in use; a concurrent run is skipped.
    Returns how many snapshots were computed."""
    return snapshots_refresh().refreshed
