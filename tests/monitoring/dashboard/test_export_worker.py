"""A real Celery worker against a real Redis runs an export job exactly once.

The test starts a private redis-server on a free port (never the shared one; the broker
fixture of the schedule worker test) and a worker subprocess on the test database consuming the ``exports`` queue. A statistician requests an
ODM export through the page; the job id reaches the worker after commit, a duplicate delivery
is sent on purpose, and the file the worker wrote is downloaded and checked against its
SHA-256. The job was claimed by one attempt only.
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
from celery import current_app
from django.db import connection

from monitoring.dashboard import services
from monitoring.dashboard.models import ExportJob, ExportStatus
from tests.trial import factories as f
from tests.trial.step1.test_schedule_worker import _wait_for, broker  # noqa: F401 (fixture)

pytestmark = [
    pytest.mark.redis,
    pytest.mark.postgres,
    pytest.mark.integration,
    pytest.mark.django_db(transaction=True),
]

ROOT = Path(__file__).resolve().parents[3]


@pytest.fixture
def media(settings, tmp_path):
    settings.MEDIA_ROOT = str(tmp_path / "media")
    return Path(settings.MEDIA_ROOT)


@pytest.fixture
def worker(broker, media, tmp_path):  # noqa: F811 (the imported broker fixture)
    _client, url = broker
    db = connection.settings_dict
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "deploy.settings",
        "REDIS_URL": url,
        "MEDIA_ROOT": str(media),
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
                f"--queues={services.EXPORT_QUEUE}",
                "--without-heartbeat",
                "--without-mingle",
                "--without-gossip",
                "--loglevel=INFO",
                f"--hostname=exports-{os.getpid()}@%h",
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

    _wait_for(finished, "the export job", worker, worker.log)
    assert job.status == ExportStatus.DONE, job.error
    time.sleep(1)  # let the duplicate delivery reach the worker and find the job claimed
    job.refresh_from_db()
    assert job.attempts == 1
    content = (media / "exports" / job.file_path).read_bytes()
    assert hashlib.sha256(content).hexdigest() == job.sha256
    download = client.get(f"/dashboard/exports/jobs/{job.pk}/file/")
    assert b"".join(download.streaming_content) == content
    assert b"PADA1-FR01-0003" in content
