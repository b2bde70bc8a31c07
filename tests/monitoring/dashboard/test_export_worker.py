"""A real Celery worker against a real Redis runs an export job exactly once.

The test starts a private redis-server on a free port (never the shared one) and a worker
subprocess on the test database consuming the ``exports`` queue (tests/processes.py). A
statistician requests an ODM export through the page; the job id reaches the worker after
commit, a duplicate delivery is sent on purpose, and the file the worker wrote is downloaded
and checked against its SHA-256. The job was claimed by one attempt only.
"""

from __future__ import annotations

import hashlib
import time
from pathlib import Path

import pytest
from celery import current_app

from monitoring.dashboard import services
from monitoring.dashboard.models import ExportJob, ExportStatus
from tests.processes import CeleryWorker, celery_broker
from tests.trial import factories as f

pytestmark = [
    pytest.mark.redis,
    pytest.mark.postgres,
    pytest.mark.integration,
    pytest.mark.django_db(transaction=True),
]


@pytest.fixture
def broker(tmp_path):
    with celery_broker(tmp_path) as server:
        yield server


@pytest.fixture
def media(settings, tmp_path):
    settings.MEDIA_ROOT = str(tmp_path / "media")
    return Path(settings.MEDIA_ROOT)


@pytest.fixture
def worker(broker, media, tmp_path):
    with CeleryWorker(
        broker=broker,
        workdir=tmp_path,
        queues=services.EXPORT_QUEUE,
        name="exports",
        concurrency=2,
        env={"MEDIA_ROOT": str(media)},
    ) as worker:
        yield worker


def test_a_worker_runs_an_export_job_once(
    client, statistician, investigator_a, site_a, pada1, today, worker, media
):
    for number in ("S001", "S002", "S003"):
        f.enrolled(by=investigator_a, site=site_a, version=pada1, today=today, number=number)
    client.force_login(statistician)
    response = client.post("/dashboard/exports/jobs/", {"kind": "odm", "protocol": "PADA1"})
    assert response.status_code == 302
    job = ExportJob.objects.get()
    current_app.send_task(services.RUN_TASK, args=[job.pk], queue=services.EXPORT_QUEUE)

    def finished() -> bool:
        job.refresh_from_db()
        return job.status in (ExportStatus.DONE, ExportStatus.FAILED)

    worker.wait_for(finished, "the export job")
    assert job.status == ExportStatus.DONE, job.error
    time.sleep(1)  # let the duplicate delivery reach the worker and find the job claimed
    job.refresh_from_db()
    assert job.attempts == 1
    content = (media / "exports" / job.file_path).read_bytes()
    assert hashlib.sha256(content).hexdigest() == job.sha256
    download = client.get(f"/dashboard/exports/jobs/{job.pk}/file/")
    assert b"".join(download.streaming_content) == content
    assert b"PADA1-FR01-0003" in content
