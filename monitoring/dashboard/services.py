"""Exports: streamed downloads and background export jobs, every one audited.

- :func:`export_stream_open`: a direct download (CSV of one domain, or ODM), streamed to the
  browser; the export is recorded as an audit event before the first byte is sent.
- :func:`export_job_request`: a background export. The job row and its audit event commit
  together; the job id is sent to the ``exports`` queue after commit (a broker failure marks the
  job failed so the page says so, nothing waits forever).
- :func:`export_job_run` (the Celery task's body): claims the job with a conditional UPDATE
  (idempotent: a second delivery finds it claimed; a job whose worker died is reclaimed once its
  heartbeat is older than ``STALE_AFTER``), re-checks the requester's role and sites, writes the
  file under ``MEDIA_ROOT/exports`` with its SHA-256, reports progress, and records the
  completion as an audit event.

Export jobs are bookkeeping rows without history (see ``models``): their claim, heartbeat and
completion are conditional UPDATEs by design.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import logging
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from celery import current_app
from django.conf import settings
from django.db import OperationalError, transaction
from django.db.models import F, Q
from django.utils import timezone

from trial.exceptions import DomainError
from trial.selectors.access import User, profile_of, sites_visible_to
from trial.services.audit import audit_event_record

from .access import masks_arms, require_export
from .exceptions import ExportForbidden, ExportNotReady, ExportUnknown
from .exports import streams
from .filters import DashboardFilters, parse_filters
from .models import ExportJob, ExportStatus

logger = logging.getLogger("monitoring.dashboard.exports")

RUN_TASK = "monitoring.dashboard.tasks.export_run_task"
EXPORT_QUEUE = "exports"
STALE_AFTER = dt.timedelta(minutes=10)
PROGRESS_EVERY_ROWS = 1000


def export_dir() -> Path:
    return Path(settings.MEDIA_ROOT) / "exports"


def _scope(user: User | None) -> dict[str, Any]:
    profile = profile_of(user)
    site_ids = getattr(profile, "site_ids", frozenset())
    central = profile is not None and not profile.is_site_staff
    return {
        "role": profile.role if profile else None,
        "sites": "all"
        if central
        else sorted(sites_visible_to(user).filter(pk__in=site_ids).values_list("code", flat=True)),
        "arms_masked": masks_arms(user),
    }


@dataclass(frozen=True)
class OpenedExport:
    spec: streams.ExportSpec
    chunks: Iterator[str]


def export_stream_open(*, user: User | None, kind: str, filters: DashboardFilters) -> OpenedExport:
    """Audit, then open a streamed export. Errors: export_forbidden."""
    require_export(user, kind)
    spec = streams.spec(kind, filters)
    with transaction.atomic(durable=True):
        audit_event_record(
            action="export_streamed",
            actor=user,
            details={
                "export": kind,
                "filters": filters.as_dict(),
                "file": spec.filename,
                **_scope(user),
            },
        )
    return OpenedExport(spec, streams.chunks(kind, user, filters, mask=masks_arms(user)))


def _send(job_id: int) -> None:
    try:
        current_app.send_task(RUN_TASK, args=[job_id], queue=EXPORT_QUEUE, retry=False)
    except Exception as error:  # the broker is down: say so on the page instead of waiting
        logger.exception("export job %s could not be queued", job_id)
        ExportJob.objects.filter(pk=job_id, status=ExportStatus.QUEUED).update(
            status=ExportStatus.FAILED,
            error=f"could not be queued: {type(error).__name__}",
            finished_at=timezone.now(),
        )


def export_job_request(*, user: User | None, kind: str, filters: DashboardFilters) -> ExportJob:
    """Record a background export and queue it after commit. Errors: export_forbidden."""
    require_export(user, kind)
    with transaction.atomic(durable=True):
        job = ExportJob.objects.create(
            requested_by=user, kind=kind, filters=filters.as_dict(), scope=_scope(user)
        )
        audit_event_record(
            action="export_requested",
            actor=user,
            obj=job,
            details={"export": kind, "filters": job.filters, **job.scope},
        )
        transaction.on_commit(lambda: _send(job.pk))
    return job


def export_job_get(*, user: User | None, job_id: int) -> ExportJob:
    """One of the user's own export jobs (another user's job is "not found")."""
    job = ExportJob.objects.filter(pk=job_id, requested_by_id=getattr(user, "pk", None)).first()
    if job is None or profile_of(user) is None:
        raise ExportUnknown()
    return job


def export_job_list(*, user: User | None, limit: int = 20) -> list[ExportJob]:
    return list(
        ExportJob.objects.filter(requested_by_id=getattr(user, "pk", None)).order_by(
            "-created_at", "-pk"
        )[:limit]
    )


def export_job_file(*, user: User | None, job_id: int) -> tuple[ExportJob, Path]:
    """The finished file of the user's job, audited as downloaded.
    Errors: unknown_export, export_forbidden, export_not_ready."""
    job = export_job_get(user=user, job_id=job_id)
    require_export(user, job.kind)
    path = export_dir() / job.file_path
    if job.status != ExportStatus.DONE or not path.is_file():
        raise ExportNotReady(details={"status": job.status})
    with transaction.atomic(durable=True):
        audit_event_record(
            action="export_downloaded",
            actor=user,
            obj=job,
            details={"export": job.kind, "sha256": job.sha256, "file": job.file_name},
        )
    return job, path


# --- the worker side -----------------------------------------------------------------------


def _claim(job_id: int, now: dt.datetime) -> bool:
    # Conditional UPDATE: exactly one worker runs a job; a dead worker's job is reclaimed
    # once its heartbeat is stale.
    claimable = Q(status=ExportStatus.QUEUED) | Q(
        status=ExportStatus.RUNNING, heartbeat_at__lt=now - STALE_AFTER
    )
    return (
        ExportJob.objects.filter(claimable, pk=job_id).update(
            status=ExportStatus.RUNNING,
            started_at=now,
            heartbeat_at=now,
            rows_done=0,
            rows_total=None,
            attempts=F("attempts") + 1,
        )
        == 1
    )


def _running(job_id: int):
    return ExportJob.objects.filter(pk=job_id, status=ExportStatus.RUNNING)


def _fail(job: ExportJob, reason: str, details: dict[str, Any]) -> None:
    _running(job.pk).update(status=ExportStatus.FAILED, error=reason, finished_at=timezone.now())
    with transaction.atomic(durable=True):
        audit_event_record(
            action="export_failed",
            actor=job.requested_by,
            obj=job,
            details={"export": job.kind, "error": reason, **details},
        )


@dataclass(frozen=True)
class _Written:
    file_name: str
    relative_path: str
    sha256: str
    size_bytes: int
    rows: int


def _write(job: ExportJob, filters: DashboardFilters) -> _Written:
    """Write the export to a temporary file renamed into place once complete."""
    user = job.requested_by
    mask = masks_arms(user)
    total = streams.count_rows(job.kind, user, filters, mask=mask)
    _running(job.pk).update(rows_total=total)
    spec = streams.spec(job.kind, filters)
    directory = export_dir()
    directory.mkdir(parents=True, exist_ok=True)
    relative = f"{job.pk}-{spec.filename}"
    temporary = directory / f".{relative}.part"
    digest = hashlib.sha256()
    state = {"rows": 0, "reported": 0, "bytes": 0}

    def progress(rows: int) -> None:
        state["rows"] = rows
        if rows - state["reported"] >= PROGRESS_EVERY_ROWS:
            state["reported"] = rows
            _running(job.pk).update(rows_done=min(rows, total), heartbeat_at=timezone.now())

    try:
        with open(temporary, "wb") as handle:
            for chunk in streams.chunks(job.kind, user, filters, mask=mask, progress=progress):
                data = chunk.encode("utf-8")
                digest.update(data)
                state["bytes"] += len(data)
                handle.write(data)
        os.replace(temporary, directory / relative)
    finally:
        temporary.unlink(missing_ok=True)
    return _Written(spec.filename, relative, digest.hexdigest(), state["bytes"], state["rows"])


def export_job_run(*, job_id: int) -> bool:
    """Run one export job; False when it was not claimable (done, failed, or running)."""
    now = timezone.now()
    if not _claim(job_id, now):
        return False
    job = ExportJob.objects.select_related("requested_by").get(pk=job_id)
    user = job.requested_by
    try:
        require_export(user, job.kind)
        filters = parse_filters(job.filters, user=user)
        written = _write(job, filters)
    except (ExportForbidden, DomainError) as error:
        _fail(job, getattr(error, "code", "error"), {"message": str(error)})
        return True
    except OperationalError:
        # A transient database error: give the job back so the task's retry can claim it.
        _running(job_id).update(status=ExportStatus.QUEUED)
        raise
    except Exception as error:
        logger.exception("export job %s failed", job_id)
        _fail(job, "internal_error", {"type": type(error).__name__})
        return True
    finished = timezone.now()
    updated = _running(job_id).update(
        status=ExportStatus.DONE,
        rows_total=written.rows,
        rows_done=written.rows,
        file_name=written.file_name,
        file_path=written.relative_path,
        sha256=written.sha256,
        size_bytes=written.size_bytes,
        heartbeat_at=finished,
        finished_at=finished,
    )
    if updated:
        with transaction.atomic(durable=True):
            audit_event_record(
                action="export_completed",
                actor=user,
                obj=job,
                details={
                    "export": job.kind,
                    "rows": written.rows,
                    "sha256": written.sha256,
                    "bytes": written.size_bytes,
                },
            )
    return True
